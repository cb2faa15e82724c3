"""Trust on a real federation (default policy): what a node does not accept it quarantines
and never relays; once endorsed, the quarantined events are promoted and travel on."""

from __future__ import annotations

from pathlib import Path

from node.clock import SystemClock
from node.federation.peers import add_peer
from node.service import NodeService
from protocol import Event
from tests.builders import World
from tests.federation_harness import (
    eventually,
    hello_for,
    service_in_process,
    service_url,
    signed_client,
)

YEAR_MS = 365 * 86_400_000


async def _endorse(by: NodeService, org: bytes) -> None:
    node = by.node
    await node.endorse(org, "peer", "member", max_depth=3, expires_ms=node.clock.now_ms() + YEAR_MS)
    assert node.trust is not None
    await node.trust.refresh()


async def _holds(service: NodeService, event: Event) -> bool:
    found, _ = await service.node.store.wires([event.id])
    return event.id in found


async def test_quarantined_events_are_not_relayed_until_their_author_is_endorsed(
    tmp_path: Path,
) -> None:
    async with (
        service_in_process(tmp_path, "ward", admit="trusted") as ward,
        service_in_process(tmp_path, "relay", admit="trusted") as relay,
    ):
        now = SystemClock().now_ms()
        await _endorse(ward, relay.node.org)
        await _endorse(relay, ward.node.org)
        await add_peer(ward.node.store, service_url(relay), now)
        await ward.federation.sync_now(timeout_s=10)

        world = World(start_ms=now)
        stranger = world.org("stranger group")
        need = world.need(stranger)
        async with signed_client(service_url(relay), world.delegate_key()) as client:
            await client.hello(hello_for(client.me))
            reply = await client.push([world.incept(stranger).wire, need.wire])
        assert reply.quarantined == 2
        assert not await _holds(relay, need)

        # Rounds and live push run, yet the quarantined need goes nowhere.
        await ward.federation.sync_now(timeout_s=10)
        assert not await _holds(ward, need)
        assert await relay.node.store.quarantine_size() == 2

        # The relay's operator checks the group and endorses it: the need is promoted from
        # quarantine (not fetched again) and pushed on; the ward accepts it through the relay.
        await _endorse(relay, stranger.id)
        assert await _holds(relay, need)
        assert await relay.node.store.quarantine_size() == 0
        await eventually(
            lambda: _holds(ward, need), timeout_s=10, what="the promoted need to reach the ward"
        )
