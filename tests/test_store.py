"""The node store on real SQLite files: ingest outcomes, materialised fold, queries, purge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node.storage import OutcomeStatus, RecordQuery, Store
from protocol import Event, ReasonCode
from sync.clock import ManualClock
from sync.fold import fold
from sync.views import Progress, Status
from tests.builders import DAY_MS, START_MS, World


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "node.sqlite", clock=clock, workers=2)
    yield store
    await store.close()


@pytest.fixture
def world() -> World:
    return World()


def wires(*events: Event) -> list[bytes]:
    return [e.wire for e in events]


async def test_ingest_reports_an_outcome_per_event_in_order(store: Store, world: World) -> None:
    ward = world.org("ward")
    need = world.need(ward)
    bad_sig = bytearray(need.wire)
    bad_sig[-1] ^= 1
    outcomes = await store.ingest([need.wire, b"\x00garbage", bytes(bad_sig), need.wire])
    assert [o.status for o in outcomes] == [
        OutcomeStatus.ACCEPTED,
        OutcomeStatus.REJECTED,
        OutcomeStatus.REJECTED,
        OutcomeStatus.DUPLICATE,
    ]
    assert outcomes[0].event_id == need.id
    assert outcomes[1].code is ReasonCode.MALFORMED
    assert outcomes[2].code is ReasonCode.BAD_SIGNATURE
    assert await store.event_count() == 1


async def test_reingesting_a_batch_is_a_no_op(store: Store, world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    batch = wires(need, world.pledge(convoy, need), world.verify(convoy, need))
    assert {o.status for o in await store.ingest(batch)} == {OutcomeStatus.ACCEPTED}
    before = await store.counts()
    assert {o.status for o in await store.ingest(batch)} == {OutcomeStatus.DUPLICATE}
    assert await store.counts() == before
    assert await store.check() == []


async def test_materialised_state_follows_the_story_across_batches(
    store: Store, world: World
) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward, [("N95 respirator", "medical.ppe", 1000)])
    pledge = world.pledge(convoy, need, qty=1000)
    receipt = world.receipt(ward, pledge, 1000)
    # Arrive out of order, in separate batches: the receipt waits for its pledge and record.
    for event in (receipt, pledge, need):
        await store.ingest([event.wire])
    [summary] = await store.list_records(RecordQuery())
    assert summary.status is Status.FULFILLED
    assert summary.fulfil_status is Progress.COMPLETE
    assert summary.lines[0].received == 1000
    assert await store.check() == []


async def test_record_shows_its_full_history_and_ignored_events(store: Store, world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    hijack = world.update(convoy, need, title="mine now")
    await store.ingest(wires(need, hijack))
    found = await store.record(need.id)
    assert found is not None
    view, history = found
    assert [e.id for e in history] == [need.id, hijack.id]
    assert [i.id for i in view.ignored] == [hijack.id]
    assert await store.record(b"\x00" * 32) is None


async def test_list_filters(store: Store, world: World, clock: ManualClock) -> None:
    ward, convoy, masks = world.org("ward"), world.org("convoy"), world.org("masks")
    urgent = world.need(ward, [("N95 respirator", "medical.ppe", 100)], urgency="24h")
    food = world.need(
        ward, [("rice (10 kg)", "food.groceries", 5)], region="CN-HB-HG", urgency="1w"
    )
    offer = world.offer(masks, [("surgical mask", "medical.ppe", 5000)], region="CN-GD-SZ")
    short = world.need(ward, [("goggles", "medical.ppe", 5)], expires_in_days=1)
    pledge = world.pledge(convoy, food, qty=5)
    verify = world.verify(masks, urgent)
    await store.ingest(wires(urgent, food, offer, short, pledge, verify))
    clock.advance(2 * DAY_MS)

    async def ids(**filters: object) -> list[bytes]:
        return [r.id for r in await store.list_records(RecordQuery(**filters))]  # type: ignore[arg-type]

    assert await ids(kind="offer") == [offer.id]
    assert set(await ids(region="CN-HB")) == {urgent.id, food.id, short.id}
    assert await ids(region="CN-HB-HG") == [food.id]
    assert set(await ids(category="medical")) == {urgent.id, offer.id, short.id}
    assert await ids(text="RICE") == [food.id]
    assert await ids(status=Status.EXPIRED) == [short.id]
    assert await ids(pledge_status=Progress.COMPLETE) == [food.id]
    assert await ids(verified=True) == []  # masks is not (yet) an accepted verifier here
    await store.set_accepted("verifier", [masks.id])
    assert await ids(verified=True) == [urgent.id]
    everything = await ids()
    assert everything[0] == urgent.id  # most urgent first
    assert await ids(limit=1, offset=1) == everything[1:2]


async def test_counts_by_kind_and_status(store: Store, world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    await store.ingest(wires(need, world.withdraw(ward, need), world.need(convoy)))
    counts = await store.counts()
    assert counts.events_by_kind == {"need": 2, "withdraw": 1}
    assert counts.records_by_status == {"open": 1, "withdrawn": 1}


async def test_identity_events_refold_the_records_they_touch(store: Store, world: World) -> None:
    ward = world.org("ward")
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("post",))
    need = world.need(operator)
    await store.ingest(wires(need))
    # Before the delegation arrives the key is a bare key: its own org.
    assert (await store.list_records(RecordQuery()))[0].org == operator.public_key
    await store.ingest(wires(grant))
    [summary] = await store.list_records(RecordQuery())
    assert summary.org == ward.id
    await store.ingest(wires(world.revoke_key(ward, operator.public_key, "compromised")))
    assert await store.list_records(RecordQuery()) == []  # void records are not listed
    assert [r.id for r in await store.list_records(RecordQuery(status=Status.VOID))] == [need.id]
    assert await store.check() == []


async def test_purge_leaves_tombstones_and_drops_late_copies(
    store: Store, world: World, clock: ManualClock
) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward, expires_in_days=1)
    pledge = world.pledge(convoy, need)
    keep = world.need(ward, expires_in_days=90)
    await store.ingest(wires(need, pledge, keep))
    clock.advance(10 * DAY_MS)
    assert await store.purge() == 0  # within the 30-day horizon
    clock.advance(25 * DAY_MS)
    assert await store.purge() == 2
    assert [r.id for r in await store.list_records(RecordQuery())] == [keep.id]
    late_receipt = world.receipt(ward, pledge, 10)  # about a purged pledge
    outcomes = await store.ingest(wires(need, pledge, late_receipt))
    assert [o.status for o in outcomes] == [OutcomeStatus.DUPLICATE] * 3
    counts = await store.counts()
    assert counts.tombstones == 3
    assert counts.events_by_kind == {"need": 1}
    assert await store.check() == []


async def test_store_state_equals_the_fold_after_a_mixed_run(store: Store, world: World) -> None:
    orgs = [world.org(n) for n in ("ward", "convoy", "masks")]
    events: list[Event] = []
    for i in range(12):
        need = world.need(orgs[i % 3])
        events.append(need)
        pledge = world.pledge(orgs[(i + 1) % 3], need, qty=10 + i)
        events += [pledge, world.deliver(orgs[(i + 1) % 3], pledge, 5)]
        events += [world.receipt(orgs[i % 3], pledge, 5), world.verify(orgs[(i + 2) % 3], need)]
        events.append(world.update(orgs[(i + 2) % 3], need, title="not yours"))
    events.append(world.endorse(orgs[0], orgs[1]))
    events.append(world.profile(orgs[0], "Ward 3"))
    # Reverse order in small batches: most events wait for their refs first.
    rev = list(reversed(events))
    for start in range(0, len(rev), 7):
        await store.ingest(wires(*rev[start : start + 7]))
    assert await store.check() == []
    state = fold(events)
    listed = await store.list_records(RecordQuery(limit=100))
    assert {r.id for r in listed} == set(state.records)


async def test_two_processes_writing_one_file_miss_nothing(
    tmp_path: Path, clock: ManualClock, world: World
) -> None:
    """Another process's commit landing while we prepare our own write must still be loaded
    into memory, indexed and announced (the CLI writes while `aidnode run` runs)."""
    path = tmp_path / "shared.sqlite"
    running = await Store.open(path, clock=clock)
    command = await Store.open(path, clock=clock)
    await running.build_index()
    announced: list[bytes] = []
    running.add_listener(lambda events, origin: announced.extend(e.id for e in events))
    ward, convoy = world.org("ward"), world.org("convoy")
    theirs, mine = world.need(convoy), world.need(ward)
    others: list[asyncio.Task[object]] = []
    checking = running._known

    async def known_with_a_rival_write(*args: object) -> set[bytes]:
        # The other process tries to commit right between our catch-up and our write.
        if not others:
            others.append(asyncio.create_task(command.ingest(wires(theirs))))
            await asyncio.sleep(0.05)
        return await checking(*args)  # type: ignore[arg-type]

    running._known = known_with_a_rival_write  # type: ignore[method-assign]
    await running.ingest(wires(mine))
    await others[0]
    await running.catch_up()
    assert set(announced) == {mine.id, theirs.id}
    assert running.index is not None
    assert {k[1] for k in running.index} == {mine.id, theirs.id}
    assert await running.check() == []
    await command.close()
    await running.close()
