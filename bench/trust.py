"""Benchmark of the trust metric (sync/trust_metric.py) on a realistic federation.

    .venv/bin/python bench/trust.py            # human-readable
    .venv/bin/python bench/trust.py --json     # one JSON object on stdout

Measures, on one generated graph (bench/trust_graphs.py):

* ``recompute_ms``: acceptance at both levels from scratch (from the list of endorsements),
  median of ``--repeat`` runs; ``recompute_member_ms`` / ``recompute_verifier_ms`` split out
  the metric itself per level, ``build_ms`` the indexing of the endorsements;
* ``incremental_ms``: one endorsement added or removed, then both levels queried, over
  ``--ops`` random operations (half additions, half removals): median, p95 and max;
* ``sybil_*``: a nest of ``--sybils`` attacker keys behind one attack edge from an accepted
  org at distance 2, and how many of them get accepted;
* ``naive_*``: the baseline, measured in the same run: Advogato as first deployed, one plain
  Edmonds–Karp max flow per level from scratch (same graph rules), which is slower and does
  not even give a canonical accepted set (``naive_same_sets`` says whether it happened to
  agree this time).
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
import json
import platform
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence

from bench.trust_graphs import FederationGenerator, sybil_nest
from protocol.trust_bodies import Level
from sync.trust_flow import compute_labels
from sync.trust_metric import (
    DEFAULT_CAPACITIES,
    Endorsement,
    TrustMetric,
    compute_acceptance,
)

ROOMY_SEED_CAPACITY = 2000


def millis(action: Callable[..., object], *args: object) -> float:
    """Wall time of ``action(*args)`` in milliseconds."""
    start = time.perf_counter_ns()
    action(*args)
    return (time.perf_counter_ns() - start) / 1e6


def median_millis(repeat: int, action: Callable[..., object], *args: object) -> float:
    gc.collect()
    return statistics.median(millis(action, *args) for _ in range(repeat))


def add_then_query(metric: TrustMetric, edge: Endorsement) -> None:
    metric.add_edge(edge)
    metric.acceptance()


def remove_then_query(metric: TrustMetric, edge: Endorsement) -> None:
    metric.remove_edge(edge.event_id)
    metric.acceptance()


def summary(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max": round(ordered[-1], 3),
        "ops": len(ordered),
    }


def naive_acceptance(
    edges: Sequence[Endorsement], seeds: Sequence[bytes], level: Level
) -> frozenset[bytes]:
    """One Edmonds–Karp max flow on the explicit node-split network; saturated sinks win."""
    ids = sorted({*seeds, *(e.issuer for e in edges), *(e.subject for e in edges)})
    index = {org: i for i, org in enumerate(ids)}
    graph: list[dict[int, int]] = [{} for _ in ids]
    for e in edges:
        if e.issuer != e.subject and (level is Level.MEMBER or e.level is Level.VERIFIER):
            graph[index[e.issuer]][index[e.subject]] = max(
                e.max_depth, graph[index[e.issuer]].get(index[e.subject], -1)
            )
    seed_indices = [index[s] for s in seeds]
    labels = compute_labels(graph, seed_indices)
    source, sink = -1, -2
    residual: dict[int, dict[int, int]] = {source: {}, sink: {}}

    def arc(a: int, b: int, capacity: int) -> None:
        residual.setdefault(a, {})[b] = residual.get(a, {}).get(b, 0) + capacity
        residual.setdefault(b, {}).setdefault(a, 0)

    last = len(DEFAULT_CAPACITIES) - 1
    for x, d in enumerate(labels.distance):
        if d < 0:
            continue
        capacity = DEFAULT_CAPACITIES[min(d, last)]
        arc(2 * x, 2 * x + 1, capacity - 1)
        arc(2 * x, sink, 1)
        if labels.budget[x] >= 1:
            for y in graph[x]:
                arc(2 * x + 1, 2 * y, 1 << 30)
    for s in seed_indices:
        arc(source, 2 * s, DEFAULT_CAPACITIES[0])
    while True:
        parent = {source: source}
        queue = deque([source])
        while queue and sink not in parent:
            a = queue.popleft()
            for b, c in residual[a].items():
                if c > 0 and b not in parent:
                    parent[b] = a
                    queue.append(b)
        if sink not in parent:
            break
        b = sink
        while b != source:
            a = parent[b]
            residual[a][b] -= 1
            residual[b][a] += 1
            b = a
    return frozenset(ids[x] for x in range(len(ids)) if residual.get(2 * x, {}).get(sink) == 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--endorsements", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sybils", type=int, default=10_000)
    parser.add_argument("--ops", type=int, default=100, help="incremental operations (>= 50)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rng-seed", type=int, default=2020)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rng = random.Random(args.rng_seed)
    generator = FederationGenerator(rng, args.orgs, args.seeds)
    edges, seeds = generator.draw(args.endorsements), list(generator.seeds)
    result: dict[str, object] = {
        "orgs": args.orgs,
        "endorsements": len(edges),
        "seeds": len(seeds),
        "capacities": list(DEFAULT_CAPACITIES),
        "python": platform.python_version(),
    }

    # -- from scratch ------------------------------------------------------------------
    reference = compute_acceptance(edges, seeds)
    result["accepted_member"] = len(reference.member)
    result["accepted_verifier"] = len(reference.verifier)
    recompute_ms = median_millis(args.repeat, compute_acceptance, edges, seeds)
    result["recompute_ms"] = round(recompute_ms, 3)
    build, member, verifier = [], [], []
    for _ in range(args.repeat):
        metric = TrustMetric(seeds)
        build.append(millis(metric.replace_edges, edges))
        member.append(millis(metric.accepted, Level.MEMBER))
        verifier.append(millis(metric.accepted, Level.VERIFIER))
    result["build_ms"] = round(statistics.median(build), 3)
    result["recompute_member_ms"] = round(statistics.median(member), 3)
    result["recompute_verifier_ms"] = round(statistics.median(verifier), 3)

    # -- incremental -------------------------------------------------------------------
    metric = TrustMetric(seeds)
    metric.replace_edges(edges)
    metric.acceptance()
    adds: list[float] = []
    removes: list[float] = []
    op_rng = random.Random(args.rng_seed + 2)
    held = list(edges)
    gc.collect()
    for k in range(args.ops):
        if k % 2 == 0:
            (edge,) = generator.draw(1)
            held.append(edge)
            adds.append(millis(add_then_query, metric, edge))
        else:
            gone = held.pop(op_rng.randrange(len(held)))
            removes.append(millis(remove_then_query, metric, gone))
    assert metric.acceptance() == compute_acceptance(held, seeds), "incremental != scratch"
    result["incremental_ms"] = summary(adds + removes)
    result["incremental_add_ms"] = summary(adds)
    result["incremental_remove_ms"] = summary(removes)

    # -- Sybil nest --------------------------------------------------------------------
    # With the default capacities three seeds hand out 600 units, all spent on honest orgs
    # by distance 2 in this graph, so the nest also runs against roomy seeds (capacity
    # ROOMY_SEED_CAPACITY each), where honest demand leaves capacity over.
    metric = TrustMetric(seeds)
    metric.replace_edges(edges)
    confused = next(
        org
        for org in sorted(metric.accepted(Level.MEMBER))
        if metric.explain(org).member.distance == 2
    )
    sybils, nest = sybil_nest(rng, args.sybils, 5, generator.orgs)
    attack = Endorsement(
        issuer=confused, subject=sybils[0], level=Level.VERIFIER, max_depth=16, event_id=bytes(32)
    )
    attacked = [*edges, *nest, attack]
    sybil_set = set(sybils)
    under_attack = compute_acceptance(attacked, seeds)
    result["sybil_recompute_ms"] = round(median_millis(3, compute_acceptance, attacked, seeds), 3)
    for edge in nest:
        metric.add_edge(edge)
    metric.acceptance()
    result["sybil_attack_edge_incremental_ms"] = round(millis(add_then_query, metric, attack), 3)
    assert metric.acceptance() == under_attack
    result["sybil_keys"] = len(sybils)
    result["sybil_edges"] = len(nest) + 1
    result["sybil_accepted"] = len(under_attack.member & sybil_set)
    result["sybil_accepted_verifier"] = len(under_attack.verifier & sybil_set)
    result["sybil_bound"] = (metric.explain(confused).member.capacity or 1) - 1
    result["honest_member_lost"] = len(reference.member - under_attack.member)
    roomy = (ROOMY_SEED_CAPACITY, *DEFAULT_CAPACITIES[1:])
    roomy_before = compute_acceptance(edges, seeds, capacities=roomy)
    roomy_after = compute_acceptance(attacked, seeds, capacities=roomy)
    result["sybil_accepted_roomy_seeds"] = len(roomy_after.member & sybil_set)
    result["honest_member_lost_roomy_seeds"] = len(roomy_before.member - roomy_after.member)

    # -- naive baseline ----------------------------------------------------------------
    naive = {level: naive_acceptance(edges, seeds, level) for level in Level}
    naive_ms = median_millis(3, lambda: [naive_acceptance(edges, seeds, lv) for lv in Level])
    result["naive_recompute_ms"] = round(naive_ms, 3)
    result["naive_same_sets"] = all(naive[level] == reference.at(level) for level in Level)
    result["naive_same_counts"] = all(
        len(naive[level]) == len(reference.at(level)) for level in Level
    )
    result["speedup_vs_naive"] = round(naive_ms / recompute_ms, 1)

    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>34}: {value}")


if __name__ == "__main__":
    main()
