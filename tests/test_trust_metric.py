"""sync/trust_metric.py: graph rules, levels, blocking, determinism, incremental upkeep and
the attack-resistance bounds of Levien's metric."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.trust_bodies import MAX_ENDORSE_DEPTH, Level
from sync.trust_metric import (
    DEFAULT_CAPACITIES,
    Acceptance,
    Endorsement,
    TrustMetric,
    compute_acceptance,
)


def org(i: int) -> bytes:
    """Org ids whose byte order differs from their numbering, so tie-breaks are exercised."""
    return hashlib.blake2b(i.to_bytes(4, "big"), digest_size=32, person=b"test-org").digest()


def endorse(
    issuer: int,
    subject: int,
    *,
    level: Level = Level.MEMBER,
    max_depth: int = MAX_ENDORSE_DEPTH,
    serial: int = 0,
) -> Endorsement:
    event = hashlib.blake2b(
        repr((issuer, subject, level.value, max_depth, serial)).encode(), digest_size=32
    ).digest()
    return Endorsement(
        issuer=org(issuer), subject=org(subject), level=level, max_depth=max_depth, event_id=event
    )


def chain(length: int, **kwargs: int) -> list[Endorsement]:
    return [endorse(i, i + 1, **kwargs) for i in range(length)]  # type: ignore[arg-type]


# -- values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"issuer": b"short"},
        {"subject": "not bytes"},
        {"event_id": bytes(31)},
        {"level": "admin"},
        {"max_depth": -1},
        {"max_depth": MAX_ENDORSE_DEPTH + 1},
        {"max_depth": True},
    ],
)
def test_endorsement_rejects_malformed_values(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "issuer": org(1),
        "subject": org(2),
        "level": Level.MEMBER,
        "max_depth": 3,
        "event_id": bytes(32),
    }
    fields.update(changes)
    with pytest.raises(ValueError):
        Endorsement(**fields)  # type: ignore[arg-type]


def test_endorsement_turns_a_level_string_into_a_level() -> None:
    edge = Endorsement(
        issuer=org(1), subject=org(2), level="verifier", max_depth=0, event_id=bytes(32)
    )  # type: ignore[arg-type]
    assert edge.level is Level.VERIFIER


@pytest.mark.parametrize("capacities", [(), (0,), (3, 5), (2.5,)])
def test_capacities_must_be_positive_integers_that_never_increase(
    capacities: Sequence[int],
) -> None:
    with pytest.raises(ValueError):
        TrustMetric([org(0)], capacities=capacities)
    with pytest.raises(ValueError):
        compute_acceptance([], [org(0)], capacities=capacities)


# -- graph rules -------------------------------------------------------------------------


def test_capacity_follows_distance_and_repeats_the_last_value_beyond_the_list() -> None:
    metric = TrustMetric([org(0)])
    metric.replace_edges(chain(6))
    found = [
        (metric.explain(org(i)).member.distance, metric.explain(org(i)).member.capacity)
        for i in range(7)
    ]
    assert found == [(0, 200), (1, 40), (2, 10), (3, 3), (4, 1), (5, 1), (6, 1)]
    assert DEFAULT_CAPACITIES == (200, 40, 10, 3, 1)


def test_distance_is_the_shortest_usable_chain_from_any_seed() -> None:
    metric = TrustMetric([org(0), org(9)])
    metric.replace_edges([*chain(4), endorse(9, 3)])
    assert metric.explain(org(3)).member.distance == 1
    assert metric.explain(org(4)).member.distance == 2


def test_capacity_one_orgs_are_accepted_but_pass_nothing_on() -> None:
    # Distances 0..5: org 4 (capacity 1) is fed by org 3, but cannot feed org 5.
    accepted = compute_acceptance(chain(5), [org(0)]).member
    assert accepted == {org(i) for i in range(5)}


def test_max_depth_zero_vouches_for_the_subject_but_not_for_whom_it_vouches() -> None:
    accepted = compute_acceptance([endorse(0, 1, max_depth=0), endorse(1, 2)], [org(0)]).member
    assert accepted == {org(0), org(1)}


def test_max_depth_counts_the_further_hops_of_the_subjects_own_endorsements() -> None:
    edges = [endorse(0, 1, max_depth=2), *chain(4)[1:]]  # 0 -> 1 (depth 2) -> 2 -> 3 -> 4
    accepted = compute_acceptance(edges, [org(0)]).member
    assert accepted == {org(0), org(1), org(2), org(3)}


def test_max_depth_uses_the_most_generous_chain() -> None:
    edges = [endorse(0, 1, max_depth=0), endorse(0, 2), endorse(2, 1), endorse(1, 3)]
    assert org(3) in compute_acceptance(edges, [org(0)]).member


def test_parallel_endorsements_act_as_one_edge_with_the_largest_max_depth() -> None:
    low, high = endorse(0, 1, max_depth=0), endorse(0, 1, max_depth=5, serial=1)
    metric = TrustMetric([org(0)])
    for edge in (low, high, endorse(1, 2)):
        metric.add_edge(edge)
    assert org(2) in metric.accepted(Level.MEMBER)
    assert metric.remove_edge(high.event_id) == high
    assert metric.accepted(Level.MEMBER) == {org(0), org(1)}
    metric.remove_edge(low.event_id)
    assert metric.accepted(Level.MEMBER) == {org(0)}


def test_self_endorsement_is_ignored() -> None:
    accepted = compute_acceptance([endorse(1, 1), endorse(0, 0)], [org(0)])
    assert accepted == Acceptance(member=frozenset({org(0)}), verifier=frozenset({org(0)}))


def test_verifier_level_counts_only_verifier_endorsements() -> None:
    edges = [endorse(0, 1, level=Level.VERIFIER), endorse(0, 2), endorse(1, 3)]
    result = compute_acceptance(edges, [org(0)])
    assert result.verifier == {org(0), org(1)}
    assert result.member == {org(0), org(1), org(2), org(3)}
    assert result.at(Level.VERIFIER) is result.verifier


def test_a_verifier_keeps_member_standing_when_the_member_run_gives_its_place_away() -> None:
    # The seed passes on 2 units; three orgs at distance 1 compete in the member run, and
    # the one that loses (by org id) is the only verifier.
    member_edges = [endorse(0, i) for i in (1, 2, 3)]
    (loser,) = compute_acceptance(member_edges, [org(0)], capacities=(3, 1)).member ^ {
        org(0),
        org(1),
        org(2),
        org(3),
    }
    verifier_edge = Endorsement(
        issuer=org(0), subject=loser, level=Level.VERIFIER, max_depth=0, event_id=bytes(32)
    )
    result = compute_acceptance([*member_edges, verifier_edge], [org(0)], capacities=(3, 1))
    assert loser not in result.member and loser in result.verifier
    assert result.standing(loser) is Level.VERIFIER
    assert result.standing(org(5)) is None
    assert {result.standing(o) for o in result.member} == {Level.MEMBER, Level.VERIFIER}


def test_blocking_removes_the_org_and_all_its_edges() -> None:
    edges = [*chain(2), endorse(0, 3), endorse(3, 4)]
    metric = TrustMetric([org(0)], blocked=[org(1)])
    metric.replace_edges(edges)
    assert metric.accepted(Level.MEMBER) == {org(0), org(3), org(4)}
    metric.block(org(3))
    assert metric.accepted(Level.MEMBER) == {org(0)}
    metric.unblock(org(1))
    metric.unblock(org(7))  # never blocked: nothing happens
    assert metric.accepted(Level.MEMBER) == {org(0), org(1), org(2)}
    assert metric.blocked == {org(3)}
    assert compute_acceptance(edges, [org(0)], blocked=[org(3)]).member == {
        org(0),
        org(1),
        org(2),
    }


def test_a_blocked_seed_is_not_accepted_and_passes_nothing_on() -> None:
    metric = TrustMetric([org(0), org(5)], blocked=[org(5)])
    metric.replace_edges([endorse(5, 6), endorse(0, 1)])
    assert metric.accepted(Level.MEMBER) == {org(0), org(1)}
    assert metric.seeds == {org(0), org(5)}


def test_adding_the_same_endorsement_twice_is_a_no_op_and_a_clash_is_refused() -> None:
    metric = TrustMetric([org(0)])
    edge = endorse(0, 1)
    metric.add_edge(edge)
    metric.add_edge(edge)
    assert metric.edges == {edge}
    clash = Endorsement(
        issuer=org(0), subject=org(2), level=Level.MEMBER, max_depth=1, event_id=edge.event_id
    )
    with pytest.raises(ValueError):
        metric.add_edge(clash)
    with pytest.raises(ValueError):
        metric.replace_edges([edge, clash])
    assert metric.remove_edge(bytes(32)) is None


# -- determinism and incremental upkeep --------------------------------------------------

NODES = 6


@st.composite
def endorsements(draw: st.DrawFn) -> Endorsement:
    return endorse(
        draw(st.integers(0, NODES - 1)),
        draw(st.integers(0, NODES - 1)),
        level=draw(st.sampled_from(Level)),
        max_depth=draw(st.sampled_from([0, 1, 2, MAX_ENDORSE_DEPTH])),
        serial=draw(st.integers(0, 1)),
    )


small_capacities = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(
    lambda caps: tuple(sorted(caps, reverse=True))
)
seed_sets = st.sets(st.integers(0, NODES - 1), min_size=1, max_size=3).map(
    lambda seeds: [org(i) for i in sorted(seeds)]
)


@given(st.lists(endorsements(), max_size=30), seed_sets, small_capacities, st.randoms())
def test_acceptance_does_not_depend_on_the_order_edges_arrive_in(
    edges: list[Endorsement],
    seeds: list[bytes],
    capacities: tuple[int, ...],
    rng: random.Random,
) -> None:
    expected = compute_acceptance(edges, seeds, capacities=capacities)
    shuffled = list(edges)
    rng.shuffle(shuffled)
    assert compute_acceptance(shuffled, list(reversed(seeds)), capacities=capacities) == expected
    metric = TrustMetric(seeds, capacities=capacities)
    for edge in shuffled:
        metric.add_edge(edge)
        metric.accepted(Level(rng.choice(list(Level))))  # interleave queries
    assert metric.acceptance() == expected


@given(st.lists(endorsements(), max_size=30), seed_sets, st.sets(st.integers(0, NODES - 1)))
def test_seeds_are_always_accepted_unless_blocked(
    edges: list[Endorsement], seeds: list[bytes], blocked: set[int]
) -> None:
    blocked_ids = {org(i) for i in blocked}
    result = compute_acceptance(edges, seeds, blocked=blocked_ids)
    for level in Level:
        assert set(seeds) - blocked_ids <= result.at(level)
        assert not result.at(level) & blocked_ids


# Additions and removals draw from a small pool of edges over few orgs, so the same edges
# come and go and graphs get dense enough for depth, capacity and rerouting to matter.
# Blocking resets the whole graph, so it is kept rare to leave the incremental paths busy.
operations = st.tuples(
    st.sampled_from(["add"] * 6 + ["remove"] * 3 + ["query", "block", "unblock"]),
    st.integers(0, 15),
)


@given(
    st.lists(endorsements(), min_size=6, max_size=16),
    st.lists(operations, min_size=20, max_size=50),
    seed_sets,
    small_capacities,
)
def test_incremental_updates_give_exactly_what_recomputation_from_scratch_gives(
    pool: list[Endorsement],
    ops: list[tuple[str, int]],
    seeds: list[bytes],
    capacities: tuple[int, ...],
) -> None:
    metric = TrustMetric(seeds, capacities=capacities)
    for op, arg in ops:
        if op == "add":
            metric.add_edge(pool[arg % len(pool)])
        elif op == "remove":
            metric.remove_edge(pool[arg % len(pool)].event_id)
        elif op == "block":
            metric.block(org(arg % NODES))
        elif op == "unblock":
            metric.unblock(org(arg % NODES))
        else:
            metric.accepted(list(Level)[arg % 2])
            continue
        fresh = TrustMetric(seeds, capacities=capacities, blocked=metric.blocked)
        fresh.replace_edges(metric.edges)
        expected = compute_acceptance(
            metric.edges, seeds, capacities=capacities, blocked=metric.blocked
        )
        assert metric.acceptance() == expected == fresh.acceptance()
        for i in range(NODES):
            assert metric.explain(org(i)) == fresh.explain(org(i))


def test_an_edge_out_of_an_org_with_depth_budget_one_is_still_usable_incrementally() -> None:
    metric = TrustMetric([org(0)])
    metric.add_edge(endorse(0, 1, max_depth=1))
    assert metric.accepted(Level.MEMBER) == {org(0), org(1)}
    metric.add_edge(endorse(1, 2))
    assert metric.accepted(Level.MEMBER) == {org(0), org(1), org(2)}


def test_an_edge_out_of_a_capacity_two_org_can_carry_flow_incrementally() -> None:
    # Orgs 1 and 2 (distance 1, capacity 2) may each pass on one unit; org 2 endorses both
    # 3 and 4, so exactly one of them gets its unit. A new edge from org 1 to the other
    # changes no distance, yet must be used (the seed still has a unit to spare).
    metric = TrustMetric([org(0)], capacities=(5, 2, 1))
    for edge in (endorse(0, 1), endorse(0, 2), endorse(2, 3), endorse(2, 4)):
        metric.add_edge(edge)
    left_out = [i for i in (3, 4) if org(i) not in metric.accepted(Level.MEMBER)]
    assert len(left_out) == 1
    metric.add_edge(endorse(1, left_out[0]))
    assert metric.accepted(Level.MEMBER) == {org(i) for i in range(5)}


# -- attack resistance -------------------------------------------------------------------


def honest_federation(rng: random.Random, orgs: int, per_org: int) -> list[Endorsement]:
    """A small realistic web: three seeds and orgs endorsing mostly well-endorsed others."""
    edges: list[Endorsement] = []
    popular = [0, 1, 2]
    for i in range(3, orgs):
        for j in rng.sample(popular, min(2, len(popular))):
            edges.append(endorse(j, i))
        popular.append(i)
    for _ in range(orgs * per_org):
        issuer, subject = rng.randrange(orgs), rng.choice(popular)
        edges.append(endorse(issuer, subject, serial=rng.randrange(1 << 30)))
    return edges


def test_sybil_nest_behind_one_attack_edge_gains_at_most_capacity_minus_one() -> None:
    rng = random.Random(2020)
    honest = honest_federation(rng, 300, 6)
    seeds = [org(0), org(1), org(2)]
    metric = TrustMetric(seeds)
    metric.replace_edges(honest)
    confused = next(
        o for o in sorted(metric.accepted(Level.MEMBER)) if metric.explain(o).member.distance == 2
    )
    sybils = range(10_000, 20_000)
    nest = [endorse(s, rng.choice(sybils)) for s in sybils for _ in range(5)]
    nest += [endorse(s, rng.randrange(300)) for s in rng.sample(sybils, 500)]  # cover story
    attack = Endorsement(
        issuer=confused, subject=org(10_000), level=Level.MEMBER, max_depth=16, event_id=bytes(32)
    )
    metric.replace_edges([*honest, *nest, attack])
    gained = {org(s) for s in sybils} & metric.accepted(Level.MEMBER)
    assert metric.explain(confused).member.capacity == 10
    assert 1 <= len(gained) <= 10 - 1


def test_a_confused_endorser_vouching_for_many_sybils_still_gains_at_most_capacity_minus_one() -> (
    None
):
    # seed 0 -> 1 -> 2 (distance 2, capacity 10) -> fifty sybils that endorse each other.
    edges = [*chain(2)] + [endorse(2, s) for s in range(100, 150)]
    edges += [endorse(s, t) for s in range(100, 150) for t in range(100, 150) if s != t]
    accepted = compute_acceptance(edges, [org(0)]).member
    assert len(accepted - {org(0), org(1), org(2)}) == 9  # the bound is tight here


@st.composite
def attacked_federations(
    draw: st.DrawFn,
) -> tuple[list[Endorsement], list[bytes], set[bytes], tuple[int, ...]]:
    honest = draw(st.integers(1, 6))
    bad = range(honest, honest + draw(st.integers(1, 6)))
    pick_honest, pick_bad = st.integers(0, honest - 1), st.sampled_from(bad)
    levels, depths = st.sampled_from(Level), st.sampled_from([0, 1, 2, MAX_ENDORSE_DEPTH])
    pairs = st.one_of(
        st.tuples(pick_honest, pick_honest),  # honest web
        st.tuples(pick_bad, st.one_of(pick_bad, pick_honest)),  # attackers say anything
        st.tuples(pick_honest, pick_bad),  # attack edges: confused honest endorsers
    )
    edges = [
        endorse(u, v, level=draw(levels), max_depth=draw(depths))
        for u, v in draw(st.lists(pairs, max_size=40))
    ]
    seeds = [org(i) for i in sorted(draw(st.sets(pick_honest, min_size=1, max_size=2)))]
    return edges, seeds, {org(i) for i in bad}, draw(small_capacities)


@given(attacked_federations())
def test_accepted_attackers_never_exceed_the_spare_capacity_of_confused_endorsers(
    federation: tuple[list[Endorsement], list[bytes], set[bytes], tuple[int, ...]],
) -> None:
    edges, seeds, bad, capacities = federation
    metric = TrustMetric(seeds, capacities=capacities)
    metric.replace_edges(edges)
    for level in Level:
        attack = [
            e
            for e in edges
            if e.issuer not in bad
            and e.subject in bad
            and (level is Level.MEMBER or e.level is level)
        ]
        spare = {e.issuer: (metric.explain(e.issuer).at(level).capacity or 1) - 1 for e in attack}
        gained = len(metric.accepted(level) & bad)
        assert gained <= sum(spare.values())  # per confused endorser (Levien's bound)
        assert gained <= sum(spare[e.issuer] for e in attack)  # per attack edge (weaker)
