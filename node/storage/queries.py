"""Read queries over the materialised fold: listings, one record with its history, counts.

All functions take the store's read connection (WAL readers never block the writer) and
return plain frozen values, ready for the CLI's tables, its ``--json`` and the local API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import aiosqlite

from protocol import Event, decode_stored
from protocol.codes import Kind
from sync.fold import fold_record
from sync.identity import Identity
from sync.views import LineState, Progress, RecordView, Status

__all__ = [
    "Counts",
    "RecordQuery",
    "RecordSummary",
    "count_everything",
    "list_records",
    "record_history",
    "record_view",
]

MAX_PAGE = 500


class Verified(StrEnum):
    YES = "yes"
    NO = "no"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordQuery:
    """Filters for :func:`list_records`. Unset filters do not restrict.

    ``status`` None lists every status but ``void``. ``region`` matches the code and every
    sub-region (``CN-HB`` matches ``CN-HB-WH``); ``category`` likewise by dotted prefix;
    ``text`` is a case-insensitive substring of the title or any line's item.
    """

    kind: str | None = None
    region: str | None = None
    category: str | None = None
    text: str | None = None
    status: Status | None = None
    pledge_status: Progress | None = None
    fulfil_status: Progress | None = None
    verified: bool | None = None
    org: bytes | None = None
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in (Kind.NEED, Kind.OFFER):
            raise ValueError("kind must be need or offer")
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1…{MAX_PAGE}")
        if self.offset < 0:
            raise ValueError("offset must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSummary:
    id: bytes
    kind: str
    org: bytes | None
    title: str
    region: str
    urgency: str
    expires: int
    needed_by: int | None
    status: Status
    pledge_status: Progress
    fulfil_status: Progress
    updated_hlc: int
    sensitive: bool
    verified_by: tuple[bytes, ...]  # orgs this node accepts as verifiers that attested it
    lines: tuple[LineState, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class Counts:
    events_by_kind: dict[str, int]
    records_by_status: dict[str, int]
    tombstones: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _status_clause(status: Status, now_ms: int, args: list[Any]) -> str:
    if status is Status.OPEN:
        args.append(now_ms)
        return "r.state = 'open' AND r.expires > ?"
    if status is Status.EXPIRED:
        args.append(now_ms)
        return "r.state = 'open' AND r.expires <= ?"
    args.append(status.value)
    return "r.state = ?"


async def list_records(
    db: aiosqlite.Connection, query: RecordQuery, now_ms: int
) -> list[RecordSummary]:
    """Records matching ``query``, most urgent first, then most recently changed."""
    where: list[str] = []
    args: list[Any] = []
    if query.status is not None:
        where.append(_status_clause(query.status, now_ms, args))
    else:
        where.append("r.state != 'void'")
    if query.kind is not None:
        where.append("r.kind = ?")
        args.append(query.kind)
    if query.region is not None:
        where.append("(r.region = ? OR r.region LIKE ? ESCAPE '\\')")
        args += [query.region, _escape_like(query.region) + "-%"]
    if query.org is not None:
        where.append("r.org = ?")
        args.append(query.org)
    if query.pledge_status is not None:
        where.append("r.pledge_status = ?")
        args.append(query.pledge_status.value)
    if query.fulfil_status is not None:
        where.append("r.fulfil_status = ?")
        args.append(query.fulfil_status.value)
    if query.category is not None:
        where.append(
            "EXISTS (SELECT 1 FROM record_lines l WHERE l.record = r.id "
            "AND (l.category = ? OR l.category LIKE ? ESCAPE '\\'))"
        )
        args += [query.category, _escape_like(query.category) + ".%"]
    if query.text is not None:
        pattern = "%" + _escape_like(query.text) + "%"
        where.append(
            "(r.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM record_lines l "
            "WHERE l.record = r.id AND l.item LIKE ? ESCAPE '\\'))"
        )
        args += [pattern, pattern]
    verified_sql = (
        "EXISTS (SELECT 1 FROM verifications v JOIN accepted a ON a.org = v.org "
        "AND a.level = 'verifier' WHERE v.record = r.id)"
    )
    if query.verified is True:
        where.append(verified_sql)
    elif query.verified is False:
        where.append("NOT " + verified_sql)
    # Open records are found by expiry (records_open), then sorted: walking every open record
    # in display order would visit all the expired ones too (docs/storage.md §4).
    hint = "INDEXED BY records_open " if query.status is Status.OPEN else ""
    sql = (
        "SELECT r.id, r.kind, r.org, r.title, r.region, r.urgency, r.expires, r.needed_by, "
        "r.state, r.pledge_status, r.fulfil_status, r.updated_hlc, r.sensitive "
        f"FROM records r {hint}WHERE {' AND '.join(where)} "  # clauses are constants
        "ORDER BY r.urgency_rank, r.updated_hlc DESC, r.id LIMIT ? OFFSET ?"
    )
    args += [query.limit, query.offset]
    async with db.execute(sql, args) as cursor:
        rows = await cursor.fetchall()
    ids = [row[0] for row in rows]
    lines = await _lines(db, ids)
    verifiers = await _verifiers(db, ids)
    summaries = []
    for row in rows:
        state, expires = row[8], row[6]
        status = Status.EXPIRED if state == "open" and expires <= now_ms else Status(state)
        summaries.append(
            RecordSummary(
                id=row[0], kind=row[1], org=row[2], title=row[3], region=row[4],
                urgency=row[5], expires=expires, needed_by=row[7], status=status,
                pledge_status=Progress(row[9]), fulfil_status=Progress(row[10]),
                updated_hlc=row[11], sensitive=bool(row[12]),
                verified_by=tuple(verifiers.get(row[0], ())), lines=tuple(lines.get(row[0], ())),
            )
        )  # fmt: skip
    return summaries


async def _lines(db: aiosqlite.Connection, ids: Sequence[bytes]) -> dict[bytes, list[LineState]]:
    out: dict[bytes, list[LineState]] = {}
    if not ids:
        return out
    sql = (
        "SELECT record, idx, item, category, unit, qty, pledged, delivered, received "
        f"FROM record_lines WHERE record IN ({','.join('?' * len(ids))}) "
        "ORDER BY record, idx"
    )
    async with db.execute(sql, list(ids)) as cursor:
        async for row in cursor:
            out.setdefault(row[0], []).append(
                LineState(
                    index=row[1], item=row[2], category=row[3], unit=row[4], qty=row[5],
                    pledged=row[6], delivered=row[7], received=row[8],
                )
            )  # fmt: skip
    return out


async def _verifiers(db: aiosqlite.Connection, ids: Sequence[bytes]) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    if not ids:
        return out
    sql = (
        "SELECT DISTINCT v.record, v.org FROM verifications v JOIN accepted a "
        "ON a.org = v.org AND a.level = 'verifier' "
        f"WHERE v.record IN ({','.join('?' * len(ids))}) ORDER BY v.record, v.org"
    )
    async with db.execute(sql, list(ids)) as cursor:
        async for record, org in cursor:
            out.setdefault(record, []).append(org)
    return out


async def record_history(db: aiosqlite.Connection, record_id: bytes) -> list[Event]:
    """Every stored event of a record (creation first), ordered by (hlc, id)."""
    async with db.execute(
        "SELECT payload, sig FROM events WHERE record = ? ORDER BY hlc, id", (record_id,)
    ) as cursor:
        return [decode_stored(p, s) async for p, s in cursor]


async def record_view(
    db: aiosqlite.Connection, record_id: bytes, identity: Identity
) -> tuple[RecordView, list[Event]] | None:
    """The full view of one record (re-folded from its events) and its history, or None."""
    history = await record_history(db, record_id)
    create = next((e for e in history if e.id == record_id), None)
    if create is None:
        return None
    related = [e for e in history if e.id != record_id]
    return fold_record(create, related, identity), history


async def count_everything(db: aiosqlite.Connection, now_ms: int) -> Counts:
    async with db.execute("SELECT kind, count(*) FROM events GROUP BY kind") as cursor:
        by_kind = {kind: n async for kind, n in cursor}
    async with db.execute(
        "SELECT CASE WHEN state = 'open' AND expires <= ? THEN 'expired' ELSE state END AS s, "
        "count(*) FROM records GROUP BY s",
        (now_ms,),
    ) as cursor:
        by_status = {status: n async for status, n in cursor}
    async with db.execute("SELECT count(*) FROM tombstones") as cursor:
        row = await cursor.fetchone()
    tombstones = row[0] if row else 0
    return Counts(events_by_kind=by_kind, records_by_status=by_status, tombstones=tombstones)
