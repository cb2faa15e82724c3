"""Per-peer sync state, persisted in the node's database so it survives restarts.

Configured peers (``aidnode peer add URL``) have a row in ``peers``: what happened at the last
attempt and the last success, the error in words, traffic both ways, whether the two event sets
were equal at the end of the last round (``in_sync``), and the current backoff. Nodes that
connect to us without being configured appear in ``inbound``, with what they sent and what we
refused from them, so a hostile node's misbehaviour is visible either way.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import aiosqlite

from node.errors import ConfigError
from node.storage import Store

__all__ = [
    "BACKOFF_BASE_MS",
    "BACKOFF_CAP_MS",
    "InboundLedger",
    "InboundState",
    "PeerState",
    "RoundReport",
    "add_peer",
    "inbound_states",
    "next_backoff_ms",
    "normalise_url",
    "peer_states",
    "record_round",
    "remove_peer",
]

BACKOFF_BASE_MS = 1_000
BACKOFF_CAP_MS = 5 * 60_000


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerState:
    """One configured peer's sync state, as plain data (for ``aidnode status`` and the API)."""

    url: str
    node_key: bytes | None
    org_key: bytes | None
    name: str | None
    added_ms: int
    last_attempt_ms: int | None
    last_success_ms: int | None
    last_in_sync_ms: int | None
    last_outcome: str | None
    last_error: str | None
    failures: int
    backoff_ms: int
    next_attempt_ms: int
    in_sync: bool
    rounds: int
    events_in: int
    events_out: int
    bytes_in: int
    bytes_out: int
    rejected_in: int
    last_rejection: str | None

    def lag_ms(self, now_ms: int) -> int | None:
        """How long since this peer was last known to hold the same events as we do (0 when
        in sync now; None if never)."""
        if self.in_sync:
            return 0
        return None if self.last_in_sync_ms is None else max(0, now_ms - self.last_in_sync_ms)

    def as_dict(self, now_ms: int) -> dict[str, Any]:
        data = asdict(self)
        for key in ("node_key", "org_key"):
            data[key] = data[key].hex() if data[key] else None
        data["lag_ms"] = self.lag_ms(now_ms)
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundState:
    node_key: bytes
    first_seen_ms: int
    last_seen_ms: int
    requests: int
    refused: int
    last_refusal: str | None
    events_in: int
    rejected_in: int
    last_rejection: str | None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["node_key"] = self.node_key.hex()
        return data


def normalise_url(url: str) -> str:
    """``http(s)://host:port`` without path or trailing slash; :class:`ConfigError` if not."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
        raise ConfigError(f"a peer URL looks like http://HOST:PORT, got {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"a peer URL has no path, query or fragment: {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{parts.port}"


def next_backoff_ms(failures: int, rng: random.Random) -> int:
    """Exponential backoff with jitter, capped: base·2^(n−1), drawn uniformly from its upper
    half so peers that failed together do not retry in lockstep."""
    if failures <= 0:
        return 0
    ceiling = min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** min(failures - 1, 30))
    return rng.randint(ceiling // 2, ceiling)


_COLUMNS = (
    "url, node_key, org_key, name, added_ms, last_attempt_ms, last_success_ms, "
    "last_in_sync_ms, last_outcome, last_error, failures, backoff_ms, next_attempt_ms, "
    "in_sync, rounds, events_in, events_out, bytes_in, bytes_out, rejected_in, last_rejection"
)


def _peer(row: tuple[Any, ...]) -> PeerState:
    names = [c.strip() for c in _COLUMNS.split(",")]
    values = dict(zip(names, row, strict=True))
    values["in_sync"] = bool(values["in_sync"])
    return PeerState(**values)


async def add_peer(store: Store, url: str, now_ms: int) -> str:
    """Add a peer (idempotent). Returns its normalised URL."""
    url = normalise_url(url)

    async def insert(db: aiosqlite.Connection) -> None:
        await db.execute("INSERT OR IGNORE INTO peers (url, added_ms) VALUES (?, ?)", (url, now_ms))

    await store.write(insert)
    return url


async def remove_peer(store: Store, url: str) -> bool:
    url = normalise_url(url)

    async def delete(db: aiosqlite.Connection) -> int:
        async with db.execute("DELETE FROM peers WHERE url = ?", (url,)) as cursor:
            return cursor.rowcount

    return await store.write(delete) > 0


async def peer_states(store: Store) -> list[PeerState]:
    rows = await store.fetch(f"SELECT {_COLUMNS} FROM peers ORDER BY url")
    return [_peer(row) for row in rows]


async def inbound_states(store: Store) -> list[InboundState]:
    rows = await store.fetch(
        "SELECT node_key, first_seen_ms, last_seen_ms, requests, refused, last_refusal, "
        "events_in, rejected_in, last_rejection FROM inbound ORDER BY last_seen_ms DESC"
    )
    return [
        InboundState(
            node_key=r[0], first_seen_ms=r[1], last_seen_ms=r[2], requests=r[3], refused=r[4],
            last_refusal=r[5], events_in=r[6], rejected_in=r[7], last_rejection=r[8],
        )
        for r in rows
    ]  # fmt: skip


@dataclass(slots=True)
class RoundReport:
    """What one sync attempt with a peer did (accumulated by the client as it goes)."""

    ok: bool = False
    outcome: str = "not started"
    error: str | None = None
    in_sync: bool = False
    node_key: bytes | None = None
    org_key: bytes | None = None
    name: str | None = None
    events_in: int = 0
    events_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    rejected_in: int = 0
    last_rejection: str | None = None
    again: bool = False  # the session was cut short: more to reconcile in the next round


async def record_round(
    store: Store,
    url: str,
    report: RoundReport,
    now_ms: int,
    rng: random.Random,
    *,
    interval_ms: int,
) -> PeerState | None:
    """Persist the result of one round with ``url`` and schedule the next attempt: after
    ``interval_ms`` on success, after the backoff on failure. Returns the new state, or None
    if the peer was removed meanwhile."""

    async def update(db: aiosqlite.Connection) -> None:
        async with db.execute("SELECT failures FROM peers WHERE url = ?", (url,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return
        failures = 0 if report.ok else int(row[0]) + 1
        backoff = next_backoff_ms(failures, rng)
        delay = backoff if failures else interval_ms
        await db.execute(
            "UPDATE peers SET "
            "node_key = coalesce(?, node_key), org_key = coalesce(?, org_key), "
            "name = coalesce(?, name), last_attempt_ms = ?, "
            "last_success_ms = CASE WHEN ? THEN ? ELSE last_success_ms END, "
            "last_in_sync_ms = CASE WHEN ? THEN ? ELSE last_in_sync_ms END, "
            "last_outcome = ?, last_error = ?, failures = ?, backoff_ms = ?, "
            "next_attempt_ms = ?, in_sync = ?, rounds = rounds + 1, "
            "events_in = events_in + ?, events_out = events_out + ?, "
            "bytes_in = bytes_in + ?, bytes_out = bytes_out + ?, "
            "rejected_in = rejected_in + ?, last_rejection = coalesce(?, last_rejection) "
            "WHERE url = ?",
            (
                report.node_key, report.org_key, report.name, now_ms,
                report.ok, now_ms, report.in_sync, now_ms,
                report.outcome, report.error, failures, backoff,
                now_ms + delay, int(report.in_sync),
                report.events_in, report.events_out, report.bytes_in, report.bytes_out,
                report.rejected_in, report.last_rejection, url,
            ),
        )  # fmt: skip

    await store.write(update)
    rows = await store.fetch(f"SELECT {_COLUMNS} FROM peers WHERE url = ?", (url,))
    return _peer(rows[0]) if rows else None


@dataclass(slots=True)
class _InboundTally:
    first_seen_ms: int
    last_seen_ms: int
    requests: int = 0
    refused: int = 0
    last_refusal: str | None = None
    events_in: int = 0
    rejected_in: int = 0
    last_rejection: str | None = None


class InboundLedger:
    """Counts requests per connecting node in memory and writes them out now and then (one
    transaction for all), so a busy or hostile peer does not cost an fsync per request.

    Bounded both ways: at most ``max_nodes`` nodes are tallied between flushes, and the
    ``inbound`` table keeps the ``max_rows`` most recently seen nodes."""

    def __init__(self, max_nodes: int = 10_000, max_rows: int = 10_000) -> None:
        self._pending: dict[bytes, _InboundTally] = {}
        self.max_nodes = max_nodes
        self.max_rows = max_rows  # rows kept in ``inbound``: the most recently seen nodes

    def note(
        self,
        node_key: bytes,
        now_ms: int,
        *,
        refused: str | None = None,
        events_in: int = 0,
        rejected_in: int = 0,
        last_rejection: str | None = None,
    ) -> None:
        tally = self._pending.get(node_key)
        if tally is None:
            if len(self._pending) >= self.max_nodes:
                return  # a flood of fresh keys: counted once flushed room is back
            tally = self._pending[node_key] = _InboundTally(now_ms, now_ms)
        tally.last_seen_ms = now_ms
        tally.requests += 1
        if refused is not None:
            tally.refused += 1
            tally.last_refusal = refused
        tally.events_in += events_in
        tally.rejected_in += rejected_in
        if last_rejection is not None:
            tally.last_rejection = last_rejection

    async def flush(self, store: Store) -> int:
        """Write the counts gathered since the last flush; returns how many nodes."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0

        async def upsert(db: aiosqlite.Connection) -> None:
            await db.executemany(
                "INSERT INTO inbound (node_key, first_seen_ms, last_seen_ms, requests, refused, "
                "last_refusal, events_in, rejected_in, last_rejection) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(node_key) DO UPDATE SET "
                "last_seen_ms = excluded.last_seen_ms, requests = requests + excluded.requests, "
                "refused = refused + excluded.refused, "
                "last_refusal = coalesce(excluded.last_refusal, last_refusal), "
                "events_in = events_in + excluded.events_in, "
                "rejected_in = rejected_in + excluded.rejected_in, "
                "last_rejection = coalesce(excluded.last_rejection, last_rejection)",
                [
                    (
                        key, t.first_seen_ms, t.last_seen_ms, t.requests, t.refused,
                        t.last_refusal, t.events_in, t.rejected_in, t.last_rejection,
                    )
                    for key, t in pending.items()
                ],
            )  # fmt: skip
            # Any key can sign a request, so fresh keys are free: keep the table bounded.
            await db.execute(
                "DELETE FROM inbound WHERE node_key NOT IN "
                "(SELECT node_key FROM inbound ORDER BY last_seen_ms DESC LIMIT ?)",
                (self.max_rows,),
            )

        await store.write(upsert)
        return len(pending)
