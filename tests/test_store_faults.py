"""Store faults and schema migration: clear StorageErrors naming the file, nothing half-applied."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from node.errors import StorageError
from node.storage import OutcomeStatus, RecordQuery, Store
from node.storage.schema import SCHEMA_VERSION, migrate
from sync.clock import ManualClock
from tests.builders import START_MS, World


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


async def test_a_full_disk_gives_a_storage_error_and_keeps_what_was_stored(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "node.sqlite"
    world = World()
    ward = world.org("ward")
    store = await Store.open(path, clock=clock)
    first = world.need(ward)
    await store.ingest([first.wire])
    # Cap the file at its current size: the next batch cannot fit (SQLITE_FULL, as on a
    # full disk: SQLite reports both the same way).
    async with store._db.execute("PRAGMA page_count") as cursor:
        pages = (await cursor.fetchone())[0]  # type: ignore[index]
    await store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = [world.need(ward, note="x" * 1500).wire for _ in range(200)]
    with pytest.raises(StorageError) as info:
        await store.ingest(big)
    assert str(path) in str(info.value)
    assert "disk full" in info.value.cause
    await store._db.execute("PRAGMA max_page_count = 1073741823")
    assert await store.event_count() == 1  # nothing of the failed batch, the first intact
    assert await store.check() == []
    # And the store still works once there is room again.
    outcomes = await store.ingest(big[:3])
    assert {o.status for o in outcomes} == {OutcomeStatus.ACCEPTED}
    await store.close()


async def test_a_read_only_file_can_be_read_but_writes_give_a_storage_error(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "node.sqlite"
    world = World()
    ward = world.org("ward")
    store = await Store.open(path, clock=clock)
    await store.ingest([world.need(ward).wire])
    await store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    await store.close()
    path.chmod(0o444)
    store = await Store.open(path, clock=clock)
    assert store.read_only
    assert len(await store.list_records(RecordQuery())) == 1
    with pytest.raises(StorageError, match="read-only") as info:
        await store.ingest([world.need(ward).wire])
    assert info.value.path == str(path)
    await store.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated_header"])
async def test_a_corrupt_file_gives_a_storage_error_naming_it(
    tmp_path: Path, clock: ManualClock, damage: str
) -> None:
    path = tmp_path / "node.sqlite"
    store = await Store.open(path, clock=clock)
    await store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    await store.close()
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not an sqlite database, it is a shopping list" * 100)
    else:
        path.write_bytes(b"\x00" * 100 + data[100:])
    with pytest.raises(StorageError) as info:
        await Store.open(path, clock=clock)
    assert str(path) in str(info.value)
    assert "corrupt" in info.value.cause or "not a database" in info.value.cause


async def test_a_file_from_a_newer_aidnode_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "node.sqlite"
    async with aiosqlite.connect(path) as db:
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="upgrade aidnode"):
        await Store.open(path, clock=clock)


async def test_an_older_schema_is_migrated_and_its_events_folded(
    tmp_path: Path, clock: ManualClock
) -> None:
    """A file written by schema version 1 (events only) gains the materialised tables, filled
    by folding the events it already held."""
    path = tmp_path / "old.sqlite"
    world = World()
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    pledge = world.pledge(convoy, need, qty=250)
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await migrate(db, upto=1) == 0
        await db.executemany(
            "INSERT INTO events (id, hlc, kind, author, ref, record, payload, sig, received_ms)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 0)",
            [(e.id, e.hlc, e.kind, e.author, e.ref, e.payload, e.sig) for e in (need, pledge)],
        )
        with pytest.raises(sqlite3.OperationalError):
            await db.execute("SELECT * FROM records")
    store = await Store.open(path, clock=clock)
    async with store._db.execute("PRAGMA user_version") as cursor:
        assert (await cursor.fetchone())[0] == SCHEMA_VERSION  # type: ignore[index]
    [summary] = await store.list_records(RecordQuery())
    assert summary.id == need.id and summary.lines[0].pledged == 250
    assert await store.check() == []
    await store.close()
