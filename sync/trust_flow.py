"""The Advogato network-flow metric on an integer-indexed endorsement graph (docs/trust.md).

This is the arithmetic core of :mod:`sync.trust_metric`; it knows nothing of org ids, events
or levels. A graph is ``graph[u] = {v: max_depth}`` over dense indices ``0 … n-1``; blocked
orgs and self-endorsements are already gone. Every function is pure and deterministic: with
the same graph, seeds and ``rank`` (each index's position in org-id order) it returns the same
labels, the same accepted set and the same flow, whatever order the graph was built in.

The rules, in the order they are applied (Levien, "Attack-resistant trust metrics", and the
Advogato trust-metric notes, adapted to aidnode's ``max_depth``):

1. **Depth budget.** Seeds have an unlimited budget. An edge ``u -> v`` is *usable* iff
   ``budget(u) >= 1``; then ``budget(v) = max over usable in-edges of min(budget(u) - 1,
   max_depth(u -> v))``. The solution is unique: budgets strictly decrease along an edge, so the
   pass below settles nodes in decreasing budget like Dijkstra and never revisits one.
2. **Distance.** Breadth-first hops from the nearest seed over usable edges.
3. **Capacity.** ``capacities[min(distance, len(capacities) - 1)]``; unreachable nodes have none.
4. **Network.** Each node ``x`` splits into ``x_in -> x_out`` (capacity ``cap(x) - 1``) and
   ``x_in -> sink`` (capacity 1); each usable edge is ``u_out -> v_in`` (unbounded); a
   super-source feeds each seed's ``x_in`` with ``cap(seed)``.
5. **Canonical acceptance.** The sets of sink edges one flow can saturate together are the
   independent sets of a matroid (the rank function is a min-cut, hence submodular), so the
   greedy basis over the fixed order (distance, org id) is unique. :func:`canonical_flow` takes
   candidates in that order and accepts one iff the residual graph has a path to its ``x_in``;
   augmenting never unsaturates an earlier sink edge, because a simple source-to-sink path
   enters the sink only once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocol.trust_bodies import MAX_ENDORSE_DEPTH

__all__ = [
    "UNLIMITED",
    "Flow",
    "Labels",
    "bottleneck",
    "canonical_flow",
    "compute_labels",
    "flow_path",
    "with_unreachable",
]

UNLIMITED = 1 << 30
"""A seed's depth budget: larger than any ``max_depth`` (which the protocol caps at 16)."""

Graph = Sequence[Mapping[int, int]]
"""``graph[u] = {v: max_depth}``: the usable-or-not endorsement edges of one level."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Labels:
    """Per-index labels of one level's graph; ``-1`` marks an unreachable index.

    ``budget`` is the remaining depth budget (rule 1, ``UNLIMITED`` for seeds) and
    ``distance`` the hop count from the nearest seed over usable edges (rule 2). An index has a
    distance iff it has a budget. The sequences are shared, not copied: treat them as read-only.
    """

    budget: Sequence[int]
    distance: Sequence[int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """The canonical flow of one level (rules 3–5). Read-only views; ``-1``/``0`` as noted.

    ``accepted``: indices whose sink edge is saturated. ``capacity``: ``cap(x)``, 0 when
    unreachable. ``through``: flow on ``x_in -> x_out``. ``flow_out[u]``: ``{v: flow}`` for the
    edges ``u_out -> v_in`` that carry flow (never a zero entry). ``source_left[s]``: the part of
    seed ``s``'s source capacity still unused (0 for non-seeds).
    """

    accepted: frozenset[int]
    capacity: Sequence[int]
    through: Sequence[int]
    flow_out: Sequence[Mapping[int, int]]
    source_left: Sequence[int]


def compute_labels(graph: Graph, seeds: Iterable[int]) -> Labels:
    """Depth budgets and distances (rules 1 and 2) of every index of ``graph``.

    ``max_depth`` values must lie in ``0 … MAX_ENDORSE_DEPTH``. Cost: one pass over the edges
    out of nodes with a budget, plus one breadth-first pass over the usable edges.
    """
    n = len(graph)
    budget = [-1] * n
    seed_list = sorted(set(seeds))
    # Bucket queue by budget: an edge lowers the budget by at least one, so when bucket b is
    # drained nothing can still raise a node to b or above (the Dijkstra argument, rule 1).
    buckets: list[list[int]] = [[] for _ in range(MAX_ENDORSE_DEPTH + 1)]
    for seed in seed_list:
        budget[seed] = UNLIMITED
    for seed in seed_list:
        for v, max_depth in graph[seed].items():
            if max_depth > budget[v]:
                budget[v] = max_depth
                buckets[max_depth].append(v)
    for level in range(MAX_ENDORSE_DEPTH, 0, -1):
        passed_on = level - 1
        for u in buckets[level]:
            if budget[u] != level:
                continue  # superseded by a larger budget found later
            for v, max_depth in graph[u].items():
                candidate = max_depth if max_depth < passed_on else passed_on
                if candidate > budget[v]:
                    budget[v] = candidate
                    buckets[candidate].append(v)

    distance = [-1] * n
    for seed in seed_list:
        distance[seed] = 0
    frontier = seed_list
    hops = 0
    while frontier:
        hops += 1
        reached: list[int] = []
        for u in frontier:
            if budget[u] < 1:
                continue
            for v in graph[u]:
                if distance[v] < 0:
                    distance[v] = hops
                    reached.append(v)
        frontier = reached
    return Labels(budget=budget, distance=distance)


def with_unreachable(labels: Labels, flow: Flow, n: int) -> tuple[Labels, Flow]:
    """``labels`` and ``flow`` extended to ``n`` indices, the new ones unreachable.

    Exactly what a recomputation returns when the only new indices are orgs that no usable
    edge reaches: an unreachable node has no capacity and no network edges.
    """
    extra = n - len(labels.budget)
    if extra <= 0:
        return labels, flow
    unreachable, zero = [-1] * extra, [0] * extra
    return (
        Labels(budget=[*labels.budget, *unreachable], distance=[*labels.distance, *unreachable]),
        Flow(
            accepted=flow.accepted,
            capacity=[*flow.capacity, *zero],
            through=[*flow.through, *zero],
            flow_out=[*flow.flow_out, *({} for _ in range(extra))],
            source_left=[*flow.source_left, *zero],
        ),
    )


def canonical_flow(
    graph: Graph,
    seeds: Iterable[int],
    labels: Labels,
    capacities: Sequence[int],
    rank: Sequence[int],
) -> Flow:
    """The canonical (greedy-basis) flow of rules 3–5.

    ``labels`` must be ``compute_labels(graph, seeds)``; ``rank[i]`` orders indices by org id
    (distinct values). The accepted set depends only on the graph, seeds and capacities; the
    flow itself depends also on this implementation's search order, which is fixed by
    ``rank`` and ``labels``, so replicas running this code agree on it too.
    """
    return _Greedy(graph, seeds, labels, capacities, rank).run()


_NO_PREDECESSORS: list[int] = []  # shared, only ever read


class _Greedy:
    """One run of the greedy basis. Split nodes are ints: ``x_in = 2x``, ``x_out = 2x + 1``."""

    def __init__(
        self,
        graph: Graph,
        seeds: Iterable[int],
        labels: Labels,
        capacities: Sequence[int],
        rank: Sequence[int],
    ) -> None:
        n = len(graph)
        distance, budget = labels.distance, labels.budget
        last = len(capacities) - 1
        # capacity by distance; the extra 0 at the end is what distance -1 indexes.
        by_distance = [capacities[min(d, last)] for d in range(max(distance, default=0) + 1)]
        by_distance.append(0)
        capacity = [by_distance[d] for d in distance]
        self.capacity = capacity
        self.through_cap = [c - 1 if c else 0 for c in capacity]

        def key(i: int) -> int:
            return distance[i] * n + rank[i]

        # Only feeders (capacity >= 2, depth budget left) can pass flow on: a capacity-1 node
        # has a zero x_in -> x_out edge. So only seeds and the feeders' endorsees can ever be
        # accepted, and the work stays in the near region however large the graph beyond.
        feeders = sorted((u for u, c in enumerate(capacity) if c > 1 and budget[u] >= 1), key=key)
        # Residual predecessors of x_in along unbounded edges, closest endorser first so the
        # search usually walks straight back to a seed.
        self.in_pred: dict[int, list[int]] = {}
        in_pred = self.in_pred
        for u in feeders:
            out_node = 2 * u + 1
            for v in graph[u]:
                if v in in_pred:
                    in_pred[v].append(out_node)
                else:
                    in_pred[v] = [out_node]
        seed_set = set(seeds)
        self.order = sorted(seed_set.union(in_pred), key=key)
        self.through = [0] * n
        self.flow_out: list[dict[int, int]] = [{} for _ in range(n)]
        self.source_left = [0] * n
        for seed in seed_set:
            self.source_left[seed] = capacity[seed]
        # alive: split nodes not yet proven unreachable from the source. The reachable set
        # only shrinks as flow is added, so a proof stays valid for the rest of the run.
        self.alive = bytearray(2 * n)
        for i in self.order:
            self.alive[2 * i] = 1
        for u in feeders:
            self.alive[2 * u] = 1
            self.alive[2 * u + 1] = 1
        self.mark = [0] * (2 * n)
        self.stamp = 0

    def run(self) -> Flow:
        accepted: list[int] = []
        alive = self.alive
        for x in self.order:
            if not alive[2 * x]:
                continue
            path = self._augmenting_path(x)
            if path is not None:
                self._augment(path)
                accepted.append(x)
        return Flow(
            accepted=frozenset(accepted),
            capacity=self.capacity,
            through=self.through,
            flow_out=self.flow_out,
            source_left=self.source_left,
        )

    def _augmenting_path(self, x: int) -> list[int] | None:
        """A residual path from the source to ``x_in``, listed backwards from ``x_in``.

        Depth-first search backwards from ``x_in``. On failure every visited split node is
        marked dead: each can reach ``x_in``, so none can be reachable from the source.
        """
        in_pred, alive, mark = self.in_pred, self.alive, self.mark
        through, through_cap = self.through, self.through_cap
        source_left, flow_out = self.source_left, self.flow_out
        self.stamp += 1
        stamp = self.stamp
        start = 2 * x
        if source_left[x] > 0:
            return [start]
        mark[start] = stamp
        visited = [start]
        path = [start]
        pending: list[list[int]] = [in_pred.get(x, _NO_PREDECESSORS)]
        position = [0]
        while path:
            node = path[-1]
            preds = pending[-1]
            k = position[-1]
            count = len(preds)
            found = -1
            while k < count:
                candidate = preds[k]
                k += 1
                if alive[candidate] and mark[candidate] != stamp:
                    found = candidate
                    break
            if found < 0 and k == count and not node & 1:
                # Last resort at an in-node: push back flow that passes through it.
                k += 1
                candidate = node + 1
                if through[node >> 1] and alive[candidate] and mark[candidate] != stamp:
                    found = candidate
            position[-1] = k
            if found < 0:
                path.pop()
                pending.pop()
                position.pop()
                continue
            mark[found] = stamp
            visited.append(found)
            path.append(found)
            position.append(0)
            index = found >> 1
            if found & 1:
                reverse = [2 * v for v in flow_out[index]]
                if through[index] < through_cap[index]:
                    reverse.insert(0, found - 1)
                pending.append(reverse)
            else:
                if source_left[index] > 0:
                    return path
                pending.append(in_pred.get(index, _NO_PREDECESSORS))
        for node in visited:
            alive[node] = 0
        return None

    def _augment(self, path: list[int]) -> None:
        """Push one unit along ``path`` (backwards from ``x_in`` to a seed's ``x_in``)."""
        through, flow_out = self.through, self.flow_out
        for k in range(len(path) - 1):
            head, tail = path[k], path[k + 1]  # the residual edge is tail -> head
            head_index, tail_index = head >> 1, tail >> 1
            if head_index == tail_index:
                through[head_index] += 1 if head & 1 else -1
            elif tail & 1:
                flows = flow_out[tail_index]
                flows[head_index] = flows.get(head_index, 0) + 1
            else:
                flows = flow_out[head_index]
                left = flows[tail_index] - 1
                if left:
                    flows[tail_index] = left
                else:
                    del flows[tail_index]
        self.source_left[path[-1] >> 1] -= 1


def flow_path(flow: Flow, seeds: Iterable[int], x: int, rank: Sequence[int]) -> list[int]:
    """Indices ``[seed, …, x]`` of a shortest path of positive flow into ``x``'s sink edge.

    ``x`` must be in ``flow.accepted``; raises ValueError otherwise. Every hop carries flow, so
    the path is one step of a decomposition of the flow: the route of ``x``'s own unit. Ties
    go to the endorser first in org-id order (``rank``), so every replica shows the same path.
    ``[x]`` for a seed, which the source feeds directly.
    """
    seed_set = set(seeds)
    inflow: dict[int, list[int]] = {}
    for u, flows in enumerate(flow.flow_out):
        for v in flows:
            inflow.setdefault(v, []).append(u)
    # Breadth-first backwards along positive flow; conservation guarantees a seed is reached
    # (every seed's own unit comes from its source edge, which no augmentation ever undoes).
    parent: dict[int, int] = {x: x}
    frontier = [x]
    while frontier:
        reached: list[int] = []
        for v in frontier:
            if v in seed_set and flow.source_left[v] < flow.capacity[v]:
                path = [v]
                while path[-1] != x:
                    path.append(parent[path[-1]])
                return path
            for u in sorted(inflow.get(v, ()), key=rank.__getitem__):
                if u not in parent and flow.through[u] > 0:
                    parent[u] = v
                    reached.append(u)
        frontier = reached
    raise ValueError("index is not accepted: no flow reaches its sink edge")


def bottleneck(graph: Graph, seeds: Iterable[int], labels: Labels, flow: Flow, x: int) -> list[int]:
    """The nodes whose used-up capacity cuts ``x_in`` off from the source.

    For a reachable, rejected ``x``: the split nodes that can still reach ``x_in`` in the final
    residual graph form a set the source cannot enter; every network edge entering it is
    saturated. Those edges are ``u_in -> u_out`` (``u`` passed on all its ``cap(u) - 1``,
    possibly zero) or a seed's source edge. Returns those ``u`` (seeds included), unordered.
    """
    seed_set = set(seeds)
    budget = labels.budget
    in_edges: dict[int, list[int]] = {}
    for u, subjects in enumerate(graph):
        if budget[u] >= 1:
            for v in subjects:
                in_edges.setdefault(v, []).append(u)
    through, capacity = flow.through, flow.capacity
    seen = {2 * x}
    stack = [2 * x]
    cut: set[int] = set()
    while stack:
        node = stack.pop()
        index = node >> 1
        if node & 1:
            preds = [2 * v for v in flow.flow_out[index]]
            if through[index] < capacity[index] - 1:
                preds.append(node - 1)
            else:
                cut.add(index)
        else:
            if index in seed_set:
                cut.add(index)  # in the set, so its source edge must be used up
            preds = [2 * u + 1 for u in in_edges.get(index, ())]
            if through[index]:
                preds.append(node + 1)
        for pred in preds:
            if pred not in seen:
                seen.add(pred)
                stack.append(pred)
    return [u for u in cut if u in seed_set or 2 * u not in seen]
