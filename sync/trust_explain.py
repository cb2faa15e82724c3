"""Why a key is or is not accepted: plain frozen data for ``aidnode trust explain`` (docs/trust.md).

An explanation restates the metric's own evidence rather than a summary of it. An accepted
key shows one path of positive flow from a seed that carried its unit (Levien's metric
accepts a key exactly when a unit reaches its sink edge). A rejected key shows the first rule
that stopped it: blocked by the operator; no endorsement chain from a seed; chains exist but
``max_depth`` ran out on them; or chains exist but the capacity of every path into it is used
up, in which case the saturated nodes are named (they form the minimum cut that Levien's
attack-resistance bound rests on).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from protocol.trust_bodies import Level
from sync.trust_flow import Flow, Graph, Labels, bottleneck, flow_path

__all__ = [
    "Explanation",
    "FlowHop",
    "FlowPath",
    "LevelExplanation",
    "Reason",
    "SaturatedNode",
    "explain_level",
    "standing_of",
]


class Reason(StrEnum):
    """The verdict's cause at one level. The values are stable (``--json`` output)."""

    SEED = "seed"  # accepted: a seed of this node (its own org or a pinned root)
    FLOW = "flow"  # accepted: a unit of flow reached its sink edge
    BLOCKED = "blocked"  # rejected: the operator blocked this key on this node
    UNREACHABLE = "unreachable"  # rejected: no endorsement chain from a seed reaches it
    BEYOND_MAX_DEPTH = "beyond_max_depth"  # rejected: chains exist, but max_depth ends them
    CAPACITY_EXHAUSTED = "capacity_exhausted"  # rejected: every path into it is saturated


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowHop:
    """One endorsement on a flow path and the flow it carries in the final flow."""

    issuer: bytes
    subject: bytes
    event_id: bytes
    flow: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowPath:
    """A path of positive flow from ``seed`` whose last hop ends at the explained key.

    ``hops`` is empty when the key is that seed (the source feeds it directly).
    """

    seed: bytes
    hops: tuple[FlowHop, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SaturatedNode:
    """A node on the rejected key's paths whose capacity is used up.

    For a seed, its source capacity (``capacity``) went to other keys; otherwise it already
    passes on all ``capacity - 1`` units it may (none at all when ``capacity`` is 1).
    """

    org: bytes
    distance: int
    capacity: int
    seed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelExplanation:
    """The verdict for one key at one level, with its evidence.

    ``distance``/``capacity`` are None when the key is unreachable or blocked; ``passed_on`` is
    the flow it forwards to others. ``paths`` is non-empty iff ``accepted``; ``saturated`` only
    for :attr:`Reason.CAPACITY_EXHAUSTED`; ``depth_exhausted_at`` (reachable orgs whose
    endorsements may not propagate further) only for :attr:`Reason.BEYOND_MAX_DEPTH`.
    """

    level: Level
    accepted: bool
    reason: Reason
    distance: int | None = None
    capacity: int | None = None
    passed_on: int = 0
    paths: tuple[FlowPath, ...] = ()
    saturated: tuple[SaturatedNode, ...] = ()
    depth_exhausted_at: tuple[bytes, ...] = ()

    def describe(self, names: Mapping[bytes, str] | None = None) -> str:
        """One English line for this level (two when accepted: the path follows)."""
        name = _namer(names)
        head = f"{self.level.value}: "
        if self.reason is Reason.SEED:
            return head + f"accepted: a seed of this node (capacity {self.capacity})."
        if self.reason is Reason.FLOW:
            lines = [
                head + f"accepted at distance {self.distance} (capacity {self.capacity}, "
                f"passes on {_units(self.passed_on)})."
            ]
            for path in self.paths:
                steps = [name(path.seed)] + [
                    f"{name(hop.subject)} [{_units(hop.flow)}, event {hop.event_id.hex()[:8]}]"
                    for hop in path.hops
                ]
                lines.append("    via " + " -> ".join(steps))
            return "\n".join(lines)
        if self.reason is Reason.BLOCKED:
            return head + "not accepted: blocked by this node's operator."
        if self.reason is Reason.UNREACHABLE:
            return head + "not accepted: no chain of endorsements from a seed reaches it."
        if self.reason is Reason.BEYOND_MAX_DEPTH:
            stoppers = ", ".join(name(org) for org in self.depth_exhausted_at[:_SHOWN])
            return head + (
                "not accepted: endorsement chains reach it only beyond their max_depth "
                f"(depth runs out at {stoppers}{_more(self.depth_exhausted_at)})."
            )
        full = ", ".join(f"{name(node.org)} ({_spent(node)})" for node in self.saturated[:_SHOWN])
        return head + (
            f"not accepted: reachable at distance {self.distance}, but the capacity of every "
            f"path into it is used up at {full}{_more(self.saturated)}."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why ``key`` is or is not accepted, at both levels."""

    key: bytes
    member: LevelExplanation
    verifier: LevelExplanation

    def at(self, level: Level) -> LevelExplanation:
        """The explanation at ``level``."""
        return self.verifier if level is Level.VERIFIER else self.member

    @property
    def standing(self) -> Level | None:
        """The highest level whose run accepts the key (see ``Acceptance.standing``)."""
        return standing_of(member=self.member.accepted, verifier=self.verifier.accepted)

    def describe(self, names: Mapping[bytes, str] | None = None) -> str:
        """A few English lines; ``names`` maps org ids to display names where known."""
        standing = self.standing
        verdict = f"accepted as {standing.value}" if standing else "not accepted"
        return "\n".join(
            [
                f"{_namer(names)(self.key)}: {verdict}",
                "  " + self.member.describe(names),
                "  " + self.verifier.describe(names),
            ]
        )


def standing_of(*, member: bool, verifier: bool) -> Level | None:
    """An org's standing from whether the member and verifier runs accept it: the highest
    level that does (Advogato's rule: a verifier is a member even if the member run, a
    separate flow, gave its place to others)."""
    if verifier:
        return Level.VERIFIER
    return Level.MEMBER if member else None


_SHOWN = 5  # describe() names at most this many nodes; the data carries all of them


def _units(count: int) -> str:
    return f"{count} unit" if count == 1 else f"{count} units"


def _spent(node: SaturatedNode) -> str:
    if node.seed:
        return f"a seed, all {_units(node.capacity)} given out"
    if node.capacity == 1:
        return f"distance {node.distance}, capacity 1: passes nothing on"
    return f"distance {node.distance}, capacity {node.capacity}: passes on {node.capacity - 1}"


def _more(items: Sequence[object]) -> str:
    return f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""


def _namer(names: Mapping[bytes, str] | None) -> Callable[[bytes], str]:
    def name(org: bytes) -> str:
        short = org.hex()[:8] + "…"
        known = names.get(org) if names else None
        return f"{known} ({short})" if known else short

    return name


def explain_level(
    *,
    level: Level,
    index: int | None,
    blocked: bool,
    graph: Graph,
    seeds: Sequence[int],
    labels: Labels,
    flow: Flow,
    ids: Sequence[bytes],
    rank: Sequence[int],
    event_for: Callable[[int, int], bytes],
) -> LevelExplanation:
    """Explain index ``index`` (None: a key this metric never saw) at one level.

    ``graph``, ``seeds``, ``labels`` and ``flow`` are that level's computation;
    ``ids[i]`` is the org id of index ``i`` and ``rank[i]`` its position in org-id order;
    ``event_for(u, v)`` the event id that stands for edge ``u -> v`` at this level.
    """
    if blocked:
        return LevelExplanation(level=level, accepted=False, reason=Reason.BLOCKED)
    if index is None or labels.distance[index] < 0:
        stoppers = [] if index is None else _depth_stoppers(graph, labels, index)
        if not stoppers:
            return LevelExplanation(level=level, accepted=False, reason=Reason.UNREACHABLE)
        return LevelExplanation(
            level=level,
            accepted=False,
            reason=Reason.BEYOND_MAX_DEPTH,
            depth_exhausted_at=tuple(sorted(ids[u] for u in stoppers)),
        )
    distance = labels.distance[index]
    capacity = flow.capacity[index]
    passed_on = flow.through[index]
    if index in flow.accepted:
        chain = flow_path(flow, seeds, index, rank)
        hops = tuple(
            FlowHop(
                issuer=ids[u],
                subject=ids[v],
                event_id=event_for(u, v),
                flow=flow.flow_out[u][v],
            )
            for u, v in pairwise(chain)
        )
        return LevelExplanation(
            level=level,
            accepted=True,
            reason=Reason.SEED if index in seeds else Reason.FLOW,
            distance=distance,
            capacity=capacity,
            passed_on=passed_on,
            paths=(FlowPath(seed=ids[chain[0]], hops=hops),),
        )
    seed_set = set(seeds)
    cut = sorted(
        bottleneck(graph, seeds, labels, flow, index),
        key=lambda u: (labels.distance[u], ids[u]),
    )
    return LevelExplanation(
        level=level,
        accepted=False,
        reason=Reason.CAPACITY_EXHAUSTED,
        distance=distance,
        capacity=capacity,
        passed_on=passed_on,
        saturated=tuple(
            SaturatedNode(
                org=ids[u],
                distance=labels.distance[u],
                capacity=flow.capacity[u],
                seed=u in seed_set,
            )
            for u in cut
        ),
    )


def _depth_stoppers(graph: Graph, labels: Labels, index: int) -> list[int]:
    """Reachable orgs with no depth budget left that lead, ignoring max_depth, to ``index``.

    Walks backwards from the unreachable ``index`` through unreachable orgs only; every
    reachable org met on the way has budget 0 (a usable edge would have reached its target).
    """
    in_edges: dict[int, list[int]] = {}
    for u, subjects in enumerate(graph):
        for v in subjects:
            in_edges.setdefault(v, []).append(u)
    seen = {index}
    stack = [index]
    stoppers: list[int] = []
    while stack:
        v = stack.pop()
        for u in in_edges.get(v, ()):
            if u in seen:
                continue
            seen.add(u)
            if labels.distance[u] >= 0:
                stoppers.append(u)
            else:
                stack.append(u)
    return stoppers
