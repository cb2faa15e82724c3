"""The node's store: one SQLite file holding the events and the folded state (docs/storage.md).

Ingest takes a batch of wire events, verifies them on every core (:mod:`.verifier`), then, in
**one transaction**, writes the new events, their place in the record graph and the fold's
changes to the materialised tables. Outcomes are returned only after the commit, so nothing is
acknowledged that a crash could lose (WAL with ``synchronous=FULL``: the commit is on disk).

Writes are serialised by one lock on one connection; queries use a second connection, which
in WAL mode reads the last committed state without waiting for writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from node.errors import StorageError
from node.storage.batch import Commit, Memory, write_batch
from node.storage.materialise import check_materialised
from node.storage.purge import purge_expired
from node.storage.quarantine import (
    QuarantineCaps,
    quarantine,
    quarantine_authors,
    quarantined_ids,
    take_quarantined,
)
from node.storage.queries import (
    Counts,
    RecordQuery,
    RecordSummary,
    count_everything,
    list_records,
    record_view,
)
from node.storage.schema import SchemaTooNewError, migrate
from node.storage.sql import scalar, select_in
from node.storage.verifier import BatchVerifier, Decoded
from protocol import Event, Kind, ProtocolError, ReasonCode, decode, decode_stored, encode
from sync.clock import Clock
from sync.fingerprint_index import FingerprintIndex
from sync.identity import IDENTITY_KINDS, Identity, build_identity
from sync.views import RecordView

__all__ = [
    "DAY_MS",
    "AdmissionPolicy",
    "AdmitAll",
    "CommitListener",
    "Outcome",
    "OutcomeStatus",
    "Store",
]

T = TypeVar("T")
# Called after each commit with the events newly stored and where they came from (a peer's
# node key, or None for this process and for events another process wrote).
CommitListener = Callable[[list[Event], bytes | None], None]

DAY_MS = 86_400_000
ROWS_PER_HOP = 4096  # rows per trip to SQLite's thread when a cursor is iterated (aiosqlite: 64)


class OutcomeStatus(StrEnum):
    ACCEPTED = "accepted"  # stored and folded
    DUPLICATE = "duplicate"  # already stored, or purged (a tombstone stands for it)
    REJECTED = "rejected"  # invalid: never stored (``code`` says why)
    QUARANTINED = "quarantined"  # valid, author not accepted yet (see the trust layer)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: OutcomeStatus
    event_id: bytes | None = None
    code: ReasonCode | None = None
    detail: str = ""


class AdmissionPolicy(Protocol):
    """Decides whose valid, new events are stored now and whose wait in quarantine."""

    def admits(self, author: bytes) -> bool: ...


class AdmitAll:
    """Store everything valid (the default until a trust policy is installed)."""

    def admits(self, author: bytes) -> bool:
        return True


def _is_read_only(path: Path) -> bool:
    # Honour the operator's intent even when running as root, who could write anyway.
    try:
        return not path.stat().st_mode & stat.S_IWUSR
    except FileNotFoundError:
        return False


def _cause(exc: BaseException) -> str:
    text = str(exc)
    if "disk is full" in text or "database or disk is full" in text:
        return "disk full: free space on the disk holding the database, then retry"
    if "readonly" in text or "read-only" in text:
        return "the database file is read-only"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"the database file is corrupt ({text}); restore a backup or re-sync from peers"
    if "unable to open" in text:
        return f"cannot open the database file ({text})"
    return text


class Store:
    """A node's durable event store with its materialised fold. Open with :meth:`open`."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        clock: Clock,
        horizon_ms: int,
        verifier: BatchVerifier,
        policy: AdmissionPolicy,
        read_only: bool,
    ) -> None:
        self.path = path
        self._db = writer
        self._read = reader
        self.clock = clock
        self.horizon_ms = horizon_ms
        self._verifier = verifier
        self.policy = policy
        self.read_only = read_only
        self._lock = asyncio.Lock()
        self.memory = Memory()
        self.quarantine_caps = QuarantineCaps()
        self.index: FingerprintIndex | None = None  # built by build_index() (running nodes)
        self._seq = 0  # the highest events.seq this process has loaded into memory
        self._tombstone_count = 0
        self._listeners: list[CommitListener] = []

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        clock: Clock,
        horizon_days: float = 30,
        workers: int | None = None,
        policy: AdmissionPolicy | None = None,
    ) -> Store:
        """Open (creating if needed) and migrate the database at ``path``.

        Raises :class:`StorageError` naming the file and the cause if it cannot be used.
        """
        path = Path(path)
        read_only = _is_read_only(path)
        uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
        writer = reader = None
        try:
            writer = await aiosqlite.connect(
                uri, uri=True, isolation_level=None, iter_chunk_size=ROWS_PER_HOP
            )
            await writer.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                await writer.execute("PRAGMA journal_mode = WAL")
                # FULL: every commit is fsynced before it returns, so an acknowledged event
                # survives power loss (NORMAL in WAL mode can lose the last commits).
                await writer.execute("PRAGMA synchronous = FULL")

                await migrate(writer)
            reader = await aiosqlite.connect(
                f"file:{path}?mode=ro", uri=True, iter_chunk_size=ROWS_PER_HOP
            )
            await reader.execute("PRAGMA query_only = ON")
            store = cls(
                path,
                writer,
                reader,
                clock,
                int(horizon_days * DAY_MS),
                BatchVerifier(workers),
                policy or AdmitAll(),
                read_only,
            )
            await store._load_memory()
            return store
        except SchemaTooNewError as exc:
            await _close_quietly(writer, reader)
            raise StorageError(str(path), f"{exc}: upgrade aidnode to open it") from exc
        except sqlite3.Error as exc:
            await _close_quietly(writer, reader)
            raise StorageError(str(path), _cause(exc)) from exc

    async def close(self) -> None:
        if not self.read_only:
            with contextlib.suppress(sqlite3.Error):
                # Keep the planner's statistics current (SQLite's advice: on close).
                await self._db.execute("PRAGMA optimize")
                await self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._verifier.close()
        await self._db.close()
        await self._read.close()

    async def _load_memory(self) -> None:
        """Load what the store keeps in memory: identity and trust events, and profiles."""
        kinds = [*IDENTITY_KINDS, Kind.ENDORSE, Kind.PROFILE]
        marks = ",".join("?" * len(kinds))
        async with self._db.execute(
            f"SELECT payload, sig FROM events WHERE kind IN ({marks})",
            [str(k) for k in kinds],
        ) as cursor:
            async for payload, sig in cursor:
                self.memory.remember(decode_stored(payload, sig))
        self.memory.identity = build_identity(self.memory.identity_events.values())
        self._seq = await scalar(self._db, "SELECT coalesce(max(seq), 0) FROM events")
        self._tombstone_count = await scalar(self._db, "SELECT count(*) FROM tombstones")

    @property
    def identity(self) -> Identity:
        """Who acts for which org, as resolved from the stored identity events."""
        return self.memory.identity

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        if self.read_only:
            raise StorageError(str(self.path), "the database file is read-only")
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StorageError(str(self.path), _cause(exc)) from exc
        try:
            yield self._db
            await self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            await self._rollback()
            raise StorageError(str(self.path), _cause(exc)) from exc
        except BaseException:
            await self._rollback()
            raise

    async def _rollback(self) -> None:
        # SQLite may already have rolled back (e.g. on SQLITE_FULL): nothing left to undo then.
        with contextlib.suppress(sqlite3.Error):
            await self._db.execute("ROLLBACK")

    # -- ingest -------------------------------------------------------------------------------

    async def ingest(self, wires: Sequence[bytes], origin: bytes | None = None) -> list[Outcome]:
        """Verify, validate and store a batch of wire events; one outcome per wire, in order.

        Re-ingesting a batch is a no-op (every outcome ``duplicate``). Returns only after the
        accepted events are committed. Raises :class:`StorageError` if the database cannot
        be written; then nothing of the batch was stored.
        """
        decoded = await self._verifier.decode(wires, self.clock.now_ms())
        return await self.add(decoded, origin)

    async def add(self, decoded: Sequence[Decoded], origin: bytes | None = None) -> list[Outcome]:
        """Store already-decoded events (this node's own, or :meth:`ingest`'s output).

        ``origin`` (the sending peer's node key) is passed to commit listeners, so a relay
        does not echo events back where they came from."""
        outcomes: list[Outcome | None] = [None] * len(decoded)
        first: dict[bytes, int] = {}
        suspect: list[tuple[Event, bytes]] = []
        for index, item in enumerate(decoded):
            if isinstance(item, ProtocolError):
                outcomes[index] = Outcome(OutcomeStatus.REJECTED, None, item.code, item.detail)
            elif item.id in first:
                outcomes[index] = Outcome(OutcomeStatus.DUPLICATE, item.id)
            else:
                first[item.id] = index
        identity_changed = False
        async with self._lock:
            # Everything happens inside the write transaction: once BEGIN IMMEDIATE holds the
            # write lock no other process can commit, so what we catch up on and check
            # against is exactly what we commit on top of (no event can slip in between).
            async with self._transaction() as db:
                await self._catch_up_locked()
                known = await self._known(list(first))
                held = await quarantined_ids(db, [i for i in first if i not in known])
                fresh: list[Event] = []
                for event_id, index in first.items():
                    event = decoded[index]
                    assert isinstance(event, Event)
                    if event_id in known:
                        outcomes[index] = Outcome(OutcomeStatus.DUPLICATE, event_id)
                    elif event_id in held or not self.policy.admits(event.author):
                        outcomes[index] = Outcome(OutcomeStatus.QUARANTINED, event_id)
                        if event_id not in held:
                            suspect.append((event, self.identity.org_of(event.author)))
                    else:
                        fresh.append(event)
                        outcomes[index] = Outcome(OutcomeStatus.ACCEPTED, event_id)
                commit = None
                if fresh or suspect:
                    now = self.clock.now_ms()
                    commit = await write_batch(db, self.memory, fresh, now)
                    if suspect:
                        await quarantine(db, suspect, now, self.quarantine_caps)
            if commit is not None:
                self._after_commit(commit, origin)
                identity_changed = commit.identity is not None
                # Events about a purged record were kept as tombstones only.
                for _, event_id in commit.tombstoned:
                    outcomes[first[event_id]] = Outcome(OutcomeStatus.DUPLICATE, event_id)
        if suspect and identity_changed:
            # The batch's own identity events (a delegation, say) may admit the authors of
            # events quarantined a moment ago: judge them again now.
            for event_id in await self.promote():
                if event_id in first:
                    outcomes[first[event_id]] = Outcome(OutcomeStatus.ACCEPTED, event_id)
        return [o for o in outcomes if o is not None]

    async def _known(
        self, ids: Sequence[bytes], db: aiosqlite.Connection | None = None
    ) -> set[bytes]:
        """Which of ``ids`` are stored or tombstoned."""
        sql = (
            "SELECT id FROM events WHERE id IN {in} "
            "UNION ALL SELECT id FROM tombstones WHERE id IN {in}"
        )
        return {row[0] for row in await select_in(db or self._db, sql, ids, repeat=2)}

    def _after_commit(self, commit: Commit, origin: bytes | None) -> None:
        for event in commit.stored:
            self.memory.remember(event)
            self.memory.cache_put(event)
        if commit.identity is not None:
            self.memory.identity = commit.identity
        self._seq = max(self._seq, commit.seq)
        self._tombstone_count += len(commit.tombstoned)
        if self.index is not None:
            for event in commit.stored:
                self.index.insert(event.hlc, event.id)
            for hlc, event_id in commit.tombstoned:
                self.index.insert(hlc, event_id)
        if commit.stored:
            self._notify(commit.stored, origin)

    def _notify(self, events: list[Event], origin: bytes | None) -> None:
        for listener in list(self._listeners):
            listener(events, origin)

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener`` after every commit that stored events (in this process, or found
        by :meth:`catch_up` from another)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: CommitListener) -> None:
        self._listeners.remove(listener)

    # -- other processes ----------------------------------------------------------------------

    async def catch_up(self) -> list[Event]:
        """Load into memory what other processes (``aidnode`` commands) committed since we
        last looked; returns those events, which listeners also receive. The running node
        calls this about once a second, so the CLI's writes are pushed within seconds."""
        async with self._lock:
            return await self._catch_up_locked()

    async def _catch_up_locked(self) -> list[Event]:
        latest = await scalar(self._db, "SELECT coalesce(max(seq), 0) FROM events")
        tombstones = await scalar(self._db, "SELECT count(*) FROM tombstones")
        events: list[Event] = []
        if latest > self._seq:
            async with self._db.execute(
                "SELECT payload, sig FROM events WHERE seq > ? ORDER BY seq", (self._seq,)
            ) as cursor:
                events = [decode_stored(p, sig) async for p, sig in cursor]
            for event in events:
                self.memory.remember(event)
                if self.index is not None:
                    self.index.insert(event.hlc, event.id)
            if any(e.kind in IDENTITY_KINDS for e in events):
                self.memory.identity = build_identity(self.memory.identity_events.values())
            self._seq = latest
        if tombstones != self._tombstone_count:
            # Another process purged or tombstoned: purges keep index keys, but tombstones
            # made on arrival add keys. Rare: rebuild rather than track them one by one.
            self._tombstone_count = tombstones
            if self.index is not None:
                await self.build_index()
        if events:
            self._notify(events, None)
        return events

    # -- the reconciliation index and what peers fetch ------------------------------------------

    async def build_index(self) -> FingerprintIndex:
        """(Re)build the in-memory reconciliation index: every event and tombstone key.

        Streams the keys in (hlc, id) order from a private read-only connection in a worker
        thread, so a million keys never sit in memory as Python rows (start-up stays fast and
        small); the caller holds the store's lock or calls it before serving."""
        self.index = await asyncio.to_thread(_read_index, self.path)
        return self.index

    async def max_hlc(self) -> int:
        """The greatest hlc stored (events and tombstones), to restart the node's clock."""
        return await scalar(
            self._db,
            "SELECT max(coalesce((SELECT max(hlc) FROM events), 0), "
            "coalesce((SELECT max(hlc) FROM tombstones), 0))",
        )

    async def wires(
        self, ids: Sequence[bytes]
    ) -> tuple[dict[bytes, bytes], list[tuple[bytes, int]]]:
        """Wire forms of the stored events among ``ids``, and (id, hlc) of those held only as
        tombstones."""
        ids = list(ids)
        rows = await select_in(
            self._read, "SELECT id, payload, sig FROM events WHERE id IN {in}", ids
        )
        found = {event_id: encode([payload, sig]) for event_id, payload, sig in rows}
        rows = await select_in(self._read, "SELECT id, hlc FROM tombstones WHERE id IN {in}", ids)
        return found, [(event_id, hlc) for event_id, hlc in rows]

    async def add_tombstones(self, gone: Sequence[tuple[bytes, int]]) -> int:
        """Adopt a peer's tombstones for events we never held, if old enough to have been
        purged by the rules (hlc older than the horizon): we will not ask for them again.

        Younger ones are refused: a peer cannot make us forget recent events by claiming them
        purged. Returns how many were adopted."""
        cutoff = (self.clock.now_ms() - self.horizon_ms) << 16
        old = [(i, h) for i, h in gone if h < cutoff]
        if not old:
            return 0
        async with self._lock:
            async with self._transaction() as db:
                await self._catch_up_locked()
                known = await self._known([i for i, _ in old])
                fresh = [(i, h) for i, h in old if i not in known]
                await db.executemany("INSERT INTO tombstones (id, hlc) VALUES (?, ?)", fresh)
            self._tombstone_count += len(fresh)
            if self.index is not None:
                for event_id, hlc in fresh:
                    self.index.insert(hlc, event_id)
        return len(fresh)

    # -- small helpers for other node modules (peer state, trust) -------------------------------

    async def write(self, operation: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``operation`` in one write transaction, serialised with ingest."""
        async with self._lock, self._transaction() as db:
            return await operation(db)

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query on the read connection (committed state)."""
        try:
            async with self._read.execute(sql, args) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]
        except sqlite3.Error as exc:
            raise StorageError(str(self.path), _cause(exc)) from exc

    # -- purge --------------------------------------------------------------------------------

    async def purge(self, now_ms: int | None = None) -> int:
        """Purge records expired more than the horizon ago (see :mod:`.purge`); returns how
        many events became tombstones. Their index keys stay: tombstones hold them."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        async with self._lock:
            async with self._transaction() as db:
                await self._catch_up_locked()
                purged = await purge_expired(db, now - self.horizon_ms)
            for event_id, _ in purged:
                self.memory.cache.pop(event_id, None)
            self._tombstone_count += len(purged)
        return len(purged)

    # -- quarantine -------------------------------------------------------------------------

    async def quarantined(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` wait in quarantine (federation does not fetch them again)."""
        return await quarantined_ids(self._read, ids)

    async def quarantine_size(self) -> int:
        return await scalar(self._read, "SELECT count(*) FROM quarantine")

    async def promote(self) -> list[bytes]:
        """Move quarantined events whose authors the policy now admits into the store (no
        fetching again); returns the ids stored. Repeats while promotions (identity events,
        say) admit further authors."""
        promoted: list[bytes] = []
        for _ in range(8):
            async with self._lock:
                authors = await quarantine_authors(self._db)
                admitted = [a for a in authors if self.policy.admits(a)]
                if not admitted:
                    break
                async with self._transaction() as db:
                    await self._catch_up_locked()
                    wires = await take_quarantined(db, admitted)
                    events = [_stored_wire(w) for w in wires]
                    known = await self._known([e.id for e in events], db)
                    fresh = [e for e in events if e.id not in known]
                    commit = await write_batch(db, self.memory, fresh, self.clock.now_ms())
                self._after_commit(commit, None)
                promoted += [e.id for e in commit.stored]
        return promoted

    # -- queries --------------------------------------------------------------------------------

    async def list_records(self, query: RecordQuery) -> list[RecordSummary]:
        return await list_records(self._read, query, self.clock.now_ms())

    async def record(self, record_id: bytes) -> tuple[RecordView, list[Event]] | None:
        """One record's full view (re-folded from its events) and its history, or None."""
        return await record_view(self._read, record_id, self.identity)

    async def counts(self) -> Counts:
        return await count_everything(self._read, self.clock.now_ms())

    async def set_accepted(self, level: str, orgs: Iterable[bytes]) -> None:
        """Record which orgs this node accepts at ``level`` (the trust layer's output), used
        by the ``verified`` overlay of listings."""
        async with self._lock, self._transaction() as db:
            await db.execute("DELETE FROM accepted WHERE level = ?", (level,))
            await db.executemany(
                "INSERT INTO accepted (org, level) VALUES (?, ?)", [(o, level) for o in orgs]
            )

    async def check(self) -> list[str]:
        """Integrity of the file and of the materialised fold; an empty list means healthy."""
        async with self._lock:
            async with self._db.execute("PRAGMA integrity_check") as cursor:
                rows = [row[0] async for row in cursor]
            problems = [] if rows == ["ok"] else [f"integrity_check: {'; '.join(rows)}"]
            problems += await check_materialised(self._db)
        return problems

    # -- plain reads used by other layers ------------------------------------------------------

    async def event_count(self) -> int:
        async with self._read.execute("SELECT count(*) FROM events") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def all_events(self) -> list[Event]:
        """Every stored event, decoded (for checks and exports; not for hot paths)."""
        async with self._read.execute("SELECT payload, sig FROM events ORDER BY seq") as cursor:
            return [decode_stored(p, s) async for p, s in cursor]


async def _close_quietly(*connections: aiosqlite.Connection | None) -> None:
    for connection in connections:
        if connection is not None:
            # Already failing: the original error is what the operator needs.
            with contextlib.suppress(sqlite3.Error):
                await connection.close()


def _read_index(path: Path) -> FingerprintIndex:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = connection.execute(
            "SELECT hlc, id FROM (SELECT hlc, id FROM events UNION ALL "
            "SELECT hlc, id FROM tombstones) ORDER BY hlc, id"
        )
        cursor.arraysize = 10_000
        return FingerprintIndex.from_sorted(cursor)
    except sqlite3.Error as exc:
        raise StorageError(str(path), _cause(exc)) from exc
    finally:
        connection.close()


def _stored_wire(wire: bytes) -> Event:
    """An event this node itself verified earlier (quarantine keeps wires)."""
    payload, sig = decode(wire)
    return decode_stored(payload, sig)
