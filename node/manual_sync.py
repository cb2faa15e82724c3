"""Sync rounds on demand (``aidnode sync``, ``POST /api/v1/sync``).

When ``aidnode run`` is running, the CLI asks it (through the local API) and the running
node's own gossip does the rounds: :func:`sync_running`. When it is not, the CLI does one round
per peer itself, in its own process, with the same code the running node uses
(:meth:`Federation.sync_round`) and persists the outcome the same way: :func:`sync_here`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

import aiohttp

from node.errors import ConfigError
from node.federation.gossip import Federation, GossipSettings
from node.federation.peers import PeerState, normalise_url, peer_states, record_round
from node.federation.push import Broadcaster
from node.runtime import Node
from node.service import NodeService
from protocol.federation import Hello

__all__ = ["chosen_peers", "sync_here", "sync_running"]


async def chosen_peers(states: Sequence[PeerState], url: str | None) -> list[PeerState]:
    """All configured peers, or the one at ``url``; :class:`ConfigError` if it is not one."""
    if url is None:
        return list(states)
    wanted = normalise_url(url)
    chosen = [s for s in states if s.url == wanted]
    if not chosen:
        raise ConfigError(f"{wanted} is not a peer of this node: add it with aidnode peer add")
    return chosen


async def sync_here(
    node: Node,
    url: str | None = None,
    *,
    on_round: Callable[[PeerState], None] | None = None,
    timeout_s: float = 60.0,
) -> list[PeerState]:
    """One round with every peer (or ``url``), concurrently, in this process. Returns the
    peers' new states; ``on_round`` is called as each finishes."""
    states = await chosen_peers(await peer_states(node.store), url)
    rng = random.Random()  # noqa: S311  # backoff jitter, not secrets
    settings = GossipSettings(
        interval_s=node.config.sync_interval_seconds, push=False, round_timeout_s=timeout_s
    )
    hello = Hello(node=node.node_identity.public_key, org=node.org, name=node.config.name)
    federation = Federation(
        node.store, node.node_identity, hello, node.clock, Broadcaster(enabled=False), settings, rng
    )
    await node.store.build_index()
    results: list[PeerState] = []
    async with aiohttp.ClientSession() as session:
        federation.session = session  # rounds only: no peer loops, no streams

        async def one(state: PeerState) -> None:
            report = await federation.sync_round(state)
            interval = int(settings.interval_s * 1000)
            new = await record_round(
                node.store, state.url, report, node.clock.now_ms(), rng, interval_ms=interval
            )
            if new is not None:
                results.append(new)
                if on_round is not None:
                    on_round(new)

        await asyncio.gather(*(one(state) for state in states))
    return sorted(results, key=lambda s: s.url)


async def sync_running(
    service: NodeService, url: str | None = None, timeout_s: float = 60.0
) -> list[PeerState]:
    """Rounds by the running node's own gossip: every peer (``Federation.sync_now``), or one
    peer at once. Returns the peers' states afterwards."""
    store = service.node.store
    if url is None:
        return await service.federation.sync_now(timeout_s)
    [state] = await chosen_peers(await peer_states(store), url)
    report = await service.federation.sync_round(state)
    rng = random.Random()  # noqa: S311  # backoff jitter, not secrets
    interval = int(service.settings.gossip.interval_s * 1000)
    await record_round(
        store, state.url, report, service.node.clock.now_ms(), rng, interval_ms=interval
    )
    return [s for s in await peer_states(store) if s.url == state.url]
