"""End-to-end ingest into a node's store (DESIGN §8; the store issue's benchmark).

    python bench/ingest.py --events 100000 --json

The parent builds a realistic workload (bench/workload.py: mixed kinds and sizes, in causal
order) and writes its wire bytes to a file. A child process — so its memory is the node's
alone — opens a fresh store and ingests the file in batches of 1,000 as
a peer would deliver them (wire bytes in, committed out; two batches in flight, so one is
verified on the thread pool while the other commits), then measures a filtered list query
(p95 over 200 queries) and start-up (open + rebuild the reconciliation index) and reports its
peak RSS. The ceiling, single-core PyNaCl verification of the same events
(``raw_verify_per_s``, wall clock), is measured in slices of 1,000 events between every ten
ingest batches: this host's speed drifts, and figures taken at different moments do not
compare. Prints one JSON object; ``ratio`` = events_per_s / raw_verify_per_s.

Targets: ratio ≥ 0.6 single-core, ≥ 1.0 with both cores verifying; at 1,000,000 events
list_query_p95_ms ≤ 50, peak_rss_bytes ≤ 300 MB, startup_s ≤ 5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgpack
import nacl.bindings

from bench.workload import build_workload
from protocol.envelope import EVENT_DOMAIN

CACHE = Path(__file__).resolve().parent / "out"


def workload_file(events: int, seed: int) -> tuple[Path, int]:
    """The wire file for ``events`` events (built once, cached) and its clock."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"workload-{events}-{seed}.msgpack"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        return path, info["now_ms"]
    work = build_workload(events // 5 + 1, orgs=max(40, events // 2000), seed=seed)
    chosen = work.events[:events]
    with path.open("wb") as out:
        packer = msgpack.Packer(use_bin_type=True)
        for event in chosen:
            out.write(packer.pack(event.wire))
    meta.write_text(json.dumps({"now_ms": work.now_ms, "events": len(chosen)}))
    return path, work.now_ms


def _wires(path: Path) -> msgpack.Unpacker:
    return msgpack.Unpacker(path.open("rb"), raw=False, use_list=False, max_buffer_size=2**31)


def signed_sample(path: Path, sample: int = 20_000) -> list[tuple[bytes, bytes]]:
    """(signature ‖ domain ‖ payload, author key) of the first ``sample`` events."""
    signed = []
    for wire in _wires(path):
        payload, sig = msgpack.unpackb(wire, raw=False)
        author = msgpack.unpackb(payload, raw=False)[2]
        signed.append((sig + EVENT_DOMAIN + payload, author))
        if len(signed) == sample:
            break
    return signed


class Ceiling:
    """The raw verify rate, measured in short slices interleaved with the ingest: this
    machine's speed drifts (a shared host), so the ceiling must see the same moments as the
    thing compared with it. Wall clock on one core, like the ingest."""

    def __init__(self, signed: list[tuple[bytes, bytes]], slice_events: int = 1000) -> None:
        self.signed = signed
        self.slice = slice_events
        self.position = 0
        self.events = 0
        self.seconds = 0.0

    def measure(self) -> None:
        chunk = self.signed[self.position : self.position + self.slice]
        self.position = (self.position + self.slice) % max(1, len(self.signed) - self.slice)
        started = time.perf_counter()
        for message, key in chunk:
            nacl.bindings.crypto_sign_open(message, key)
        self.seconds += time.perf_counter() - started
        self.events += len(chunk)

    @property
    def rate(self) -> float:
        return self.events / self.seconds


# -- the child: the node's side ------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it was exec'd (``VmHWM``). Not
    ``ru_maxrss``: that also counts the pages a child shared with its parent between fork and
    exec, so a child of a parent holding the whole workload would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def child(path: Path, db: Path, now_ms: int, batch: int, workers: int) -> dict[str, object]:
    from node.storage import RecordQuery, Store
    from sync.clock import ManualClock
    from sync.views import Status

    ceiling = Ceiling(signed_sample(path))
    clock = ManualClock(now_ms)
    store = await Store.open(db, clock=clock, workers=workers)
    await store.build_index()
    total = 0
    in_flight: set[asyncio.Task[object]] = set()
    wall = 0.0
    cpu = 0.0
    current: list[bytes] = []
    batches = 0
    started, started_cpu = time.perf_counter(), time.process_time()

    async def settle() -> None:
        """Wait for the batches in flight (the pipeline drains around each ceiling slice)."""
        nonlocal in_flight
        for task in in_flight:
            await task
        in_flight = set()

    async def flush(wires: list[bytes]) -> None:
        outcomes = await store.ingest(wires)
        bad = [o for o in outcomes if o.status.value != "accepted"]
        if bad:
            raise SystemExit(f"unexpected outcome {bad[0]}")

    for wire in _wires(path):
        current.append(wire)
        if len(current) == batch:
            if len(in_flight) >= 2:
                done, in_flight = await asyncio.wait(in_flight, return_when="FIRST_COMPLETED")
                for task in done:
                    task.result()
            in_flight.add(asyncio.create_task(flush(current)))
            total += len(current)
            current = []
            batches += 1
            if batches % 10 == 0:  # every 10 batches: pause the clock, take a ceiling slice
                await settle()
                wall += time.perf_counter() - started
                cpu += time.process_time() - started_cpu
                ceiling.measure()
                started, started_cpu = time.perf_counter(), time.process_time()
    if current:
        in_flight.add(asyncio.create_task(flush(current)))
        total += len(current)
    await settle()
    wall += time.perf_counter() - started
    cpu += time.process_time() - started_cpu
    ceiling.measure()

    regions = ["CN-HB", "CN-HB-WH", "CN-HB-HG", "CN-GD", "CN"]
    categories = ["medical", "medical.ppe", "food", "hygiene.menstrual", None]
    rng = random.Random(1)
    timings = []
    for _ in range(200):
        query = RecordQuery(
            kind=rng.choice(["need", "offer", None]),
            region=rng.choice(regions),
            category=rng.choice(categories),
            status=rng.choice([Status.OPEN, None]),
            limit=50,
        )
        started = time.perf_counter()
        await store.list_records(query)
        timings.append(time.perf_counter() - started)
    timings.sort()
    await store.close()

    started = time.perf_counter()
    reopened = await Store.open(db, clock=clock, workers=workers)
    await reopened.build_index()
    startup = time.perf_counter() - started
    assert reopened.index is not None and len(reopened.index) == total
    await reopened.close()
    return {
        "events": total,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "events_per_s": round(total / wall, 1),
        "raw_verify_per_s": round(ceiling.rate, 1),
        "raw_verify_events": ceiling.events,
        "list_query_p50_ms": round(timings[len(timings) // 2] * 1000, 2),
        "list_query_p95_ms": round(timings[int(len(timings) * 0.95)] * 1000, 2),
        "startup_s": round(startup, 3),
        "peak_rss_bytes": peak_rss_bytes(),
        "workers": workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("WIRES", "DB", "NOW_MS"), help="internal")
    args = parser.parse_args()
    if args.child:
        wires, db, now_ms = args.child
        result = asyncio.run(child(Path(wires), Path(db), int(now_ms), args.batch, args.workers))
        print(json.dumps(result))
        return
    path, now_ms = workload_file(args.events, args.seed)
    with tempfile.TemporaryDirectory(prefix="aidnode-bench-") as directory:
        db = Path(directory) / "node.sqlite"
        command = [
            sys.executable, __file__, "--batch", str(args.batch), "--workers",
            str(args.workers), "--child", str(path), str(db), str(now_ms),
        ]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"child failed:\n{out.stderr}")
        result = json.loads(out.stdout)
        result["db_bytes"] = sum(
            f.stat().st_size for f in Path(directory).iterdir() if f.name.startswith("node")
        )
    result["ratio"] = round(result["events_per_s"] / result["raw_verify_per_s"], 3)
    result["targets"] = {
        "ratio": 1.0 if args.workers > 1 else 0.6,
        "list_query_p95_ms": 50,
        "peak_rss_bytes": 300 * 1024 * 1024,
        "startup_s": 5,
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in sorted(result.items()):
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
