"""Events cross a line of five real nodes, each peered with the next, both ways.

Two paths in: a signed push from outside to the first node (the network path), and an event
written into the last node's database by another process (the CLI path: the running node
notices it within its catch-up period). Both must reach the far end, over live push streams
with anti-entropy behind them, and be served there by ``/fed/v1/events/fetch``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.clock import SystemClock
from tests.builders import World
from tests.federation_harness import Cluster, eventually, line, signed_client

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path) as nodes:
        yield nodes


async def test_an_event_crosses_a_line_of_five_nodes_both_ways(cluster: Cluster) -> None:
    nodes = [cluster.make(f"n{i}", sync_interval_s=1.0) for i in range(5)]
    line(cluster, nodes)
    cluster.start_all()
    first, last = nodes[0], nodes[-1]
    world = World(SystemClock().now_ms())
    ward, convoy = world.org("ward"), world.org("convoy")

    # Left to right: pushed to the first node over the network.
    need = world.need(ward)
    async with signed_client(first.url) as client:
        reply = await client.push([need.wire])
    assert reply.accepted == 1
    await eventually(
        lambda: last.has_all([need.id]),
        timeout_s=15,
        what="the need to reach the far end of the line",
    )

    # Right to left: written into the last node's database by another process.
    offer = world.offer(convoy)
    await last.add_events([offer])
    await eventually(
        lambda: first.has_all([offer.id]),
        timeout_s=15,
        what="the offer to reach the near end of the line",
    )

    # Every node holds both, and the far end serves them to anyone who asks.
    await eventually(
        lambda: all(node.has_all([need.id, offer.id]) for node in nodes),
        timeout_s=15,
        what="every node to hold both events",
    )
    async with signed_client(last.url) as client:
        fetched = await client.fetch([need.id, offer.id])
    assert set(fetched.events) == {need.wire, offer.wire}
    assert fetched.gone == ()
    assert all(node.running for node in nodes), "no node may have died"
