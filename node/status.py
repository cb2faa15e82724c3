"""Everything ``aidnode status`` shows, gathered in one place for the CLI and the local API.

:func:`gather_status` reads the persisted state (peer sync state, inbound nodes, event counts)
from the store, so it works whether or not the node is running; given the running
:class:`~node.service.NodeService` it adds what only the live process knows (open push
streams, uptime, the fingerprint of the whole event set). The returned mapping is the stable
JSON shape of ``aidnode status --json`` and ``GET /api/v1/status`` (docs/operators.md).
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from crypto import decode_key, encode_key, fingerprint
from node import __version__
from node.federation.peers import inbound_states, peer_states
from node.home import Home, NodeConfig
from node.lookup import org_names
from node.storage import Store
from node.trust import TrustExplanation, TrustKeeper
from protocol import Level

if TYPE_CHECKING:  # the service imports the API, which imports this module
    from node.service import NodeService

__all__ = ["explanation_json", "gather_status", "set_fingerprint", "trust_rows"]


def set_fingerprint(count: int, id_sum: int) -> str:
    """A short digest of a whole event set (its size and additive id sum): two nodes holding
    the same events show the same value."""
    digest = hashlib.blake2b(f"{count}:{id_sum}".encode(), digest_size=8).hexdigest()
    return f"{count}:{digest}"


async def _trust(config: NodeConfig, store: Store, keeper: TrustKeeper | None) -> dict[str, Any]:
    """Accepted orgs per level (a verifier counts as a member too) and the quarantine: from
    the running node's trust keeper, else as it last persisted them."""
    if keeper is not None:
        accepted = {level.value: len(keeper.accepted(level)) for level in Level}
    else:
        rows = await store.fetch("SELECT level, count(*) FROM accepted GROUP BY level")
        accepted = {level.value: 0 for level in Level} | {level: n for level, n in rows}
    return {
        "accepted": accepted,
        "quarantine": await store.quarantine_size(),
        "blocked": len(config.blocked),
        "pinned_roots": len(config.pinned_roots),
        "admit": config.admit,
    }


async def gather_status(
    home: Home,
    config: NodeConfig,
    store: Store,
    now_ms: int,
    *,
    service: NodeService | None = None,
    pid: int | None = None,
    port: int | None = None,
) -> dict[str, Any]:
    """The node's status as plain data. ``service`` is the running node when called from it;
    ``pid``/``port`` say that another process runs the node (from its pid file)."""
    org = decode_key(config.org)
    counts = await store.counts()
    peers = [state.as_dict(now_ms) for state in await peer_states(store)]
    inbound = [state.as_dict() for state in await inbound_states(store)]
    node: dict[str, Any] = {
        "name": config.name,
        "org": config.org,
        "fingerprint": fingerprint(org),
        "region": config.region or None,
        "url": config.url,
        "home": str(home.root),
        "version": __version__,
        "running": service is not None or pid is not None,
        "pid": pid,
        "port": port,
        "started_ms": None,
    }
    events: dict[str, Any] = {
        "total": sum(counts.events_by_kind.values()),
        "by_kind": dict(sorted(counts.events_by_kind.items())),
        "tombstones": counts.tombstones,
        "set_fingerprint": None,
    }
    if service is not None:
        node["pid"] = os.getpid()
        node["port"] = service.port
        node["started_ms"] = service.started_ms
        index = store.index
        if index is not None:
            events["set_fingerprint"] = set_fingerprint(len(index), index.total_id_sum)
        for state in peers:
            state["stream_open"] = service.federation.streams_open.get(state["url"], False)
    else:
        for state in peers:
            state["stream_open"] = None  # only the running node knows
    return {
        "now_ms": now_ms,
        "trust": await _trust(config, store, service.node.trust if service else None),
        "node": node,
        "events": events,
        "records": dict(sorted(counts.records_by_status.items())),
        "peers": peers,
        "inbound": inbound,
        "sync": {
            "peers": len(peers),
            "in_sync": sum(1 for p in peers if p["in_sync"]),
            "failing": sum(1 for p in peers if p["failures"]),
            "inbound_streams": service.broadcaster.connected if service is not None else None,
        },
    }


async def trust_rows(keeper: TrustKeeper, store: Store, config: NodeConfig) -> list[dict[str, Any]]:
    """Every org this node knows of, with its standing here (the ``trust list`` shape)."""
    names = await org_names(store)
    member = keeper.accepted(Level.MEMBER)
    verifier = keeper.accepted(Level.VERIFIER)
    quarantined = dict(await store.fetch("SELECT org, count(*) FROM quarantine GROUP BY org"))
    subjects = {row[0] for row in await store.fetch("SELECT subject_org FROM endorsements")}
    seeds = {decode_key(config.org)} | {
        store.identity.org_of(decode_key(k)) for k in config.pinned_roots
    }
    blocked = {store.identity.org_of(decode_key(k)) for k in config.blocked}
    orgs = set(names) | set(member) | subjects | set(quarantined) | blocked
    rows = []
    for org in orgs:
        standing = "verifier" if org in verifier else "member" if org in member else None
        rows.append(
            {
                "org": encode_key(org),
                "name": names.get(org),
                "fingerprint": fingerprint(org),
                "standing": standing,
                "seed": org in seeds,
                "blocked": org in blocked,
                "quarantined": int(quarantined.get(org, 0)),
            }
        )
    order = {"verifier": 0, "member": 1, None: 2}
    return sorted(rows, key=lambda r: (not r["seed"], order[r["standing"]], r["name"] or ""))


def explanation_json(explanation: TrustExplanation, names: dict[bytes, str]) -> dict[str, Any]:
    """``trust explain --json`` and ``GET /api/v1/trust/KEY``: the keeper's evidence, and the
    same in sentences (``describe``)."""
    return {**explanation.as_dict(), "describe": explanation.describe(names)}
