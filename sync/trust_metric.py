"""Which orgs a node accepts, per level: Levien's Advogato metric over endorsements (docs/trust.md).

Input is the live endorsement graph (the trust-graph fold has already dropped expired and
revoked endorsements and resolved keys to org ids): :class:`Endorsement` edges, the node's
seeds (its own org plus operator-pinned roots) and its locally blocked orgs. Output is the
accepted set at each :class:`~protocol.trust_bodies.Level`, and an :class:`Explanation` for any
key. The graph rules and the flow are in :mod:`sync.trust_flow`; this module adds org ids,
levels, blocking and incremental upkeep.

Levels follow Advogato's certification levels: the metric runs once per level, the
``verifier`` run over verifier endorsements only and the ``member`` run over all of them (a
verifier endorsement vouches for membership too).

Determinism: :func:`compute_acceptance` is a function of the edge *set*; a
:class:`TrustMetric` fed any sequence of additions and removals returns exactly what
:func:`compute_acceptance` returns for the edges it holds at that moment (property-tested).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from protocol.trust_bodies import MAX_ENDORSE_DEPTH, Level
from sync.trust_explain import Explanation, explain_level, standing_of
from sync.trust_flow import Flow, Labels, canonical_flow, compute_labels, with_unreachable

__all__ = [
    "DEFAULT_CAPACITIES",
    "Acceptance",
    "Endorsement",
    "TrustMetric",
    "compute_acceptance",
]

DEFAULT_CAPACITIES: tuple[int, ...] = (200, 40, 10, 3, 1)
"""Capacity by distance from the seeds; beyond the list the last value applies.

Levien's Advogato used (800, 200, 200, 50, 12, 4, 2, 1) for a few thousand accounts and a
four-person seed; a node's own view needs less reach. Note the total: a node accepts at
most ``capacities[0]`` orgs per seed.
"""

ORG_ID_BYTES = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Endorsement:
    """A live endorsement ``issuer -> subject`` (org ids), from event ``event_id``.

    ``level`` is a :class:`Level` (a plain ``"member"``/``"verifier"`` string is converted);
    ``max_depth`` is how many further hops the subject's own endorsements may propagate
    through this edge (0: "I vouch for them, not for whom they vouch"). Raises ValueError on
    a malformed value.
    """

    issuer: bytes
    subject: bytes
    level: Level
    max_depth: int
    event_id: bytes

    def __post_init__(self) -> None:
        for name in ("issuer", "subject", "event_id"):
            value = getattr(self, name)
            if type(value) is not bytes or len(value) != ORG_ID_BYTES:
                raise ValueError(f"{name} must be {ORG_ID_BYTES} bytes")
        object.__setattr__(self, "level", Level(self.level))
        if type(self.max_depth) is not int or not 0 <= self.max_depth <= MAX_ENDORSE_DEPTH:
            raise ValueError(f"max_depth must be an integer from 0 to {MAX_ENDORSE_DEPTH}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Acceptance:
    """The org ids accepted by each level's run of the metric."""

    member: frozenset[bytes]
    verifier: frozenset[bytes]

    def at(self, level: Level) -> frozenset[bytes]:
        """The accepted set of the run at ``level``."""
        return self.verifier if level is Level.VERIFIER else self.member

    def standing(self, org: bytes) -> Level | None:
        """The highest level whose run accepts ``org`` (None: neither does).

        This is Advogato's rule for an account's certification level, and what consumers
        should ask: the runs are separate flows, so an org can be accepted by the verifier
        run yet lose its place in the busier member run, and it is still a member.
        """
        return standing_of(member=org in self.member, verifier=org in self.verifier)


def compute_acceptance(
    edges: Iterable[Endorsement],
    seeds: Iterable[bytes],
    *,
    capacities: Sequence[int] = DEFAULT_CAPACITIES,
    blocked: Iterable[bytes] = (),
) -> Acceptance:
    """Each level's accepted set, computed from scratch: the reference a :class:`TrustMetric`
    holding the same edges agrees with. Depends on the edge *set* only, not its order.

    Blocked orgs lose all their edges and are never accepted, even if they are seeds.
    Parallel edges between the same two orgs act as one edge with their largest
    ``max_depth``. Raises ValueError on invalid ``capacities``.
    """
    checked = _checked_capacities(capacities)
    edge_list = list(edges)
    blocked_set = frozenset(blocked)
    seed_set = frozenset(seeds) - blocked_set
    ids = sorted(seed_set | {e.issuer for e in edge_list} | {e.subject for e in edge_list})
    index = {org: i for i, org in enumerate(ids)}  # sorted ids: an index is its own rank
    seed_indices = sorted(index[org] for org in seed_set)
    accepted: dict[Level, frozenset[bytes]] = {}
    for level in Level:
        graph: list[dict[int, int]] = [{} for _ in ids]
        for edge in edge_list:
            if not _counts_at(edge, level) or _is_excluded(edge, blocked_set):
                continue
            out = graph[index[edge.issuer]]
            subject = index[edge.subject]
            if out.get(subject, -1) < edge.max_depth:
                out[subject] = edge.max_depth
        labels = compute_labels(graph, seed_indices)
        flow = canonical_flow(graph, seed_indices, labels, checked, range(len(ids)))
        accepted[level] = frozenset(ids[i] for i in flow.accepted)
    return Acceptance(member=accepted[Level.MEMBER], verifier=accepted[Level.VERIFIER])


@dataclass(slots=True)
class _LevelState:
    """One level's integer graph and its cached result (mutable upkeep, never handed out)."""

    graph: list[dict[int, int]] = field(default_factory=list)
    labels: Labels | None = None
    flow: Flow | None = None
    accepted: frozenset[bytes] = frozenset()
    # Issuers of edges changed since the cached result; None: recompute in full.
    changed_issuers: list[int] | None = None


class TrustMetric:
    """A node's acceptance metric, kept current as endorsements are added and removed.

    Results are computed lazily on query and cached per level. A change touches only the
    levels whose effective edge changed, and costs nothing more when it provably cannot alter
    the result: an edge out of an org without depth budget is unusable (Levien's flow never
    sees it), and an edge out of a capacity-1 org carries no flow, so if distances and budgets
    are also unchanged the cached flow is exactly what a recomputation would produce.
    Everything else recomputes that level from cached integer adjacency (milliseconds for a
    thousand orgs; see docs/trust.md for the numbers).
    """

    def __init__(
        self,
        seeds: Iterable[bytes],
        *,
        capacities: Sequence[int] = DEFAULT_CAPACITIES,
        blocked: Iterable[bytes] = (),
    ) -> None:
        """Raises ValueError on invalid ``capacities``."""
        self._capacities = _checked_capacities(capacities)
        self._seeds = frozenset(seeds)
        self._blocked = set(blocked)
        self._edges: dict[bytes, Endorsement] = {}
        self._reset_graph()

    @property
    def capacities(self) -> tuple[int, ...]:
        return self._capacities

    @property
    def seeds(self) -> frozenset[bytes]:
        """The configured seeds (a blocked seed stays listed here but is not accepted)."""
        return self._seeds

    @property
    def blocked(self) -> frozenset[bytes]:
        return frozenset(self._blocked)

    @property
    def edges(self) -> frozenset[Endorsement]:
        """The endorsements currently held."""
        return frozenset(self._edges.values())

    def add_edge(self, edge: Endorsement) -> None:
        """Add ``edge``; adding the same endorsement again is a no-op.

        Raises ValueError if a different endorsement with the same event id is held.
        """
        held = self._edges.get(edge.event_id)
        if held is not None:
            if held != edge:
                raise ValueError("another endorsement with this event id is already held")
            return
        self._edges[edge.event_id] = edge
        self._store(edge)

    def remove_edge(self, event_id: bytes) -> Endorsement | None:
        """Remove the endorsement from event ``event_id``; return it, or None if not held."""
        edge = self._edges.pop(event_id, None)
        if edge is None:
            return None
        pair = (self._index[edge.issuer], self._index[edge.subject])
        parallel = self._pairs[pair]
        del parallel[event_id]
        if not parallel:
            del self._pairs[pair]
        self._pair_changed(*pair)
        return edge

    def replace_edges(self, edges: Iterable[Endorsement]) -> None:
        """Hold exactly ``edges`` from now on. Raises ValueError on clashing event ids."""
        fresh: dict[bytes, Endorsement] = {}
        for edge in edges:
            if fresh.setdefault(edge.event_id, edge) != edge:
                raise ValueError("two different endorsements share an event id")
        self._edges = fresh
        self._reset_graph()

    def block(self, org: bytes) -> None:
        """Block ``org`` on this node: it and all its edges leave the computation."""
        if org not in self._blocked:
            self._blocked.add(org)
            self._reset_graph()

    def unblock(self, org: bytes) -> None:
        """Undo :meth:`block`; unknown or unblocked orgs are ignored."""
        if org in self._blocked:
            self._blocked.discard(org)
            self._reset_graph()

    def accepted(self, level: Level) -> frozenset[bytes]:
        """The org ids the run at ``level`` accepts (seeds included, blocked orgs never).

        To ask whether an org counts as a member at all, use ``acceptance().standing(org)``:
        the verifier run can accept an org the member run gave no place to (docs/trust.md §7).
        """
        return self._result(Level(level)).accepted

    def acceptance(self) -> Acceptance:
        """Both levels at once."""
        return Acceptance(
            member=self.accepted(Level.MEMBER), verifier=self.accepted(Level.VERIFIER)
        )

    def explain(self, key: bytes) -> Explanation:
        """Why ``key`` is or is not accepted at each level (see :mod:`sync.trust_explain`)."""
        index = self._index.get(key)
        parts = []
        for level in (Level.MEMBER, Level.VERIFIER):
            state = self._result(level)
            assert state.labels is not None and state.flow is not None  # set by _result

            def event_for(u: int, v: int, level: Level = level) -> bytes:
                return self._representative(u, v, level).event_id

            parts.append(
                explain_level(
                    level=level,
                    index=index,
                    blocked=key in self._blocked,
                    graph=state.graph,
                    seeds=self._seed_indices,
                    labels=state.labels,
                    flow=state.flow,
                    ids=self._ids,
                    rank=self._ranks(),
                    event_for=event_for,
                )
            )
        return Explanation(key=key, member=parts[0], verifier=parts[1])

    # -- upkeep ---------------------------------------------------------------------------

    def _reset_graph(self) -> None:
        """Rebuild every index and both level graphs from ``_edges`` (construction, blocking)."""
        self._ids: list[bytes] = []
        self._index: dict[bytes, int] = {}
        self._rank: list[int] | None = None
        self._pairs: dict[tuple[int, int], dict[bytes, Endorsement]] = {}
        self._levels = {level: _LevelState() for level in Level}
        active_seeds = self._seeds - self._blocked
        self._seed_indices = sorted(self._intern(org) for org in sorted(active_seeds))
        intern, pairs = self._intern, self._pairs
        for edge in self._edges.values():
            pair = (intern(edge.issuer), intern(edge.subject))
            pairs.setdefault(pair, {})[edge.event_id] = edge
        # Fresh level states recompute in full, so the graphs are filled in directly.
        member = self._levels[Level.MEMBER].graph
        verifier = self._levels[Level.VERIFIER].graph
        blocked = {self._index[org] for org in self._blocked if org in self._index}
        for (u, v), parallel in pairs.items():
            if u == v or u in blocked or v in blocked:
                continue
            member[u][v] = max(e.max_depth for e in parallel.values())
            depths = [e.max_depth for e in parallel.values() if e.level is Level.VERIFIER]
            if depths:
                verifier[u][v] = max(depths)

    def _intern(self, org: bytes) -> int:
        index = self._index.get(org)
        if index is None:
            index = self._index[org] = len(self._ids)
            self._ids.append(org)
            self._rank = None
            for state in self._levels.values():
                state.graph.append({})
        return index

    def _store(self, edge: Endorsement) -> None:
        pair = (self._intern(edge.issuer), self._intern(edge.subject))
        self._pairs.setdefault(pair, {})[edge.event_id] = edge
        self._pair_changed(*pair)

    def _pair_changed(self, u: int, v: int) -> None:
        """Bring the edge ``u -> v`` of each level up to date and invalidate what it affects."""
        if u == v or self._ids[u] in self._blocked or self._ids[v] in self._blocked:
            return  # never part of the graph (Levien's graph has no self-certification)
        parallel = self._pairs.get((u, v), {})
        for level, state in self._levels.items():
            depths = [e.max_depth for e in parallel.values() if _counts_at(e, level)]
            new = max(depths) if depths else None
            out = state.graph[u]
            if out.get(v) == new:
                continue
            if new is None:
                del out[v]
            else:
                out[v] = new
            if state.changed_issuers is None:
                continue  # already due for a full recomputation
            labels = state.labels
            if labels is not None and (u >= len(labels.budget) or labels.budget[u] < 1):
                continue  # unusable before and after: no depth budget reaches u
            state.changed_issuers.append(u)

    def _result(self, level: Level) -> _LevelState:
        """The level's state with labels, flow and accepted set current."""
        state = self._levels[level]
        changed = state.changed_issuers
        n = len(state.graph)
        if state.labels is not None and state.flow is not None and changed is not None:
            # Orgs interned since the last run arrived only on unusable edges (any other
            # change is in ``changed``), so they are unreachable until shown otherwise.
            state.labels, state.flow = with_unreachable(state.labels, state.flow, n)
            if not changed:
                return state
            labels = compute_labels(state.graph, self._seed_indices)
            if labels == state.labels and all(state.flow.capacity[u] <= 1 for u in changed):
                state.changed_issuers = []
                return state  # only capacity-1 issuers changed: no flow can use their edges
        else:
            labels = compute_labels(state.graph, self._seed_indices)
        state.labels = labels
        state.flow = canonical_flow(
            state.graph, self._seed_indices, labels, self._capacities, self._ranks()
        )
        state.accepted = frozenset(self._ids[i] for i in state.flow.accepted)
        state.changed_issuers = []
        return state

    def _ranks(self) -> list[int]:
        if self._rank is None:
            ids = self._ids
            rank = [0] * len(ids)
            for position, index in enumerate(sorted(range(len(ids)), key=ids.__getitem__)):
                rank[index] = position
            self._rank = rank
        return self._rank

    def _representative(self, u: int, v: int, level: Level) -> Endorsement:
        """The endorsement that stands for edge ``u -> v`` at ``level``: largest max_depth,
        then smallest event id (so every replica names the same event)."""
        eligible = [e for e in self._pairs[(u, v)].values() if _counts_at(e, level)]
        return min(eligible, key=lambda e: (-e.max_depth, e.event_id))


def _counts_at(edge: Endorsement, level: Level) -> bool:
    return level is Level.MEMBER or edge.level is Level.VERIFIER


def _is_excluded(edge: Endorsement, blocked: frozenset[bytes]) -> bool:
    return edge.issuer == edge.subject or edge.issuer in blocked or edge.subject in blocked


def _checked_capacities(capacities: Sequence[int]) -> tuple[int, ...]:
    """Capacities as a tuple; raises ValueError unless non-empty, >= 1 and non-increasing
    (a farther org never outranks a nearer one: the premise of Levien's bound)."""
    checked = tuple(capacities)
    if not checked:
        raise ValueError("capacities must not be empty")
    if any(type(c) is not int or c < 1 for c in checked):
        raise ValueError("capacities must be integers >= 1")
    if any(a < b for a, b in pairwise(checked)):
        raise ValueError("capacities must not increase with distance")
    return checked
