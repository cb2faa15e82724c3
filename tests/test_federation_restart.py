"""A node SIGKILLed in the middle of a sync catches up when restarted, with its persisted peer
state intact: the round in flight is simply lost (never half-recorded), the counters carry on
from where the last recorded round left them, and nothing in the database is corrupt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.signing import SigningIdentity
from node.clock import SystemClock
from node.storage import Store
from protocol import Event, sign_event
from sync.clock import ManualClock
from sync.hlc import pack
from tests.federation_harness import Cluster, NodeHandle, eventually

pytestmark = pytest.mark.slow

BULK = 20_000


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path) as nodes:
        yield nodes


def bulk_events(count: int) -> list[Event]:
    """Many small valid events, cheap to make: an opaque kind (stored and relayed, ignored by
    the fold), a few authors, hlc a day back and increasing."""
    authors = [SigningIdentity(bytes([40 + i]) * 32) for i in range(4)]
    start = SystemClock().now_ms() - 86_400_000
    return [
        sign_event(authors[i % 4], "bulk_item", pack(start + i, 0), {"n": i}) for i in range(count)
    ]


async def problems(handle: NodeHandle) -> list[str]:
    store = await Store.open(handle.home.db_path, clock=ManualClock(), workers=1)
    try:
        return await store.check()
    finally:
        await store.close()


async def test_an_initiator_killed_mid_sync_catches_up_with_its_peer_state_intact(
    cluster: Cluster,
) -> None:
    # Anti-entropy only, so the bulk moves in a round (fetches of 1000 ids) we can interrupt.
    a = cluster.make("a", sync_interval_s=0.5, push=False)
    b = cluster.make("b", sync_interval_s=0.5, push=False)
    cluster.link(a, b)
    cluster.start_all()
    await eventually(lambda: a.peer_rows()[b.url]["rounds"] >= 3, timeout_s=15, what="a few rounds")
    before = a.peer_list_json()[0]
    assert before["in_sync"] and before["last_outcome"] == "ok"

    await b.add_events(bulk_events(BULK))  # b's own writes, picked up by its catch-up
    target = b.event_ids()
    await eventually(
        lambda: len(a.event_ids()) > len(target) // 10,
        timeout_s=30,
        interval_s=0.01,
        what="a to be part way through fetching the bulk",
    )
    cluster.kill(a)
    held = a.event_ids()
    assert len(held) < len(target), "the round finished before the kill; raise BULK"

    # Down: the database is sound and the CLI reads the persisted state.
    assert await problems(a) == []
    killed = a.peer_list_json()[0]
    for field in ("url", "node_key", "org_key", "name", "added_ms"):
        assert killed[field] == before[field]
    assert killed["rounds"] >= before["rounds"]
    assert killed["failures"] == 0  # the interrupted round is not recorded as anything

    cluster.start(a)
    await eventually(
        lambda: a.event_ids() == target,
        timeout_s=60,
        what="a to catch up after the restart",
        detail=lambda: (len(a.event_ids()), len(target)),
    )
    await eventually(
        lambda: a.peer_rows()[b.url]["in_sync"] == 1,
        timeout_s=10,
        what="a to record a round in sync",
    )
    after = a.peer_list_json()[0]
    assert after["rounds"] > killed["rounds"]  # counting on from the persisted value
    assert after["events_in"] > killed["events_in"]
    assert (after["last_outcome"], after["failures"], after["node_key"]) == (
        "ok",
        0,
        before["node_key"],
    )
    cluster.stop(a)
    assert await problems(a) == []


async def test_a_responder_killed_mid_sync_is_backed_off_and_caught_up_after(
    cluster: Cluster,
) -> None:
    a = cluster.make("a", sync_interval_s=0.5, push=False)
    b = cluster.make("b", sync_interval_s=0.5, push=False)
    cluster.link(a, b)
    await b.add_events(bulk_events(BULK))
    cluster.start_all()
    target = b.event_ids()
    await eventually(
        lambda: len(a.event_ids()) > len(target) // 10,
        timeout_s=30,
        interval_s=0.01,
        what="a to be part way through fetching the bulk",
    )
    cluster.kill(b)

    def failing() -> bool:
        row = a.peer_rows()[b.url]
        return row["failures"] >= 2

    await eventually(failing, timeout_s=20, what="a to record failed rounds with b")
    row = a.peer_rows()[b.url]
    assert row["last_outcome"] in {"unreachable", "connection_failed", "timeout"}
    assert row["backoff_ms"] > 0 and row["next_attempt_ms"] > row["last_attempt_ms"]
    assert a.running

    cluster.start(b)
    await eventually(
        lambda: a.event_ids() == b.event_ids() and target <= b.event_ids(),
        timeout_s=60,
        what="a and b to agree once b is back",
        detail=lambda: (len(a.event_ids()), len(b.event_ids())),
    )
    await eventually(lambda: a.peer_rows()[b.url]["failures"] == 0, timeout_s=10, what="a success")
    assert await problems(b) == []
