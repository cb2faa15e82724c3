"""Benchmark: two in-process replicas reconcile N events that differ in D.

    python bench/reconcile.py --events 100000 --diff 100 --json
    python bench/reconcile.py --events 1000000 --diff 100 --json
    python bench/reconcile.py --events 100000 --diff 100 --sweep      # tuning table

Prints round trips, protocol bytes both ways (the ids of missing items count, their events do
not), bytes per difference, CPU and wall time of the whole session, and the index's build
time and memory (tracemalloc, a second build). The baseline, measured in the same run, is
the naive exchange: the initiator sends every id it holds (32 bytes each) and the responder
answers with the ids it has that were not sent plus a bitfield of those it lacks.

Keys are realistic: HLCs are millisecond timestamps spread over a year, shifted left 16 bits
with a small logical counter; ids are random 32-byte strings. ``--layout recent`` puts the
differences among the newest events (what a missed push leaves behind) instead of anywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder (bench/, which holds sync.py) would shadow the `sync`
# package: put the repository root first.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import gc
import hashlib
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Iterable
from dataclasses import asdict

from sync.fingerprint_index import FingerprintIndex
from sync.reconcile import Initiator, Limits, Tuning, respond

Key = tuple[int, bytes]
_YEAR_MS = 365 * 86_400_000
_START_MS = 1_700_000_000_000


def make_replicas(
    events: int, diff: int, layout: str, seed: int
) -> tuple[list[Key], list[Key], set[bytes], set[bytes]]:
    """Two sorted key lists of ``events`` keys each (about), differing in ``diff`` keys."""
    rng = random.Random(seed)

    def key(low: int, high: int) -> Key:
        return ((_START_MS + rng.randrange(low, high)) << 16 | rng.randrange(4), rng.randbytes(32))

    common = [key(0, _YEAR_MS) for _ in range(events - diff // 2)]
    low = _YEAR_MS - 3_600_000 if layout == "recent" else 0
    extra = [key(low, _YEAR_MS) for _ in range(diff)]
    only_a, only_b = extra[: diff - diff // 2], extra[diff - diff // 2 :]
    side_a = sorted(common + only_a)
    side_b = sorted(common + only_b)
    return side_a, side_b, {k[1] for k in only_a}, {k[1] for k in only_b}


def run_session(
    mine: FingerprintIndex, theirs: FingerprintIndex, limits: Limits, tuning: Tuning
) -> tuple[dict[str, float], frozenset[bytes], frozenset[bytes]]:
    """Stats of one session, and the ids it found to push and to fetch."""
    wall, cpu = time.perf_counter(), time.process_time()
    session = Initiator(mine, limits=limits, tuning=tuning)
    query: bytes | None = session.initial_message()
    largest = 0
    while query is not None:
        reply = respond(theirs, query, limits=limits, tuning=tuning)
        largest = max(largest, len(query), len(reply))
        query = session.receive(reply)
    stats = {
        "round_trips": session.rounds,
        "bytes_sent": session.bytes_sent,
        "bytes_received": session.bytes_received,
        "bytes_total": session.bytes_sent + session.bytes_received,
        "largest_message": largest,
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        "have": len(session.have_ids),
        "need": len(session.need_ids),
    }
    return stats, session.have_ids, session.need_ids


def naive_exchange(mine: Iterable[Key], theirs: FingerprintIndex) -> dict[str, float]:
    """The baseline: send every id; get back the ids not sent and a bitfield of the lacking."""
    wall = time.perf_counter()
    sent = [item_id for _, item_id in mine]
    request = b"".join(sent)
    held = {item_id for _, item_id in theirs}
    offered = set(sent)
    missing = [item_id for item_id in held if item_id not in offered]
    reply = b"".join(missing) + bytes((len(sent) + 7) // 8)
    return {
        "naive_bytes_total": len(request) + len(reply),
        "naive_wall_s": time.perf_counter() - wall,
    }


def measure_index(keys: list[Key]) -> dict[str, float]:
    gc.collect()
    start = time.perf_counter()
    FingerprintIndex.from_sorted(keys)
    build_s = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()
    index = FingerprintIndex.from_sorted(keys)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del index
    rng = random.Random(3)
    index = FingerprintIndex.from_sorted(keys)
    size = len(keys)
    probes = [sorted((rng.randrange(size + 1), rng.randrange(size + 1))) for _ in range(5000)]
    start = time.perf_counter()
    for low, high in probes:
        index.id_sum(low, high)
    range_us = (time.perf_counter() - start) / len(probes) * 1e6
    # A whole range fingerprint as a responder computes it: two ranks, the id sum, the hash.
    bounds = [sorted((keys[low % size], keys[high % size])) for low, high in probes]
    salt = bytes(16)
    start = time.perf_counter()
    for low_key, high_key in bounds:
        low, high = index.rank(low_key), index.rank(high_key)
        data = (high - low).to_bytes(8, "little") + index.id_sum(low, high).to_bytes(32, "little")
        hashlib.blake2b(data, digest_size=8, key=salt, person=b"aidnode/rfp/v1").digest()
    fingerprint_us = (time.perf_counter() - start) / len(bounds) * 1e6
    fresh = [(rng.getrandbits(57), rng.randbytes(32)) for _ in range(20_000)]
    start = time.perf_counter()
    for hlc, item_id in fresh:
        index.insert(hlc, item_id)
    insert_us = (time.perf_counter() - start) / len(fresh) * 1e6
    return {
        "index_build_s": build_s,
        "index_memory_mb": memory / 1e6,
        "index_range_sum_us": range_us,
        "index_range_fingerprint_us": fingerprint_us,
        "index_insert_us": insert_us,
    }


SWEEP = {
    "initial_split": (0, 16, 64, 128, 256),
    "branching": (3, 4, 5, 6, 8),
    "leaf_size": (4, 6, 8, 12),
    "id_list_max": (8, 12, 16, 24, 32),
    "ids_max": (0, 1, 2, 4),
}


def sweep(
    mine: FingerprintIndex, theirs: FingerprintIndex, limits: Limits
) -> list[dict[str, float]]:
    """Vary one tuning knob at a time around the default."""
    rows: list[dict[str, float]] = []
    base = asdict(Tuning())
    for knob, values in SWEEP.items():
        for value in values:
            chosen = {**base, knob: value}
            if chosen["id_list_max"] > chosen["branching"] * chosen["leaf_size"]:
                continue
            if chosen["leaf_size"] > chosen["id_list_max"]:
                continue
            result, _, _ = run_session(mine, theirs, limits, Tuning(**chosen))
            rows.append(
                {
                    "knob": knob,  # type: ignore[dict-item]
                    "value": value,
                    "round_trips": result["round_trips"],
                    "bytes_total": result["bytes_total"],
                    "cpu_s": round(result["cpu_s"], 3),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--diff", type=int, default=100)
    parser.add_argument("--layout", choices=("random", "recent"), default="random")
    parser.add_argument("--frame", type=int, default=Limits().max_frame_bytes)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sweep", action="store_true", help="vary tuning knobs one by one")
    args = parser.parse_args()

    side_a, side_b, only_a, only_b = make_replicas(args.events, args.diff, args.layout, args.seed)
    limits = Limits(max_frame_bytes=args.frame)
    index_stats = measure_index(side_a)
    mine = FingerprintIndex.from_sorted(side_a)
    theirs = FingerprintIndex.from_sorted(side_b)
    if args.sweep:
        for row in sweep(mine, theirs, limits):
            print(json.dumps(row))
        return
    result, have, need = run_session(mine, theirs, limits, Tuning())
    correct = have == only_a and need == only_b
    naive = naive_exchange(side_a, theirs)
    report = {
        "events": args.events,
        "diff": args.diff,
        "layout": args.layout,
        "frame_bytes": args.frame,
        "correct": correct,
        **result,
        "bytes_per_difference": result["bytes_total"] / max(1, args.diff),
        **naive,
        "saving_vs_naive": naive["naive_bytes_total"] / result["bytes_total"],
        **index_stats,
        "tuning": asdict(Tuning()),
    }
    if args.json:
        print(json.dumps(report, default=str))
    else:
        width = max(map(len, report))
        for name, value in report.items():
            shown = f"{value:.4g}" if isinstance(value, float) else value
            print(f"{name:<{width}}  {shown}")
    if not correct:
        sys.exit(1)


if __name__ == "__main__":
    main()
