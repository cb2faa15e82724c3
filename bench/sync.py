"""One anti-entropy round between two nodes on loopback: what it costs to find and move the
difference between two big, nearly equal event sets.

    python bench/sync.py --events 100000 --diff 100 --json

The responder is a real ``aidnode run`` process. The initiator is this process running
:meth:`node.federation.gossip.Federation.sync_round` -- the same round a node runs every
interval -- so requests, bytes and time can be counted exactly. Both stores hold the same
``--events`` events plus both orgs' founding events; ``--diff`` further events are split
between them (half only on each side), placed at random among the shared ones
(``--placement uniform``, the harder case) or all newer than them (``recent``).

The shared events are an opaque kind (stored and relayed, ignored by the fold) signed by 8
keys, so millions can be made in a minute; they are made once and cached under bench/out/
as a database both nodes start from (ingested through :meth:`node.storage.Store.add`). The
differing events are realistic needs (tests/builders.py), ingested and folded on arrival.

Printed (``--json``: one object): ``round_trips`` (reconcile requests), ``bytes_total``
(request and reply bodies both ways, less the differing events' own wire bytes, which any
protocol must move: ``event_bytes``), ``http_header_bytes`` (HTTP request and status lines
and headers, not in bytes_total), ``wall_s`` and ``cpu_s`` of the round (``cpu_s`` = this
process + the responder process), per-endpoint time, and the baseline measured in the same
run: ``naive_bytes_total``, the bytes of both sides sending their full id lists.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402  # after the path fix-up

from crypto.signing import SigningIdentity  # noqa: E402
from node.clock import SystemClock  # noqa: E402
from node.federation.gossip import Federation, GossipSettings  # noqa: E402
from node.federation.peers import add_peer, peer_states  # noqa: E402
from node.federation.push import Broadcaster  # noqa: E402
from node.runtime import Node  # noqa: E402
from node.storage import Store  # noqa: E402
from protocol import Event, decode_event, decode_stored, encode  # noqa: E402
from protocol.envelope import EVENT_DOMAIN  # noqa: E402
from protocol.federation import Hello  # noqa: E402
from sync.hlc import pack  # noqa: E402
from tests.builders import World  # noqa: E402
from tests.federation_harness import Cluster, NodeHandle  # noqa: E402

CACHE = ROOT / "bench" / "out"
DAY_MS = 86_400_000
SPAN_MS = 30 * DAY_MS  # the shared events' hlc span: a month of a busy federation
AUTHORS = 8
KIND = "bench_item"
TARGETS = {  # events -> (bytes_total, round_trips, wall_s) from the brief
    100_000: (40_000, 4, 0.5),
    1_000_000: (60_000, None, 2.0),
}


# -- the shared events (made once, cached) -------------------------------------------------------


def _author(index: int) -> SigningIdentity:
    return SigningIdentity(bytes([0xB0 + index]) * 32)


def _sign_range(start: int, stop: int, count: int, base_ms: int) -> list[tuple[bytes, bytes]]:
    """Payload and signature of shared events ``start..stop`` (worker process)."""
    authors = [_author(i) for i in range(AUTHORS)]
    out = []
    for i in range(start, stop):
        hlc = pack(base_ms + i * SPAN_MS // count, i % 7)
        author = authors[i % AUTHORS]
        payload = encode([1, KIND, author.public_key, hlc, None, {"n": i}])
        out.append((payload, author.sign(EVENT_DOMAIN, payload)))
    return out


async def shared_template(count: int, log: Any) -> Path:
    """A database holding ``count`` shared events (built once per count, then reused)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"shared-{count}-v1.sqlite"
    if path.exists():
        return path
    log(f"building {path.name} (once): signing {count} events")
    base_ms = SystemClock().now_ms() - SPAN_MS - DAY_MS
    workers = os.cpu_count() or 1
    step = 50_000
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = await Store.open(partial, clock=SystemClock())
    try:
        with ProcessPoolExecutor(workers) as pool:
            ranges = [(s, min(count, s + step), count, base_ms) for s in range(0, count, step)]
            futures = [pool.submit(_sign_range, *r) for r in ranges]
            for number, future in enumerate(futures):
                signed = future.result()
                events = [decode_stored(payload, sig) for payload, sig in signed]
                if number == 0:  # the shortcut above must make events a receiver accepts
                    decode_event(events[0].wire, now_ms=SystemClock().now_ms())
                await store.add(events)
                log(f"  {min(count, (number + 1) * step)} stored")
    finally:
        await store.close()
    partial.rename(path)
    return path


# -- the differing events -------------------------------------------------------------------------


def differing_events(count: int, placement: str, shared: int, seed: int) -> list[Event]:
    """``count`` realistic needs, at random positions among the shared events or after them."""
    rng = random.Random(seed)
    world = World(SystemClock().now_ms())
    orgs = [world.org(f"org {i}") for i in range(10)]
    base_ms = SystemClock().now_ms() - SPAN_MS - DAY_MS
    events = []
    for i in range(count):
        if placement == "uniform":
            hlc = pack(base_ms + rng.randrange(SPAN_MS), 7 + rng.randrange(1000))
        else:
            hlc = None
        events.append(world.need(orgs[i % len(orgs)], hlc=hlc, title=f"need {seed}/{i}"))
    return events


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Per-endpoint request counts, time and HTTP header bytes, from aiohttp's tracing."""

    requests: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    header_bytes: int = 0

    def config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def start(_: Any, context: SimpleNamespace, params: Any) -> None:
            context.started = time.perf_counter()

        async def end(_: Any, context: SimpleNamespace, params: Any) -> None:
            name = params.url.path.removeprefix("/fed/v1/")
            self.requests[name] = self.requests.get(name, 0) + 1
            elapsed = time.perf_counter() - context.started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            request_line = len(f"{params.method} {params.url.path_qs} HTTP/1.1\r\n")
            sent = sum(len(k) + len(v) + 4 for k, v in params.headers.items()) + 2
            reply = params.response
            got = sum(len(k) + len(v) + 4 for k, v in reply.raw_headers) + 2
            self.header_bytes += request_line + sent + len("HTTP/1.1 200 OK\r\n") + got

        trace.on_request_start.append(start)
        trace.on_request_end.append(end)
        return trace


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ids_of(handle: NodeHandle) -> set[bytes]:
    with sqlite3.connect(f"file:{handle.home.db_path}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT id FROM events")}


async def store_events(handle: NodeHandle, events: list[Event]) -> None:
    store = await Store.open(handle.home.db_path, clock=SystemClock())
    try:
        await store.add(events)
    finally:
        await store.close()


async def all_events(handle: NodeHandle) -> list[Event]:
    store = await Store.open(handle.home.db_path, clock=SystemClock())
    try:
        return await store.all_events()
    finally:
        await store.close()


async def run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    template = await shared_template(args.events, log)
    with (
        tempfile.TemporaryDirectory(prefix="aidnode-bench-sync-") as root,
        Cluster(Path(root)) as cluster,
    ):
        # No timers: the only round is the one measured below.
        responder = cluster.make("responder", database=template, sync_interval_s=3600.0, push=False)
        initiator = cluster.make("initiator", database=template, sync_interval_s=3600.0, push=False)
        # Both hold both orgs' founding events: the only differences are the ones we make.
        founding_r = (await all_events(responder))[-2:]
        founding_i = (await all_events(initiator))[-2:]
        await store_events(responder, founding_i)
        await store_events(initiator, founding_r)
        diff = differing_events(args.diff, args.placement, args.events, args.seed)
        only_responder, only_initiator = diff[: args.diff // 2], diff[args.diff // 2 :]
        await store_events(responder, only_responder)
        await store_events(initiator, only_initiator)
        event_bytes = sum(len(e.wire) for e in diff)
        log("starting the responder")
        cluster.start(responder)

        node = await Node.open(initiator.home, None)
        try:
            await node.store.build_index()
            await add_peer(node.store, responder.url, node.clock.now_ms())
            [state] = await peer_states(node.store)
            hello = Hello(node=node.node_identity.public_key, org=node.org, name="initiator")
            traffic = Traffic()
            settings = GossipSettings(push=False, round_timeout_s=600, request_timeout_s=300)
            federation = Federation(
                node.store, node.node_identity, hello, node.clock, Broadcaster(False), settings
            )
            async with aiohttp.ClientSession(trace_configs=[traffic.config()]) as session:
                federation.session = session
                assert responder.process is not None
                responder_cpu = process_cpu_s(responder.process.pid)
                profiler = cProfile.Profile() if args.profile else None
                cpu, wall = time.process_time(), time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                report = await federation.sync_round(state)
                if profiler is not None:
                    profiler.disable()
                wall = time.perf_counter() - wall
                cpu = time.process_time() - cpu
                responder_cpu = process_cpu_s(responder.process.pid) - responder_cpu
            if profiler is not None:
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
            mine = {e.id for e in await node.store.all_events()}
        finally:
            await node.close()
        theirs = ids_of(responder)
        naive = len(encode(sorted(mine))) + len(encode(sorted(theirs)))

    body_bytes = report.bytes_in + report.bytes_out
    result: dict[str, Any] = {
        "events": args.events,
        "diff": args.diff,
        "placement": args.placement,
        "outcome": report.outcome,
        "converged": mine == theirs and report.in_sync,
        "events_in": report.events_in,
        "events_out": report.events_out,
        "round_trips": traffic.requests.get("reconcile", 0),
        "requests": traffic.requests,
        "bytes_total": body_bytes - event_bytes,
        "bytes_up": report.bytes_out,
        "bytes_down": report.bytes_in,
        "event_bytes": event_bytes,
        "http_header_bytes": traffic.header_bytes,
        "naive_bytes_total": naive,
        "naive_over_actual": round(naive / max(1, body_bytes - event_bytes), 1),
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu + responder_cpu, 4),
        "cpu_s_initiator": round(cpu, 4),
        "cpu_s_responder": round(responder_cpu, 4),
        "endpoint_s": {k: round(v, 4) for k, v in traffic.seconds.items()},
        "local_s": round(wall - sum(traffic.seconds.values()), 4),
    }
    target = TARGETS.get(args.events) if args.diff <= 100 else None
    if target is not None:
        max_bytes, max_trips, max_wall = target
        result["targets_met"] = {
            "bytes_total": result["bytes_total"] <= max_bytes,
            "wall_s": result["wall_s"] <= max_wall,
            **({"round_trips": result["round_trips"] <= max_trips} if max_trips else {}),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="shared events")
    parser.add_argument("--diff", type=int, default=100, help="differing events (split)")
    parser.add_argument("--placement", choices=("uniform", "recent"), default="uniform")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--profile", action="store_true", help="cProfile the round (stderr)")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = asyncio.run(run(args, log))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:20} {value}")


if __name__ == "__main__":
    main()
