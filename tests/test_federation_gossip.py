"""Gossip's pieces: live-push fan-out (echo suppression, bounded queues), the backoff schedule,
persisted peer state, and rounds between nodes served in-process (quick; the multi-process
behaviour is in test_federation_line/partition/restart/hostile).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from node.clock import SystemClock
from node.demo_federation import Relay
from node.federation import gossip
from node.federation.gossip import GossipSettings
from node.federation.peers import (
    BACKOFF_BASE_MS,
    BACKOFF_CAP_MS,
    RoundReport,
    add_peer,
    next_backoff_ms,
    peer_states,
    record_round,
    remove_peer,
)
from node.federation.push import QUEUE_FRAMES, Broadcaster, Frame
from node.service import NodeService, ServiceSettings
from node.storage import Store
from protocol import Event
from protocol.federation import MAX_BATCH_EVENTS, StreamFrame
from sync.clock import ManualClock
from sync.reconcile import Limits
from tests.builders import World
from tests.federation_harness import (
    eventually,
    fake_peer,
    free_port,
    service_in_process,
    service_url,
)

NOW = 1_800_000_000_000
P, Q = b"p" * 32, b"q" * 32


@pytest.fixture
def events() -> list[Event]:
    world = World(NOW)
    ward = world.org("ward")
    return [world.need(ward) for _ in range(3)]


# -- the broadcaster ----------------------------------------------------------------------------


def frames(queue: asyncio.Queue[Frame]) -> list[StreamFrame]:
    out = []
    while not queue.empty():
        frame = queue.get_nowait()
        decoded = StreamFrame.decode(frame.data)
        assert frame.events == len(decoded.events)
        out.append(decoded)
    return out


def test_new_events_go_to_every_stream_but_the_one_they_came_from(events: list[Event]) -> None:
    broadcaster = Broadcaster()
    p, q, anonymous = (
        broadcaster.subscribe(P),
        broadcaster.subscribe(Q),
        broadcaster.subscribe(None),
    )
    broadcaster.on_commit(events, origin=P)  # events that came from peer P
    wires = tuple(e.wire for e in events)
    assert [f.events for f in frames(q.queue)] == [wires]
    assert [f.events for f in frames(anonymous.queue)] == [wires]
    assert frames(p.queue) == []
    broadcaster.on_commit(events, origin=None)  # this node's own events go everywhere
    assert all(len(frames(s.queue)) == 1 for s in (p, q, anonymous))


def test_a_full_queue_drops_frames_for_that_stream_only(events: list[Event]) -> None:
    broadcaster = Broadcaster()
    slow, fast = broadcaster.subscribe(P), broadcaster.subscribe(Q)
    for _ in range(QUEUE_FRAMES):
        broadcaster.on_commit(events[:1], origin=None)
        fast.queue.get_nowait()  # the fast peer keeps up
    assert slow.queue.full() and slow.dropped == 0
    broadcaster.on_commit(events[:1], origin=None)
    assert (slow.dropped, fast.dropped) == (1, 0)
    assert fast.queue.qsize() == 1
    assert broadcaster.frames_sent == 2 * QUEUE_FRAMES + 1


def test_big_commits_are_split_into_frames_a_peer_accepts() -> None:
    world = World(NOW)
    ward = world.org("ward")
    many = [world.offer(ward) for _ in range(MAX_BATCH_EVENTS + 5)]
    broadcaster = Broadcaster()
    stream = broadcaster.subscribe(P)
    broadcaster.on_commit(many, origin=None)
    assert [len(f.events) for f in frames(stream.queue)] == [MAX_BATCH_EVENTS, 5]


def test_a_disabled_broadcaster_and_unsubscribed_streams_get_nothing(
    events: list[Event],
) -> None:
    off = Broadcaster(enabled=False)
    stream = off.subscribe(P)
    off.on_commit(events, origin=None)
    assert stream.queue.empty()
    on = Broadcaster()
    gone = on.subscribe(P)
    on.unsubscribe(gone)
    on.on_commit(events, origin=None)
    assert gone.queue.empty() and on.connected == 0


# -- backoff ------------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    rng = random.Random(7)
    assert next_backoff_ms(0, rng) == 0
    for failures in range(1, 40):
        ceiling = min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (failures - 1))
        draws = [next_backoff_ms(failures, rng) for _ in range(200)]
        assert all(ceiling // 2 <= d <= ceiling for d in draws), failures
        assert len(set(draws)) > 50  # jittered, so peers that failed together spread out
    assert next_backoff_ms(10**9, rng) <= BACKOFF_CAP_MS  # no overflow however long it fails


# -- persisted peer state -----------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "node.sqlite", clock=ManualClock(NOW))
    yield opened
    await opened.close()


async def test_peer_state_records_rounds_failures_and_backoff(store: Store) -> None:
    rng = random.Random(1)
    url = await add_peer(store, "http://127.0.0.1:9/", NOW)
    assert url == "http://127.0.0.1:9"
    assert await add_peer(store, url, NOW + 5) == url  # idempotent
    [fresh] = await peer_states(store)
    assert (fresh.rounds, fresh.next_attempt_ms, fresh.lag_ms(NOW)) == (0, 0, None)

    failed = RoundReport(outcome="unreachable", error=f"{url}: connection refused", bytes_out=10)
    states = [await record_round(store, url, failed, NOW + i, rng, interval_ms=1000)
              for i in range(3)]  # fmt: skip
    last = states[-1]
    assert last is not None
    assert (last.failures, last.rounds, last.bytes_out, last.last_success_ms) == (3, 3, 30, None)
    assert 2 * BACKOFF_BASE_MS <= last.backoff_ms <= 4 * BACKOFF_BASE_MS
    assert last.next_attempt_ms == NOW + 2 + last.backoff_ms
    assert last.last_error == f"{url}: connection refused"

    good = RoundReport(
        ok=True, outcome="ok", in_sync=True, node_key=P, org_key=Q, name="B", events_in=4
    )
    after = await record_round(store, url, good, NOW + 10, rng, interval_ms=1000)
    assert after is not None
    assert (after.failures, after.backoff_ms, after.next_attempt_ms) == (0, 0, NOW + 1010)
    assert (after.in_sync, after.lag_ms(NOW + 50), after.last_success_ms) == (True, 0, NOW + 10)
    assert (after.node_key, after.name, after.events_in, after.rounds) == (P, "B", 4, 4)

    out_of_sync = RoundReport(ok=True, outcome="ok", in_sync=False)
    later = await record_round(store, url, out_of_sync, NOW + 20, rng, interval_ms=1000)
    assert later is not None and later.lag_ms(NOW + 120) == 110  # since last known in sync
    assert later.node_key == P  # a report without the key keeps the pinned one

    assert await remove_peer(store, url)
    assert await record_round(store, url, good, NOW + 30, rng, interval_ms=1) is None


# -- rounds between nodes served in-process -----------------------------------------------------

QUICK = ServiceSettings(
    gossip=GossipSettings(interval_s=60.0, request_timeout_s=2.0, round_timeout_s=3.0)
)


async def test_a_round_exchanges_what_each_side_lacks(tmp_path: Path) -> None:
    world = World(SystemClock().now_ms())
    ward, convoy = world.org("ward"), world.org("convoy")
    async with (
        service_in_process(tmp_path, "a", settings=QUICK) as a,
        service_in_process(tmp_path, "b", settings=QUICK) as b,
    ):
        await a.node.store.add([world.need(ward) for _ in range(30)])
        await b.node.store.add([world.offer(convoy) for _ in range(20)])
        await add_peer(a.node.store, service_url(b), SystemClock().now_ms())
        [state] = await a.federation.sync_now(timeout_s=10)
        assert (state.last_outcome, state.in_sync, state.failures) == ("ok", True, 0)
        assert (state.events_in, state.events_out) == (22, 32)  # with each org's founding
        assert state.node_key == b.hello.node and state.name == "b"
        ids_a = {e.id for e in await a.node.store.all_events()}
        ids_b = {e.id for e in await b.node.store.all_events()}
        assert ids_a == ids_b and len(ids_a) == 54
        [again] = await a.federation.sync_now(timeout_s=10)
        assert (again.rounds, again.events_in, again.in_sync) == (2, 22, True)


async def test_a_dead_or_stalling_peer_delays_only_itself(tmp_path: Path) -> None:
    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    world = World(SystemClock().now_ms())
    async with (
        fake_peer([web.post("/fed/v1/hello", stall)]) as staller,
        service_in_process(tmp_path, "a", settings=QUICK) as a,
        service_in_process(tmp_path, "b", settings=QUICK) as b,
    ):
        now = SystemClock().now_ms()
        dead = "http://127.0.0.1:9"  # discard port: nothing listens
        for url in (dead, staller, service_url(b)):
            await add_peer(a.node.store, url, now)
        await b.node.store.add([world.need(world.org("ward"))])
        started = asyncio.get_running_loop().time()
        states = {s.url: s for s in await a.federation.sync_now(timeout_s=1.5)}
        # The honest peer's round finished long before the stalling one could time out.
        assert states[service_url(b)].last_outcome == "ok"
        assert asyncio.get_running_loop().time() - started < 2.0
        assert states[dead].last_outcome == "unreachable"
        # (sync_now may add a triggered round to one that was already due: 1 or 2 failures)
        assert states[dead].failures >= 1 and states[dead].backoff_ms >= BACKOFF_BASE_MS // 2
        assert states[dead].next_attempt_ms > now
        await eventually(
            lambda: _outcome(a, staller),
            timeout_s=10,
            what="the stalling peer's round to time out",
        )
        [stalled] = [s for s in await peer_states(a.node.store) if s.url == staller]
        assert stalled.last_outcome == "timeout" and stalled.failures == 1


async def _outcome(service: NodeService, url: str) -> bool:
    states = {s.url: s for s in await peer_states(service.node.store)}
    return states[url].last_outcome is not None


async def test_live_push_carries_a_new_event_without_waiting_for_a_round(
    tmp_path: Path,
) -> None:
    world = World(SystemClock().now_ms())
    async with (
        service_in_process(tmp_path, "a", settings=QUICK) as a,
        service_in_process(tmp_path, "b", settings=QUICK) as b,
    ):
        await add_peer(a.node.store, service_url(b), SystemClock().now_ms())
        await a.federation.sync_now(timeout_s=10)  # pins b's key; the stream opens next
        await eventually(
            lambda: a.federation.streams_open.get(service_url(b), False),
            timeout_s=10,
            what="a's stream to b to open",
        )
        need = world.need(world.org("ward"))
        await a.node.store.add([need])  # a's own write
        await eventually(lambda: _holds(b, need), timeout_s=5, what="the need pushed from a to b")
        offer = world.offer(world.org("convoy"))
        await b.node.store.add([offer])  # and the other way over the same socket
        await eventually(lambda: _holds(a, offer), timeout_s=5, what="the offer pushed from b to a")
        [state] = await peer_states(a.node.store)
        assert state.rounds == 1  # no round carried them
        assert (state.events_in, state.events_out) == (2, 2)  # the founding events
        # What the stream carried shows in the peer's state after the next round.
        [state] = await a.federation.sync_now(timeout_s=10)
        assert (state.rounds, state.in_sync) == (2, True)
        assert (state.events_in, state.events_out) == (3, 3)


async def test_a_round_that_reaches_the_peer_reopens_its_stream_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a partition heals, push resumes with the first round that gets through, not
    when the stream's backoff (up to 30 s) runs out."""
    monkeypatch.setattr(gossip, "STREAM_BACKOFF_BASE_S", 60.0)  # a retry would be a minute away
    async with (
        service_in_process(tmp_path, "a", settings=QUICK) as a,
        service_in_process(tmp_path, "b", settings=QUICK) as b,
    ):
        link = Relay(b.port)  # the network between a and b, which the test can cut
        await link.start()
        url = f"http://127.0.0.1:{link.port}"
        try:
            await add_peer(a.node.store, url, SystemClock().now_ms())
            await a.federation.sync_now(timeout_s=10)

            def stream_open() -> bool:
                return a.federation.streams_open.get(url, False)

            await eventually(stream_open, timeout_s=10, what="a's stream to b to open")
            await link.cut()
            await eventually(lambda: not stream_open(), timeout_s=10, what="the stream to drop")
            await link.heal()
            [state] = await a.federation.sync_now(timeout_s=10)
            assert state.last_outcome == "ok"
            await eventually(stream_open, timeout_s=5, what="the stream to reopen")
        finally:
            await link.close()


async def test_an_unreachable_peer_is_reported_with_nothing_sent(tmp_path: Path) -> None:
    async with service_in_process(tmp_path, "a", settings=QUICK) as a:
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        await add_peer(a.node.store, url, SystemClock().now_ms())
        [state] = await a.federation.sync_now(timeout_s=10)
        assert (state.last_outcome, state.failures, state.last_success_ms) == (
            "unreachable",
            1,
            None,
        )
        assert state.last_error is not None and url in state.last_error
        assert (state.bytes_out, state.bytes_in, state.events_out) == (0, 0, 0)


async def _holds(service: NodeService, event: Event) -> bool:
    found, _ = await service.node.store.wires([event.id])
    return event.id in found


async def test_a_starting_node_syncs_at_once_whatever_the_last_run_scheduled(
    tmp_path: Path,
) -> None:
    async with service_in_process(tmp_path, "b", settings=QUICK) as b:
        first = service_in_process(tmp_path, "a", settings=QUICK)
        async with first as a:
            await add_peer(a.node.store, service_url(b), SystemClock().now_ms())
            [state] = await a.federation.sync_now(timeout_s=10)
            assert state.rounds == 1
            # As if the last run used a one-hour interval: the next round is an hour away.
            report = RoundReport(ok=True, outcome="ok", in_sync=True)
            hour = 3_600_000
            now = SystemClock().now_ms()
            await record_round(
                a.node.store, state.url, report, now, random.Random(), interval_ms=hour
            )
        again = service_in_process(tmp_path, "a", settings=QUICK, fresh=False)
        async with again as a:
            await eventually(
                lambda: _rounds(a, 3), timeout_s=5, what="a round right after the restart"
            )


async def _rounds(service: NodeService, at_least: int) -> bool:
    [state] = await peer_states(service.node.store)
    return state.rounds >= at_least


async def test_a_long_reconciliation_goes_on_over_several_rounds(tmp_path: Path) -> None:
    # Small frames and six replies per round: catching up on 3000 events takes many rounds,
    # each moving what it found, each followed at once by the next.
    settings = ServiceSettings(
        gossip=GossipSettings(
            interval_s=60.0, max_session_rounds=6, reconcile=Limits(max_frame_bytes=4096)
        )
    )
    world = World(SystemClock().now_ms())
    ward = world.org("ward")
    async with (
        service_in_process(tmp_path, "a", settings=settings) as a,
        service_in_process(tmp_path, "b", settings=settings) as b,
    ):
        await b.node.store.add([world.offer(ward) for _ in range(3000)])
        await add_peer(a.node.store, service_url(b), SystemClock().now_ms())

        async def caught_up() -> bool:
            states = await peer_states(a.node.store)
            return bool(states) and states[0].in_sync

        await eventually(caught_up, timeout_s=30, what="a to catch up round after round")
        [state] = await peer_states(a.node.store)
        assert state.rounds >= 3 and state.events_in == 3002
        assert await a.node.store.event_count() == await b.node.store.event_count() == 3004
