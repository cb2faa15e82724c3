"""A federation of real node processes on loopback: how fast a new event reaches every node
by live push, and how many anti-entropy rounds spread it with push turned off.

    python bench/federation.py --nodes 30 --json

The peer graph is a random connected ``--degree``-regular graph (configuration model,
redrawn until simple and connected); each edge is configured at one of its two ends, chosen
at random (``aidnode peer add``), since one configured end carries a link both ways.

**Push** (``push = true``): this process holds a signed websocket to every node's
``/fed/v1/stream`` and timestamps the frames, so it sees the moment each node commits an
event. Each of ``--events`` events is pushed to a random node (``/fed/v1/events/push``, with
another key than the observer's, so the first node's own commit is observed too); its
latency is the time until the last node has it. ``push_p50_s`` / ``push_p99_s`` are over those
events. Anti-entropy runs behind it every 60 s and rarely plays a part.

**Anti-entropy** (``push = false``, ``sync_interval_seconds = --interval``): one event is pushed
to a random node and every node's database is polled until all hold it. A *round* is one
sync interval: in each, every node runs one reconciliation round with each peer it has
configured (at the interval ±20 % jitter, independently). ``antientropy_rounds`` is the time to
full convergence divided by the interval, rounded up, worst over ``--trials`` events; the
fractional ``antientropy_periods`` are given too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402  # after the path fix-up
import msgpack  # noqa: E402

from crypto.signing import SigningIdentity  # noqa: E402
from node.clock import SystemClock  # noqa: E402
from node.federation.client import PeerClient  # noqa: E402
from protocol.federation import StreamFrame  # noqa: E402
from tests.builders import World  # noqa: E402
from tests.federation_harness import Cluster, NodeHandle, hello_for  # noqa: E402

Graph = dict[int, set[int]]


def regular_graph(nodes: int, degree: int, rng: random.Random) -> Graph:
    """A random simple connected ``degree``-regular graph (configuration model + rejection)."""
    if nodes * degree % 2 or degree >= nodes:
        raise ValueError("nodes × degree must be even and degree < nodes")
    for _ in range(10_000):
        stubs = [n for n in range(nodes) for _ in range(degree)]
        rng.shuffle(stubs)
        graph: Graph = {n: set() for n in range(nodes)}
        simple = True
        for u, v in zip(stubs[::2], stubs[1::2], strict=True):
            if u == v or v in graph[u]:
                simple = False
                break
            graph[u].add(v)
            graph[v].add(u)
        if simple and len(distances(graph, 0)) == nodes:
            return graph
    raise RuntimeError("no simple connected graph found")


def distances(graph: Graph, source: int) -> dict[int, int]:
    seen = {source: 0}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for other in graph[node]:
            if other not in seen:
                seen[other] = seen[node] + 1
                queue.append(other)
    return seen


def event_id(wire: bytes) -> bytes:
    payload = msgpack.unpackb(wire)[0]
    return hashlib.blake2b(payload, digest_size=32).digest()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Observer:
    """Signed websockets to every node's stream; records when each node first shows an id."""

    def __init__(self, nodes: list[NodeHandle]) -> None:
        self.nodes = nodes
        self.me = SigningIdentity(secrets.token_bytes(32))
        self.seen: dict[bytes, dict[int, float]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, session: aiohttp.ClientSession) -> None:
        sockets = []
        for handle in self.nodes:
            client = PeerClient(session, self.me, handle.url, SystemClock())
            await client.hello(hello_for(self.me, "observer"))
            sockets.append(await client.open_stream())
        self._tasks = [
            asyncio.create_task(self._read(index, ws)) for index, ws in enumerate(sockets)
        ]

    async def _read(self, index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.BINARY:
                continue
            now = time.perf_counter()
            for wire in StreamFrame.decode(message.data).events:
                self.seen.setdefault(event_id(wire), {}).setdefault(index, now)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def arrival(self, event: bytes, timeout_s: float) -> dict[int, float]:
        deadline = time.perf_counter() + timeout_s
        while len(self.seen.get(event, {})) < len(self.nodes):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.002)
        return self.seen.get(event, {})


def holds(handle: NodeHandle, event: bytes) -> bool:
    uri = f"file:{handle.home.db_path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
        return db.execute("SELECT 1 FROM events WHERE id = ?", (event,)).fetchone() is not None


async def push_phase(
    nodes: list[NodeHandle], args: argparse.Namespace, rng: random.Random, log: Any
) -> dict[str, Any]:
    world = World(SystemClock().now_ms())
    org = world.org("bench")
    injector = SigningIdentity(secrets.token_bytes(32))
    observer = Observer(nodes)
    latencies: list[float] = []
    missed = 0
    async with aiohttp.ClientSession() as session:
        await observer.start(session)
        clients = [PeerClient(session, injector, n.url, SystemClock()) for n in nodes]
        # Warm up until an event reaches every node (every stream open), uncounted.
        for attempt in range(60):
            need = world.need(org)
            await clients[attempt % len(nodes)].push([need.wire])
            if len(await observer.arrival(need.id, 2.0)) == len(nodes):
                break
        else:
            raise RuntimeError("the push streams never connected the whole federation")
        log("push: streams connected; measuring")
        for _ in range(args.events):
            need = world.need(org)
            target = rng.randrange(len(nodes))
            posted = time.perf_counter()
            await clients[target].push([need.wire])
            arrived = await observer.arrival(need.id, 10.0)
            if len(arrived) < len(nodes):
                missed += 1
                continue
            latencies.append(max(arrived.values()) - posted)
            await asyncio.sleep(args.gap)
        await observer.stop()
    return {
        "push_events": len(latencies),
        "push_missed": missed,
        "push_p50_s": round(statistics.median(latencies), 4),
        "push_p99_s": round(percentile(latencies, 0.99), 4),
        "push_max_s": round(max(latencies), 4),
        "push_mean_s": round(statistics.fmean(latencies), 4),
    }


async def antientropy_phase(
    nodes: list[NodeHandle], args: argparse.Namespace, rng: random.Random, log: Any
) -> dict[str, Any]:
    world = World(SystemClock().now_ms())
    org = world.org("bench anti-entropy")
    injector = SigningIdentity(secrets.token_bytes(32))
    periods: list[float] = []
    async with aiohttp.ClientSession() as session:
        for trial in range(args.trials):
            need = world.need(org)
            target = nodes[rng.randrange(len(nodes))]
            client = PeerClient(session, injector, target.url, SystemClock())
            posted = time.perf_counter()
            await client.push([need.wire])
            waiting = set(range(len(nodes)))
            deadline = posted + 30 * args.interval
            while waiting and time.perf_counter() < deadline:
                waiting -= {i for i in waiting if holds(nodes[i], need.id)}
                await asyncio.sleep(args.interval / 20)
            if waiting:
                raise RuntimeError(f"{len(waiting)} nodes never got the event in 30 rounds")
            elapsed = time.perf_counter() - posted
            periods.append(elapsed / args.interval)
            log(f"anti-entropy trial {trial}: {elapsed:.2f} s = {periods[-1]:.2f} intervals")
            await asyncio.sleep(args.interval * rng.random())  # a random phase for the next
    bound = math.log2(len(nodes)) + math.log(len(nodes))
    return {
        "antientropy_rounds": math.ceil(max(periods)),
        "antientropy_rounds_median": math.ceil(statistics.median(periods)),
        "antientropy_periods": [round(p, 2) for p in periods],
        "antientropy_interval_s": args.interval,
        "antientropy_bound": round(bound, 2),
    }


async def run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    rng = random.Random(args.seed)
    graph = regular_graph(args.nodes, args.degree, rng)
    eccentricities = [max(distances(graph, n).values()) for n in graph]
    with (
        tempfile.TemporaryDirectory(prefix="aidnode-bench-fed-") as root,
        Cluster(Path(root)) as cluster,
    ):
        nodes = [cluster.make(f"n{i}", sync_interval_s=60.0) for i in range(args.nodes)]
        for u in graph:
            for v in graph[u]:
                if u < v:
                    a, b = (u, v) if rng.random() < 0.5 else (v, u)
                    cluster.link(nodes[a], nodes[b])
        log(f"starting {args.nodes} nodes")
        started = time.perf_counter()
        cluster.start_all()
        log(f"  all serving after {time.perf_counter() - started:.1f} s")
        result: dict[str, Any] = {
            "nodes": args.nodes,
            "degree": args.degree,
            "edges": sum(len(v) for v in graph.values()) // 2,
            "diameter": max(eccentricities),
        }
        result |= await push_phase(nodes, args, rng, log)

        log("restarting with push off")
        for handle in nodes:
            cluster.stop(handle)
        for handle in nodes:
            cluster.configure(handle, push=False, sync_interval_seconds=args.interval)
        cluster.start_all()
        result |= await antientropy_phase(nodes, args, rng, log)
        result["targets_met"] = {
            "push_p99_s": result["push_p99_s"] <= 1.0,
            "antientropy_rounds": result["antientropy_rounds"] <= result["antientropy_bound"],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--degree", type=int, default=3)
    parser.add_argument("--events", type=int, default=40, help="events timed with push on")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between pushed events")
    parser.add_argument("--interval", type=float, default=2.0, help="anti-entropy interval (s)")
    parser.add_argument("--trials", type=int, default=5, help="events timed with push off")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = asyncio.run(run(args, log))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
