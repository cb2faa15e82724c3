"""sync/trust_explain.py: what ``aidnode trust explain`` is told about a key, at each level."""

from __future__ import annotations

import hashlib
import random

from hypothesis import given
from hypothesis import strategies as st

from protocol.trust_bodies import MAX_ENDORSE_DEPTH, Level
from sync.trust_explain import Explanation, Reason, SaturatedNode
from sync.trust_metric import Endorsement, TrustMetric


def org(i: int) -> bytes:
    return hashlib.blake2b(i.to_bytes(4, "big"), digest_size=32, person=b"test-org").digest()


def endorse(
    issuer: int,
    subject: int,
    *,
    level: Level = Level.MEMBER,
    max_depth: int = MAX_ENDORSE_DEPTH,
    event: int = 0,
) -> Endorsement:
    return Endorsement(
        issuer=org(issuer),
        subject=org(subject),
        level=level,
        max_depth=max_depth,
        event_id=hashlib.blake2b(repr((issuer, subject, event)).encode(), digest_size=32).digest(),
    )


def explain(edges: list[Endorsement], key: int, **kwargs: object) -> Explanation:
    metric = TrustMetric([org(0)], **kwargs)  # type: ignore[arg-type]
    metric.replace_edges(edges)
    return metric.explain(org(key))


def test_an_accepted_key_shows_the_flow_path_that_carried_its_unit() -> None:
    edges = [endorse(0, 1), endorse(1, 2), endorse(0, 3)]
    member = explain(edges, 2).member
    assert member.accepted and member.reason is Reason.FLOW
    assert (member.distance, member.capacity, member.passed_on) == (2, 10, 0)
    (path,) = member.paths
    assert path.seed == org(0)
    assert [(hop.issuer, hop.subject) for hop in path.hops] == [(org(0), org(1)), (org(1), org(2))]
    assert [hop.event_id for hop in path.hops] == [edges[0].event_id, edges[1].event_id]
    assert [hop.flow for hop in path.hops] == [2, 1]  # org 1's own unit and org 2's


def test_a_flow_hop_names_the_deepest_reaching_of_parallel_endorsements() -> None:
    shallow, deep = endorse(0, 1, max_depth=0, event=1), endorse(0, 1, max_depth=3, event=2)
    (path,) = explain([shallow, deep], 1).member.paths
    assert [hop.event_id for hop in path.hops] == [deep.event_id]


def test_when_several_endorsers_carry_flow_the_path_takes_the_first_by_org_id() -> None:
    # Org 5 (distance 2, capacity 2) takes a unit from each of orgs 1 and 4 (one for itself,
    # one for org 3); every replica must show the same one, whatever order edges came in.
    edges = [
        endorse(0, 1),
        endorse(0, 4),
        endorse(4, 2),
        endorse(1, 5),
        endorse(4, 5),
        endorse(5, 3),
    ]
    forward = explain(edges, 5, capacities=(10, 3, 2, 1))
    backward = explain(edges[::-1], 5, capacities=(10, 3, 2, 1))
    assert forward == backward
    (path,) = forward.member.paths
    assert [hop.issuer for hop in path.hops] == [org(0), min(org(1), org(4))]


def test_a_seed_is_accepted_as_a_seed_with_an_empty_path() -> None:
    member = explain([endorse(0, 1)], 0).member
    assert member.reason is Reason.SEED and member.accepted
    assert member.paths[0].hops == () and member.passed_on == 1


def test_an_unknown_key_is_unreachable_at_both_levels() -> None:
    result = explain([endorse(0, 1)], 42)
    for level in Level:
        assert result.at(level).reason is Reason.UNREACHABLE
        assert result.at(level).distance is None and not result.at(level).accepted


def test_a_key_endorsed_only_past_max_depth_names_where_the_depth_ran_out() -> None:
    edges = [endorse(0, 1, max_depth=0), endorse(1, 2), endorse(2, 3)]
    member = explain(edges, 3).member
    assert member.reason is Reason.BEYOND_MAX_DEPTH
    assert member.depth_exhausted_at == (org(1),)


def test_a_blocked_key_is_explained_as_blocked() -> None:
    member = explain([endorse(0, 1)], 1, blocked=[org(1)]).member
    assert member.reason is Reason.BLOCKED and not member.accepted


def test_a_key_beyond_the_capacity_of_its_paths_names_the_saturated_nodes() -> None:
    # Org 1 (distance 1, capacity 3) passes on two units to three orgs at distance 2.
    edges = [endorse(0, 1), *(endorse(1, i) for i in (2, 3, 4))]
    metric = TrustMetric([org(0)], capacities=(10, 3, 1))
    metric.replace_edges(edges)
    (rejected,) = [i for i in (2, 3, 4) if org(i) not in metric.accepted(Level.MEMBER)]
    member = metric.explain(org(rejected)).member
    assert member.reason is Reason.CAPACITY_EXHAUSTED
    assert (member.distance, member.capacity) == (2, 1)
    assert member.saturated == (SaturatedNode(org=org(1), distance=1, capacity=3, seed=False),)


def test_a_capacity_one_endorser_is_named_as_the_bottleneck() -> None:
    edges = [endorse(i, i + 1) for i in range(5)]  # org 4 is at distance 4: capacity 1
    member = explain(edges, 5).member
    assert member.reason is Reason.CAPACITY_EXHAUSTED
    assert member.saturated == (SaturatedNode(org=org(4), distance=4, capacity=1, seed=False),)


def test_a_seed_whose_capacity_is_spent_is_named_as_a_seed() -> None:
    edges = [endorse(0, i) for i in (1, 2, 3)]
    metric = TrustMetric([org(0)], capacities=(3, 1))
    metric.replace_edges(edges)
    (rejected,) = [i for i in (1, 2, 3) if org(i) not in metric.accepted(Level.MEMBER)]
    saturated = metric.explain(org(rejected)).member.saturated
    assert saturated == (SaturatedNode(org=org(0), distance=0, capacity=3, seed=True),)


def test_levels_are_explained_separately() -> None:
    edges = [endorse(0, 1, level=Level.VERIFIER), endorse(1, 2)]
    result = explain(edges, 2)
    assert result.member.accepted and result.member.level is Level.MEMBER
    assert result.verifier.reason is Reason.UNREACHABLE and result.verifier.level is Level.VERIFIER


def test_describe_renders_each_verdict_in_words_with_known_names() -> None:
    edges = [endorse(0, 1, level=Level.VERIFIER), endorse(1, 2)]
    accepted = explain(edges, 2).describe({org(1): "Wuhan drivers", org(2): "Mask group"})
    assert accepted.splitlines()[0] == f"Mask group ({org(2).hex()[:8]}…): accepted as member"
    assert "member: accepted at distance 2 (capacity 10, passes on 0 units)." in accepted
    assert "[1 unit, event " in accepted
    assert "Wuhan drivers" in accepted and "verifier: not accepted: no chain" in accepted

    chain = [endorse(i, i + 1) for i in range(5)]
    rejected = explain(chain, 5).describe()
    assert "capacity of every path into it is used up at" in rejected
    assert "capacity 1: passes nothing on" in rejected
    depth = [endorse(0, 1, max_depth=0), endorse(1, 2)]
    assert "beyond their max_depth" in explain(depth, 2).describe()
    assert "blocked" in explain(depth, 1, blocked=[org(1)]).describe()
    assert "a seed of this node" in explain(depth, 0).describe()


def test_standing_is_the_highest_level_whose_run_accepts_the_key() -> None:
    assert explain([endorse(0, 1, level=Level.VERIFIER)], 1).standing is Level.VERIFIER
    assert explain([endorse(0, 1)], 1).standing is Level.MEMBER
    assert explain([endorse(0, 1)], 2).standing is None
    assert explain([endorse(0, 1)], 2).describe().splitlines()[0].endswith(": not accepted")


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from(Level)),
        min_size=8,
        max_size=30,
    ),
    st.randoms(),
)
def test_explanations_do_not_depend_on_the_order_edges_arrive_in(
    pairs: list[tuple[int, int, Level]], rng: random.Random
) -> None:
    edges = [endorse(u, v, level=level, event=k) for k, (u, v, level) in enumerate(pairs)]
    shuffled = list(edges)
    rng.shuffle(shuffled)
    one, other = (
        TrustMetric([org(0), org(1)], capacities=(4, 2, 1)),
        TrustMetric([org(1), org(0)], capacities=(4, 2, 1)),
    )
    for edge in edges:
        one.add_edge(edge)
    other.replace_edges(shuffled)
    for i in range(6):
        assert one.explain(org(i)) == other.explain(org(i))
