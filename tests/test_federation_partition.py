"""A partition heals: two halves of a federation of real nodes diverge, with conflicting
writes about the same record on both sides; once the link between them is back, every node
holds the same events and the same derived state, and the conflicts resolve the same way
everywhere (last writer by (hlc, id) for fields, withdrawal over any update).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.clock import SystemClock
from node.storage import Store
from sync.clock import ManualClock
from sync.fold import DerivedState, fold
from sync.views import RecordState
from tests.builders import World
from tests.federation_harness import (
    Cluster,
    NodeHandle,
    eventually,
    materialised_tables,
    signed_client,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path) as nodes:
        yield nodes


async def derived(handle: NodeHandle) -> DerivedState:
    store = await Store.open(handle.home.db_path, clock=ManualClock(), workers=1)
    try:
        return fold(await store.all_events())
    finally:
        await store.close()


async def test_two_halves_diverge_and_converge_after_healing(cluster: Cluster) -> None:
    a, b, c, d = (cluster.make(name, sync_interval_s=0.5) for name in "abcd")
    cluster.link(a, b)
    cluster.link(c, d)
    cluster.link(b, c)  # the bridge
    cluster.start_all()
    nodes = [a, b, c, d]
    world = World(SystemClock().now_ms())
    ward, convoy, driver, clinic = (world.org(n) for n in ("ward", "convoy", "driver", "clinic"))
    need = world.need(
        ward, [("N95 respirator", "medical.ppe", 1000), ("gloves", "medical.ppe", 50)]
    )
    spare = world.offer(convoy)
    async with signed_client(a.url) as client:
        assert (await client.push([need.wire, spare.wire])).accepted == 2
    await eventually(
        lambda: all(n.has_all([need.id, spare.id]) for n in nodes),
        timeout_s=15,
        what="the need and the offer to reach every node before the partition",
    )

    # Partition: b no longer gossips with c (both restarted, so no stream survives it).
    cluster.stop(b)
    cluster.stop(c)
    cluster.unlink(b, c)
    cluster.start_all([b, c])

    # Left half: an update, a pledge with its delivery and receipt, pushed in over the network.
    left_pledge = world.pledge(convoy, need, line=0, qty=600)
    left = [
        world.update(ward, need, title="N95 for ward 3 (left)"),
        left_pledge,
        world.deliver(convoy, left_pledge, qty=600),
        world.receipt(ward, left_pledge, qty=600),
    ]
    async with signed_client(a.url) as client:
        assert (await client.push([e.wire for e in left])).accepted == len(left)
    # Right half: a later update of the same field, another pledge, a verification and the
    # withdrawal of the offer, written into d's database by another process (the CLI path).
    right = [
        world.update(ward, need, title="N95 for ward 3 (right)"),
        world.pledge(driver, need, line=1, qty=50),
        world.verify(clinic, need),
        world.withdraw(convoy, spare),
    ]
    await d.add_events(right)
    left_ids, right_ids = {e.id for e in left}, {e.id for e in right}
    await eventually(
        lambda: a.has_all(left_ids) and b.has_all(left_ids) and c.has_all(right_ids),
        timeout_s=15,
        what="each half to spread its own writes",
    )
    # An update to the offer on the left, older than the withdrawal: it may change a field,
    # but can never reopen the offer.
    stale_update = world.update(convoy, spare, title="still available", hlc=right[-1].hlc - 1)
    await b.add_events([stale_update])
    await eventually(lambda: a.has_all([stale_update.id]), timeout_s=10, what="left gossip")
    assert not (a.event_ids() | b.event_ids()) & right_ids, "the halves were not partitioned"
    assert not (c.event_ids() | d.event_ids()) & left_ids

    # Heal: b gossips with c again (the running b picks the peer up within a second).
    cluster.link(b, c)
    everything = a.event_ids() | c.event_ids()
    await eventually(
        lambda: all(n.event_ids() == everything for n in nodes),
        timeout_s=20,
        what="all four nodes to hold the same events",
        detail=lambda: [len(n.event_ids()) for n in nodes],
    )

    # Identical derived state: the materialised tables and a fold from scratch agree.
    tables = [materialised_tables(n) for n in nodes]
    assert all(t == tables[0] for t in tables[1:])
    states = [await derived(n) for n in nodes]
    assert all(s == states[0] for s in states[1:])
    record = states[0].records[need.id]
    assert record.title == "N95 for ward 3 (right)"  # the later write wins
    assert [line.pledged for line in record.lines] == [600, 50]
    assert [line.received for line in record.lines] == [600, 0]
    assert len(record.verifications) == 1
    offer = states[0].records[spare.id]
    assert offer.state is RecordState.WITHDRAWN and offer.withdrawal is not None
    [need_row] = [r for r in tables[0]["records"] if r[0] == need.id]
    assert "N95 for ward 3 (right)" in need_row
    for node in nodes:
        peers = node.peer_rows()
        assert all(p["last_outcome"] in (None, "ok") for p in peers.values()), peers
