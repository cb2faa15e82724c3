"""The fold's output as table rows: one mapping used both to write and to check.

:func:`record_rows`, :func:`profile_row` and :func:`endorsement_row` turn derived views into the
exact rows the tables hold. The writer stores them; :func:`check_materialised` recomputes them
from a fold from scratch and compares, so "the materialised state equals the fold" is checked
against the same definition the writer uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from node.storage.sql import chunks, marks
from protocol.envelope import Event, decode_stored
from protocol.records import URGENCY_RANK
from sync.fold import fold, record_of
from sync.views import EndorsementView, ProfileView, RecordView

__all__ = [
    "RecordRows",
    "check_materialised",
    "endorsement_row",
    "load_events",
    "placements",
    "profile_row",
    "rebuild_materialised",
    "record_rows",
    "write_endorsements",
    "write_profiles",
    "write_records",
]

Row = tuple[Any, ...]


@dataclass(slots=True)
class RecordRows:
    records: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    pledges: list[Row] = field(default_factory=list)
    verifications: list[Row] = field(default_factory=list)

    def add(self, view: RecordView) -> None:
        self.records.append(
            (
                view.id, view.kind, view.org, view.author, view.hlc, view.title, view.region,
                view.urgency, URGENCY_RANK[view.urgency], view.expires, view.needed_by,
                view.state.value, view.pledge_status.value, view.fulfil_status.value,
                view.updated_hlc, int(view.sensitive),
            )
        )  # fmt: skip
        for line in view.lines:
            self.lines.append(
                (
                    view.id, line.index, line.item, line.category, line.unit, line.qty,
                    line.pledged, line.delivered, line.received,
                )
            )  # fmt: skip
        for pledge in view.pledges:
            self.pledges.append(
                (
                    pledge.id, view.id, pledge.line, pledge.org, pledge.author, pledge.hlc,
                    pledge.qty, int(pledge.cancelled), pledge.delivered, pledge.received,
                )
            )  # fmt: skip
        for attestation in view.verifications:
            self.verifications.append(
                (
                    attestation.id, view.id, attestation.org, attestation.author,
                    attestation.hlc, attestation.method,
                )
            )  # fmt: skip


def record_rows(views: Iterable[RecordView]) -> RecordRows:
    rows = RecordRows()
    for view in views:
        rows.add(view)
    return rows


def profile_row(view: ProfileView) -> Row:
    return (
        view.org, view.name, ",".join(view.regions), view.description, view.contact,
        view.org_type, view.event_id, view.hlc,
    )  # fmt: skip


def endorsement_row(view: EndorsementView) -> Row:
    return (
        view.id, view.issuer, view.author, view.subject, view.subject_org, view.name,
        view.level, view.max_depth, view.expires, view.hlc, int(view.effective),
        view.reason.value if view.reason is not None else None, view.revoked_by,
    )  # fmt: skip


async def write_records(
    db: aiosqlite.Connection, record_ids: Sequence[bytes], views: Iterable[RecordView]
) -> None:
    """Replace the materialised rows of ``record_ids`` by those of ``views`` (same records).

    Runs inside the caller's transaction."""
    for chunk in chunks(record_ids):
        placeholders = marks(len(chunk))
        for table in ("record_lines", "pledges", "verifications"):
            await db.execute(f"DELETE FROM {table} WHERE record IN ({placeholders})", chunk)
    rows = record_rows(views)
    await db.executemany(f"INSERT OR REPLACE INTO records VALUES ({marks(16)})", rows.records)
    await db.executemany(f"INSERT INTO record_lines VALUES ({marks(9)})", rows.lines)
    await db.executemany(f"INSERT INTO pledges VALUES ({marks(10)})", rows.pledges)
    await db.executemany(f"INSERT INTO verifications VALUES ({marks(6)})", rows.verifications)


async def write_profiles(db: aiosqlite.Connection, views: Iterable[ProfileView]) -> None:
    """Replace the whole profiles table (profiles are few: one per org)."""
    await db.execute("DELETE FROM profiles")
    await db.executemany(
        f"INSERT INTO profiles VALUES ({marks(8)})", [profile_row(v) for v in views]
    )


async def write_endorsements(db: aiosqlite.Connection, views: Iterable[EndorsementView]) -> None:
    await db.executemany(
        f"INSERT OR REPLACE INTO endorsements VALUES ({marks(13)})",
        [endorsement_row(v) for v in views],
    )


async def load_events(
    db: aiosqlite.Connection, where: str = "", args: Sequence[Any] = ()
) -> list[Event]:
    """Decode stored events (signatures were checked on the way in)."""
    sql = f"SELECT payload, sig FROM events {where}"
    async with db.execute(sql, args) as cursor:
        return [decode_stored(payload, sig) async for payload, sig in cursor]


async def rebuild_materialised(db: aiosqlite.Connection) -> None:
    """Fold every stored event from scratch and rewrite every materialised table.

    Used by the schema migration that introduced the tables, and by repair."""
    events = await load_events(db)
    state = fold(events)
    for table in ("records", "record_lines", "pledges", "verifications", "endorsements"):
        await db.execute(f"DELETE FROM {table}")
    await write_records(db, list(state.records), state.records.values())
    await write_profiles(db, state.profiles.values())
    await write_endorsements(db, state.endorsements.values())
    placed, waiting = placements(events)
    await db.executemany("UPDATE events SET record = ? WHERE id = ?", placed)
    await db.execute("DELETE FROM waiting")
    await db.executemany("INSERT INTO waiting VALUES (?, ?)", waiting)


def placements(events: Sequence[Event]) -> tuple[list[Row], list[Row]]:
    """For a whole event set: ``(record, event id)`` for each event that belongs to a record,
    and ``(missing id, event id)`` for each event still waiting for its ref."""
    by_id = {e.id: e for e in events}
    placed, waiting = [], []
    for event in events:
        place = record_of(event, by_id)
        if isinstance(place, bytes):
            placed.append((place, event.id))
        elif isinstance(place, tuple):
            waiting.append((place[1], event.id))
    return placed, waiting


async def check_materialised(db: aiosqlite.Connection) -> list[str]:
    """Compare every materialised table with a fold from scratch of the stored events.

    Returns human-readable differences; an empty list means consistent."""
    events = await load_events(db)
    state = fold(events)
    expected = record_rows(state.records.values())
    wanted: dict[str, set[Row]] = {
        "records": set(expected.records),
        "record_lines": set(expected.lines),
        "pledges": set(expected.pledges),
        "verifications": set(expected.verifications),
        "profiles": {profile_row(v) for v in state.profiles.values()},
        "endorsements": {endorsement_row(v) for v in state.endorsements.values()},
    }
    problems: list[str] = []
    for table, rows in wanted.items():
        async with db.execute(f"SELECT * FROM {table}") as cursor:
            found = {tuple(row) async for row in cursor}
        missing, extra = rows - found, found - rows
        if missing or extra:
            problems.append(f"{table}: {len(missing)} rows missing, {len(extra)} unexpected")
    placed, waiting = placements(events)
    async with db.execute("SELECT record, id FROM events WHERE record IS NOT NULL") as cursor:
        found_placed = {tuple(row) async for row in cursor}
    async with db.execute("SELECT missing, event FROM waiting") as cursor:
        found_waiting = {tuple(row) async for row in cursor}
    if found_placed != set(placed):
        problems.append("events: record membership differs from the fold")
    if found_waiting != set(waiting):
        problems.append("waiting: refs waited for differ from the fold")
    return problems
