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
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from node.errors import StorageError
from node.storage.materialise import (
    check_materialised,
    write_endorsements,
    write_profiles,
    write_records,
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
from node.storage.verifier import BatchVerifier, Decoded
from protocol import Event, Kind, ProtocolError, ReasonCode, decode_stored, encode
from sync.clock import Clock
from sync.fingerprint_index import FingerprintIndex
from sync.fold import (
    RECORD_KINDS,
    Placeable,
    endorsement_view,
    fold_record,
    profiles_of,
    record_of,
)
from sync.identity import IDENTITY_KINDS, Identity, build_identity
from sync.views import RecordView

__all__ = ["DAY_MS", "AdmissionPolicy", "CommitListener", "Outcome", "OutcomeStatus", "Store"]

T = TypeVar("T")
# Called after each commit with the events newly stored and where they came from (a peer's
# node key, or None for this process and for events another process wrote).
CommitListener = Callable[[list[Event], bytes | None], None]

DAY_MS = 86_400_000
_CACHE_EVENTS = 50_000
_CHUNK = 500


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
    """Decides which valid, new events are stored now and which wait in quarantine."""

    def admits(self, event: Event) -> bool: ...


class _AdmitAll:
    def admits(self, event: Event) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class _Stub:
    """Just enough of a stored event to place another one in the record graph."""

    id: bytes
    kind: str
    ref: bytes | None


@dataclass(slots=True)
class _Commit:
    """What a committed batch changes in memory (applied only after the commit)."""

    stored: list[Event]
    tombstoned: list[tuple[int, bytes]]
    identity: Identity | None
    seq: int


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
        self._cache: OrderedDict[bytes, Event] = OrderedDict()
        self._identity_events: dict[bytes, Event] = {}
        self._endorse_events: dict[bytes, Event] = {}
        self._profile_events: dict[bytes, Event] = {}
        self._revocations: dict[bytes, list[Event]] = defaultdict(list)
        self.identity = build_identity(())
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
            writer = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            await writer.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                await writer.execute("PRAGMA journal_mode = WAL")
                # FULL: every commit is fsynced before it returns, so an acknowledged event
                # survives power loss (NORMAL in WAL mode can lose the last commits).
                await writer.execute("PRAGMA synchronous = FULL")
                await migrate(writer)
            reader = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True)
            await reader.execute("PRAGMA query_only = ON")
            store = cls(
                path,
                writer,
                reader,
                clock,
                int(horizon_days * DAY_MS),
                BatchVerifier(workers),
                policy or _AdmitAll(),
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
                self._remember(decode_stored(payload, sig))
        self.identity = build_identity(self._identity_events.values())
        self._seq = await self._scalar(self._db, "SELECT coalesce(max(seq), 0) FROM events")
        self._tombstone_count = await self._scalar(self._db, "SELECT count(*) FROM tombstones")

    @staticmethod
    async def _scalar(db: aiosqlite.Connection, sql: str, args: Sequence[Any] = ()) -> int:
        async with db.execute(sql, args) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _remember(self, event: Event) -> None:
        if event.kind in IDENTITY_KINDS:
            self._identity_events[event.id] = event
            if event.kind == Kind.REVOKE and event.ref is not None:
                self._revocations[event.ref].append(event)
        elif event.kind == Kind.ENDORSE:
            self._endorse_events[event.id] = event
        elif event.kind == Kind.PROFILE:
            self._profile_events[event.id] = event

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
        for index, item in enumerate(decoded):
            if isinstance(item, ProtocolError):
                outcomes[index] = Outcome(OutcomeStatus.REJECTED, None, item.code, item.detail)
            elif item.id in first:
                outcomes[index] = Outcome(OutcomeStatus.DUPLICATE, item.id)
            else:
                first[item.id] = index
        async with self._lock:
            await self._catch_up_locked()
            known = await self._known(list(first))
            fresh: list[Event] = []
            for event_id, index in first.items():
                event = decoded[index]
                assert isinstance(event, Event)
                if event_id in known:
                    outcomes[index] = Outcome(OutcomeStatus.DUPLICATE, event_id)
                elif not self.policy.admits(event):
                    outcomes[index] = Outcome(OutcomeStatus.QUARANTINED, event_id)
                else:
                    fresh.append(event)
                    outcomes[index] = Outcome(OutcomeStatus.ACCEPTED, event_id)
            if fresh:
                async with self._transaction() as db:
                    commit = await self._write(db, fresh)
                self._after_commit(commit, origin)
                # Events about a purged record were kept as tombstones only.
                for _, event_id in commit.tombstoned:
                    outcomes[first[event_id]] = Outcome(OutcomeStatus.DUPLICATE, event_id)
        return [o for o in outcomes if o is not None]

    async def _known(self, ids: Sequence[bytes]) -> set[bytes]:
        known: set[bytes] = set()
        for chunk in _chunks(ids):
            marks = _marks(len(chunk))
            sql = (
                f"SELECT id FROM events WHERE id IN ({marks}) "
                f"UNION ALL SELECT id FROM tombstones WHERE id IN ({marks})"
            )
            async with self._db.execute(sql, [*chunk, *chunk]) as cursor:
                known |= {row[0] async for row in cursor}
        return known

    async def _stubs(self, db: aiosqlite.Connection, ids: Iterable[bytes]) -> dict[bytes, _Stub]:
        found: dict[bytes, _Stub] = {}
        for chunk in _chunks(list(ids)):
            sql = f"SELECT id, kind, ref FROM events WHERE id IN ({_marks(len(chunk))})"
            async with db.execute(sql, chunk) as cursor:
                async for event_id, kind, ref in cursor:
                    found[event_id] = _Stub(event_id, kind, ref)
        return found

    async def _tombstoned(self, db: aiosqlite.Connection, ids: Iterable[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for chunk in _chunks(list(ids)):
            sql = f"SELECT id FROM tombstones WHERE id IN ({_marks(len(chunk))})"
            async with db.execute(sql, chunk) as cursor:
                found |= {row[0] async for row in cursor}
        return found

    async def _write(self, db: aiosqlite.Connection, fresh: list[Event]) -> _Commit:
        """Everything one batch changes, inside the open transaction."""
        lookup: dict[bytes, Placeable] = {e.id: e for e in fresh}
        # Events stored earlier that were waiting for one of these: place them again now.
        woken: dict[bytes, _Stub] = {}
        for chunk in _chunks(list(lookup)):
            sql = f"SELECT event FROM waiting WHERE missing IN ({_marks(len(chunk))})"
            async with db.execute(sql, chunk) as cursor:
                woken_ids = [row[0] async for row in cursor]
            woken.update(await self._stubs(db, woken_ids))
        lookup.update(woken)
        # Fetch refs (two hops: a receipt's pledge's record) not in this batch.
        for _ in range(2):
            refs = {e.ref for e in list(lookup.values()) if e.ref is not None} - lookup.keys()
            lookup.update(await self._stubs(db, refs))
        placed: dict[bytes, bytes] = {}
        waits: dict[bytes, bytes] = {}
        candidates: list[Placeable] = [*fresh, *woken.values()]
        for item in candidates:
            place = record_of(item, lookup)
            if isinstance(place, bytes):
                placed[item.id] = place
            elif isinstance(place, tuple):
                waits[item.id] = place[1]
        # An event whose missing ref was purged is about a purged record: keep a tombstone
        # only, so it is neither stored forever nor fetched again (docs/storage.md §purge).
        dead = await self._tombstoned(db, set(waits.values()))
        obsolete = {i for i, missing in waits.items() if missing in dead}
        stored = [e for e in fresh if e.id not in obsolete]
        tombstoned = [(e.hlc, e.id) for e in fresh if e.id in obsolete]
        now = self.clock.now_ms()
        await db.executemany(
            "INSERT INTO events (id, hlc, kind, author, ref, record, payload, sig, received_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (e.id, e.hlc, e.kind, e.author, e.ref, placed.get(e.id), e.payload, e.sig, now)
                for e in stored
            ],
        )
        await db.executemany(
            "INSERT INTO tombstones (id, hlc) VALUES (?, ?)", [(i, h) for h, i in tombstoned]
        )
        woken_ids = list(woken)
        for chunk in _chunks(woken_ids):
            sql = f"DELETE FROM waiting WHERE event IN ({_marks(len(chunk))})"
            await db.execute(sql, chunk)
        await db.executemany(
            "UPDATE events SET record = ? WHERE id = ?",
            [(placed[i], i) for i in woken_ids if i in placed],
        )
        await db.executemany(
            "INSERT OR IGNORE INTO waiting (missing, event) VALUES (?, ?)",
            [(m, i) for i, m in waits.items() if i not in obsolete],
        )
        affected = set(placed.values())
        identity = None
        if any(e.kind in IDENTITY_KINDS for e in stored):
            identity_events = [*self._identity_events.values()]
            identity_events += [e for e in stored if e.kind in IDENTITY_KINDS]
            identity = build_identity(identity_events)
            before, after = self.identity.facts(), identity.facts()
            changed = [k for k in before.keys() | after.keys() if before.get(k) != after.get(k)]
            affected |= await self._records_by_authors(db, changed)
        current = identity or self.identity
        await self._refold(db, affected, current, {e.id: e for e in stored})
        await self._refresh_trust_views(db, stored, identity)
        seq = await self._scalar(db, "SELECT coalesce(max(seq), 0) FROM events")
        return _Commit(stored, tombstoned, identity, seq)

    async def _records_by_authors(self, db: aiosqlite.Connection, keys: list[bytes]) -> set[bytes]:
        records: set[bytes] = set()
        for chunk in _chunks(keys):
            sql = (
                "SELECT DISTINCT record FROM events "
                f"WHERE author IN ({_marks(len(chunk))}) AND record IS NOT NULL"
            )
            async with db.execute(sql, chunk) as cursor:
                records |= {row[0] async for row in cursor}
        return records

    async def _refold(
        self,
        db: aiosqlite.Connection,
        record_ids: set[bytes],
        identity: Identity,
        batch: dict[bytes, Event],
    ) -> None:
        """Re-fold the given records from their stored events and rewrite their rows."""
        ordered = sorted(record_ids)
        members: dict[bytes, list[bytes]] = defaultdict(list)
        for chunk in _chunks(ordered):
            sql = f"SELECT record, id FROM events WHERE record IN ({_marks(len(chunk))})"
            async with db.execute(sql, chunk) as cursor:
                async for record, event_id in cursor:
                    members[record].append(event_id)
        events = await self._events(db, [i for ids in members.values() for i in ids], batch)
        views: list[RecordView] = []
        for record_id in ordered:
            create = events.get(record_id)
            if create is None or create.kind not in RECORD_KINDS:
                continue
            related = [events[i] for i in members[record_id] if i != record_id]
            views.append(fold_record(create, related, identity))
        await write_records(db, [v.id for v in views], views)

    async def _events(
        self, db: aiosqlite.Connection, ids: list[bytes], batch: dict[bytes, Event]
    ) -> dict[bytes, Event]:
        """Decoded events by id, from the batch, the cache, or the database."""
        found: dict[bytes, Event] = {}
        missing = []
        for event_id in ids:
            event = batch.get(event_id) or self._cache.get(event_id)
            if event is None:
                missing.append(event_id)
            else:
                found[event_id] = event
        for chunk in _chunks(missing):
            sql = f"SELECT payload, sig FROM events WHERE id IN ({_marks(len(chunk))})"
            async with db.execute(sql, chunk) as cursor:
                async for payload, sig in cursor:
                    event = decode_stored(payload, sig)
                    found[event.id] = event
                    self._cache_put(event)
        return found

    def _cache_put(self, event: Event) -> None:
        self._cache[event.id] = event
        self._cache.move_to_end(event.id)
        if len(self._cache) > _CACHE_EVENTS:
            self._cache.popitem(last=False)

    async def _refresh_trust_views(
        self, db: aiosqlite.Connection, stored: list[Event], identity: Identity | None
    ) -> None:
        endorse = {e.id: e for e in stored if e.kind == Kind.ENDORSE}
        revocations = defaultdict(list, {k: list(v) for k, v in self._revocations.items()})
        for event in stored:
            if event.kind == Kind.REVOKE and event.ref is not None:
                revocations[event.ref].append(event)
        current = identity or self.identity
        if identity is not None:  # identity changed: every endorsement may read differently
            endorse = {**self._endorse_events, **endorse}
        await write_endorsements(
            db,
            [endorsement_view(e, current, revocations.get(e.id, ())) for e in endorse.values()],
        )
        if identity is not None or any(e.kind == Kind.PROFILE for e in stored):
            profiles = [*self._profile_events.values()]
            profiles += [e for e in stored if e.kind == Kind.PROFILE]
            await write_profiles(db, profiles_of(profiles, current).values())

    def _after_commit(self, commit: _Commit, origin: bytes | None) -> None:
        for event in commit.stored:
            self._remember(event)
            self._cache_put(event)
        if commit.identity is not None:
            self.identity = commit.identity
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
        latest = await self._scalar(self._db, "SELECT coalesce(max(seq), 0) FROM events")
        tombstones = await self._scalar(self._db, "SELECT count(*) FROM tombstones")
        events: list[Event] = []
        if latest > self._seq:
            async with self._db.execute(
                "SELECT payload, sig FROM events WHERE seq > ? ORDER BY seq", (self._seq,)
            ) as cursor:
                events = [decode_stored(p, sig) async for p, sig in cursor]
            for event in events:
                self._remember(event)
                if self.index is not None:
                    self.index.insert(event.hlc, event.id)
            if any(e.kind in IDENTITY_KINDS for e in events):
                self.identity = build_identity(self._identity_events.values())
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
        """(Re)build the in-memory reconciliation index: every event and tombstone key."""
        async with self._db.execute(
            "SELECT hlc, id FROM (SELECT hlc, id FROM events UNION ALL "
            "SELECT hlc, id FROM tombstones) ORDER BY hlc, id"
        ) as cursor:
            rows = await cursor.fetchall()
        self.index = FingerprintIndex.from_sorted((hlc, event_id) for hlc, event_id in rows)
        return self.index

    async def max_hlc(self) -> int:
        """The greatest hlc stored (events and tombstones), to restart the node's clock."""
        return await self._scalar(
            self._db,
            "SELECT max(coalesce((SELECT max(hlc) FROM events), 0), "
            "coalesce((SELECT max(hlc) FROM tombstones), 0))",
        )

    async def wires(
        self, ids: Sequence[bytes]
    ) -> tuple[dict[bytes, bytes], list[tuple[bytes, int]]]:
        """Wire forms of the stored events among ``ids``, and (id, hlc) of those held only as
        tombstones."""
        found: dict[bytes, bytes] = {}
        gone: list[tuple[bytes, int]] = []
        for chunk in _chunks(list(ids)):
            marks = _marks(len(chunk))
            async with self._read.execute(
                f"SELECT id, payload, sig FROM events WHERE id IN ({marks})", chunk
            ) as cursor:
                async for event_id, payload, sig in cursor:
                    found[event_id] = encode([payload, sig])
            async with self._read.execute(
                f"SELECT id, hlc FROM tombstones WHERE id IN ({marks})", chunk
            ) as cursor:
                gone += [(row[0], row[1]) async for row in cursor]
        return found, gone

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
            known = await self._known([i for i, _ in old])
            fresh = [(i, h) for i, h in old if i not in known]
            if not fresh:
                return 0
            async with self._transaction() as db:
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
        """Purge records whose ``expires`` is more than the horizon in the past, with every
        event about them, leaving a tombstone (id, hlc) per event. Returns events purged.

        Tombstones keep their (hlc, id) in the reconciliation index: a node that purged and a
        node that has not yet agree on the set, so neither offers the other those events.
        """
        now = self.clock.now_ms() if now_ms is None else now_ms
        cutoff = now - self.horizon_ms
        async with self._lock:
            async with self._db.execute(
                "SELECT id FROM records WHERE expires < ?", (cutoff,)
            ) as cursor:
                records = [row[0] async for row in cursor]
            if not records:
                return 0
            purged: list[tuple[bytes, int]] = []
            async with self._transaction() as db:
                for chunk in _chunks(records):
                    marks = _marks(len(chunk))
                    sql = f"SELECT id, hlc FROM events WHERE record IN ({marks})"
                    async with db.execute(sql, chunk) as cursor:
                        members = [(row[0], row[1]) async for row in cursor]
                    purged += members
                    member_ids = [m[0] for m in members]
                    purged += await self._purge_waiting(db, member_ids)
                    for table in ("records", "record_lines", "pledges", "verifications"):
                        column = "id" if table == "records" else "record"
                        await db.execute(
                            f"DELETE FROM {table} WHERE {column} IN ({marks})",
                            chunk,
                        )
                for chunk in _chunks([p[0] for p in purged]):
                    marks = _marks(len(chunk))
                    await db.execute(f"DELETE FROM events WHERE id IN ({marks})", chunk)
                    await db.execute(f"DELETE FROM waiting WHERE event IN ({marks})", chunk)
                await db.executemany(
                    "INSERT OR IGNORE INTO tombstones (id, hlc) VALUES (?, ?)", purged
                )
            for event_id, _ in purged:
                self._cache.pop(event_id, None)
        return len(purged)

    async def _purge_waiting(
        self, db: aiosqlite.Connection, ids: list[bytes]
    ) -> list[tuple[bytes, int]]:
        """Events still waiting for one of ``ids`` (or for those, transitively)."""
        found: list[tuple[bytes, int]] = []
        frontier = ids
        while frontier:
            waiting: list[bytes] = []
            for chunk in _chunks(frontier):
                sql = (
                    "SELECT e.id, e.hlc FROM waiting w JOIN events e ON e.id = w.event "
                    f"WHERE w.missing IN ({_marks(len(chunk))})"
                )
                async with db.execute(sql, chunk) as cursor:
                    rows = [(row[0], row[1]) async for row in cursor]
                found += rows
                waiting += [row[0] for row in rows]
            frontier = waiting
        return found

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


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(count: int) -> str:
    return ",".join("?" * count)
