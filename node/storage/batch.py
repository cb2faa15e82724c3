"""Writing one batch of new events, inside the store's open transaction.

Given events that passed validation and admission, :func:`write_batch` stores them, places
each in the record graph (or remembers what it waits for), re-places earlier events that were
waiting for one of them, rebuilds identity if identity events arrived, re-folds exactly the
records that can have changed (those the batch touched and, on identity changes, those holding
an event by a key whose resolution changed), and rewrites the endorsement and profile views.
It never re-folds the whole store. What it changes in memory is returned, not applied: the
caller applies it only after COMMIT succeeds.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiosqlite

from node.storage.materialise import write_endorsements, write_profiles, write_records
from node.storage.sql import chunks, marks, scalar, select_in
from protocol import Event, Kind, decode_stored
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

__all__ = ["Commit", "Memory", "write_batch"]

CACHE_EVENTS = 10_000  # decoded events are ~2 KB each in memory


@dataclass(slots=True)
class Memory:
    """What a store keeps in memory: identity and the events it is built from, trust-relevant
    events, profiles, and a cache of recently decoded events."""

    identity: Identity = field(default_factory=lambda: build_identity(()))
    identity_events: dict[bytes, Event] = field(default_factory=dict)
    endorse_events: dict[bytes, Event] = field(default_factory=dict)
    profile_events: dict[bytes, Event] = field(default_factory=dict)
    revocations: dict[bytes, list[Event]] = field(default_factory=lambda: defaultdict(list))
    cache: OrderedDict[bytes, Event] = field(default_factory=OrderedDict)

    def remember(self, event: Event) -> None:
        if event.kind in IDENTITY_KINDS:
            self.identity_events[event.id] = event
            if event.kind == Kind.REVOKE and event.ref is not None:
                self.revocations[event.ref].append(event)
        elif event.kind == Kind.ENDORSE:
            self.endorse_events[event.id] = event
        elif event.kind == Kind.PROFILE:
            self.profile_events[event.id] = event

    def cache_put(self, event: Event) -> None:
        self.cache[event.id] = event
        self.cache.move_to_end(event.id)
        if len(self.cache) > CACHE_EVENTS:
            self.cache.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Stub:
    """Just enough of a stored event to place another one in the record graph."""

    id: bytes
    kind: str
    ref: bytes | None


@dataclass(slots=True)
class Commit:
    """What a committed batch changes in memory."""

    stored: list[Event]
    tombstoned: list[tuple[int, bytes]]
    identity: Identity | None
    seq: int


async def _stubs(db: aiosqlite.Connection, ids: Iterable[bytes]) -> dict[bytes, _Stub]:
    rows = await select_in(db, "SELECT id, kind, ref FROM events WHERE id IN {in}", ids)
    return {event_id: _Stub(event_id, kind, ref) for event_id, kind, ref in rows}


async def _tombstoned(db: aiosqlite.Connection, ids: Iterable[bytes]) -> set[bytes]:
    rows = await select_in(db, "SELECT id FROM tombstones WHERE id IN {in}", ids)
    return {row[0] for row in rows}


async def write_batch(
    db: aiosqlite.Connection, memory: Memory, fresh: list[Event], now_ms: int
) -> Commit:
    """Everything one batch of new events changes, inside the open transaction."""
    lookup: dict[bytes, Placeable] = {e.id: e for e in fresh}
    # Events stored earlier that were waiting for one of these: place them again now.
    waiters = await select_in(db, "SELECT event FROM waiting WHERE missing IN {in}", lookup)
    woken = await _stubs(db, [row[0] for row in waiters])
    lookup.update(woken)
    # Fetch refs (two hops: a receipt's pledge's record) not in this batch.
    for _ in range(2):
        refs = {e.ref for e in list(lookup.values()) if e.ref is not None} - lookup.keys()
        lookup.update(await _stubs(db, refs))
    placed: dict[bytes, bytes] = {}
    waits: dict[bytes, bytes] = {}
    candidates: list[Placeable] = [*fresh, *woken.values()]
    for item in candidates:
        place = record_of(item, lookup)
        if isinstance(place, bytes):
            placed[item.id] = place
        elif isinstance(place, tuple):
            waits[item.id] = place[1]
    # An event whose missing ref was purged is about a purged record: keep a tombstone only,
    # so it is neither stored forever nor fetched again (docs/storage.md, purge).
    dead = await _tombstoned(db, set(waits.values()))
    obsolete = {i for i, missing in waits.items() if missing in dead}
    stored = [e for e in fresh if e.id not in obsolete]
    tombstoned = [(e.hlc, e.id) for e in fresh if e.id in obsolete]
    await db.executemany(
        "INSERT INTO events (id, hlc, kind, author, ref, record, payload, sig, received_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (e.id, e.hlc, e.kind, e.author, e.ref, placed.get(e.id), e.payload, e.sig, now_ms)
            for e in stored
        ],
    )
    await db.executemany(
        "INSERT INTO tombstones (id, hlc) VALUES (?, ?)", [(i, h) for h, i in tombstoned]
    )
    woken_ids = list(woken)
    for chunk in chunks(woken_ids):
        await db.execute(f"DELETE FROM waiting WHERE event IN ({marks(len(chunk))})", chunk)
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
        identity_events = [*memory.identity_events.values()]
        identity_events += [e for e in stored if e.kind in IDENTITY_KINDS]
        identity = build_identity(identity_events)
        before, after = memory.identity.facts(), identity.facts()
        changed = [k for k in before.keys() | after.keys() if before.get(k) != after.get(k)]
        affected |= await _records_by_authors(db, changed)
    current = identity or memory.identity
    await _refold(db, memory, affected, current, {e.id: e for e in stored}, identity is not None)
    await _refresh_trust_views(db, memory, stored, identity)
    seq = await scalar(db, "SELECT coalesce(max(seq), 0) FROM events")
    return Commit(stored, tombstoned, identity, seq)


async def _records_by_authors(db: aiosqlite.Connection, keys: list[bytes]) -> set[bytes]:
    sql = "SELECT DISTINCT record FROM events WHERE author IN {in} AND record IS NOT NULL"
    return {row[0] for row in await select_in(db, sql, keys)}


async def _refold(
    db: aiosqlite.Connection,
    memory: Memory,
    record_ids: set[bytes],
    identity: Identity,
    batch: dict[bytes, Event],
    identity_changed: bool,
) -> None:
    """Re-fold the given records from their stored events and rewrite their rows."""
    ordered = sorted(record_ids)
    members: dict[bytes, list[bytes]] = defaultdict(list)
    for record, event_id in await select_in(
        db, "SELECT record, id FROM events WHERE record IN {in}", ordered
    ):
        members[record].append(event_id)
    events = await _events(db, memory, [i for ids in members.values() for i in ids], batch)
    views: list[RecordView] = []
    for record_id in ordered:
        create = events.get(record_id)
        if create is None or create.kind not in RECORD_KINDS:
            continue
        related = [events[i] for i in members[record_id] if i != record_id]
        views.append(fold_record(create, related, identity))
    # Without an identity change, new events only add effects to a record (docs/storage.md).
    await write_records(db, [v.id for v in views], views, only_growing=not identity_changed)


async def _events(
    db: aiosqlite.Connection, memory: Memory, ids: list[bytes], batch: dict[bytes, Event]
) -> dict[bytes, Event]:
    """Decoded events by id, from the batch, the cache, or the database."""
    found: dict[bytes, Event] = {}
    missing = []
    for event_id in ids:
        event = batch.get(event_id) or memory.cache.get(event_id)
        if event is None:
            missing.append(event_id)
        else:
            found[event_id] = event
    for payload, sig in await select_in(
        db, "SELECT payload, sig FROM events WHERE id IN {in}", missing
    ):
        event = decode_stored(payload, sig)
        found[event.id] = event
        memory.cache_put(event)
    return found


async def _refresh_trust_views(
    db: aiosqlite.Connection, memory: Memory, stored: list[Event], identity: Identity | None
) -> None:
    endorse = {e.id: e for e in stored if e.kind == Kind.ENDORSE}
    revocations = defaultdict(list, {k: list(v) for k, v in memory.revocations.items()})
    for event in stored:
        if event.kind == Kind.REVOKE and event.ref is not None:
            revocations[event.ref].append(event)
    current = identity or memory.identity
    if identity is not None:  # identity changed: every endorsement may read differently
        endorse = {**memory.endorse_events, **endorse}
    await write_endorsements(
        db,
        [endorsement_view(e, current, revocations.get(e.id, ())) for e in endorse.values()],
    )
    if identity is not None or any(e.kind == Kind.PROFILE for e in stored):
        profiles = [*memory.profile_events.values()]
        profiles += [e for e in stored if e.kind == Kind.PROFILE]
        await write_profiles(db, profiles_of(profiles, current).values())
