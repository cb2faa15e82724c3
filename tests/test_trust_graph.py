"""From endorsement events to trust edges, and replicas agreeing on whom to accept."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Event
from protocol.trust_bodies import Level
from sync.fold import Ledger, fold
from sync.trust_graph import CLOCK_SKEW_MS, EdgeStatus, edge_status, trust_edges
from sync.trust_metric import TrustMetric, compute_acceptance
from tests.builders import DAY_MS, START_MS, World


def _statuses(events: list[Event], now_ms: int) -> dict[bytes, EdgeStatus]:
    state = fold(events)
    ledger = Ledger()
    for event in events:
        ledger.apply(event)
    return {
        view.id: edge_status(view, ledger.identity, now_ms) for view in state.endorsements.values()
    }


def test_edge_status_names_every_reason_an_endorsement_does_not_count() -> None:
    world = World()
    ward, convoy, masks = world.org("ward"), world.org("convoy"), world.org("masks")
    live = world.endorse(ward, convoy)
    expiring = world.endorse(ward, masks, expires_in_days=1)
    revoked = world.endorse(convoy, masks)
    revoke = world.revoke_event(convoy, revoked)
    selfish = world.endorse(masks, masks)
    operator = world.delegate_key()  # never delegated: acts as a bare key, fine
    from_stranger_key = world.endorse(operator, ward)
    statuses = _statuses(
        [live, expiring, revoked, revoke, selfish, from_stranger_key], START_MS + 2 * DAY_MS
    )
    assert statuses[live.id] is EdgeStatus.LIVE
    assert statuses[expiring.id] is EdgeStatus.EXPIRED
    assert statuses[revoked.id] is EdgeStatus.REVOKED
    assert statuses[selfish.id] is EdgeStatus.SELF
    assert statuses[from_stranger_key.id] is EdgeStatus.LIVE


def test_expiry_tolerates_five_minutes_of_clock_skew() -> None:
    world = World()
    ward, convoy = world.org("ward"), world.org("convoy")
    endorse = world.endorse(ward, convoy, expires_in_days=1)
    expires = START_MS + DAY_MS
    assert _statuses([endorse], expires + CLOCK_SKEW_MS)[endorse.id] is EdgeStatus.LIVE
    assert _statuses([endorse], expires + CLOCK_SKEW_MS + 1)[endorse.id] is EdgeStatus.EXPIRED


def test_endorsements_by_a_compromised_key_are_not_issued() -> None:
    world = World()
    ward, convoy = world.org("ward"), world.org("convoy")
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("endorse",))
    endorse = world.endorse(operator, convoy)
    revoke = world.revoke_key(ward, operator.public_key, "compromised")
    statuses = _statuses([grant, endorse, revoke], START_MS)
    assert statuses[endorse.id] is EdgeStatus.NOT_ISSUED


def test_a_duplicitous_org_contributes_no_edges() -> None:
    world = World()
    ward, convoy = world.org("ward"), world.org("convoy")
    from crypto.signing import key_digest
    from protocol import RotateBody

    incept = world.incept(convoy)
    forks = [
        world.sign(
            "rotate",
            convoy.keys[1],
            RotateBody(org=convoy.id, prior=convoy.id, next=key_digest(bytes([i]) * 32)),
            incept.id,
        )
        for i in range(2)
    ]
    endorse = world.endorse(ward, convoy)
    statuses = _statuses([incept, *forks, endorse], START_MS)
    assert statuses[endorse.id] is EdgeStatus.DUPLICITOUS


# -- attack 8: equal timestamps and reordered arrivals ---------------------------------------

_WORLD = World()
_ORGS = [_WORLD.org(f"org{i}") for i in range(8)]
_OPERATORS = [_WORLD.delegate_key() for _ in range(2)]


@st.composite
def trust_histories(draw: st.DrawFn) -> list[Event]:
    """Endorsements among 8 orgs, many sharing one hlc, plus revocations and delegations."""
    world = World()
    shared_hlc = world.tick()
    events: list[Event] = []
    for _ in range(draw(st.integers(5, 30))):
        issuer = draw(st.sampled_from(_ORGS))
        subject = draw(st.sampled_from(_ORGS))
        same_time = draw(st.booleans())
        events.append(
            world.endorse(
                issuer,
                subject,
                level=draw(st.sampled_from(["member", "verifier"])),
                max_depth=draw(st.integers(0, 3)),
                expires_in_days=draw(st.sampled_from([1, 365])),
                hlc=shared_hlc if same_time else None,
            )
        )
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(events))
        revoker = draw(st.sampled_from(_ORGS))
        events.append(world.revoke_event(revoker, target, hlc=shared_hlc))
    if draw(st.booleans()):
        operator = draw(st.sampled_from(_OPERATORS))
        owner = draw(st.sampled_from(_ORGS))
        events.append(world.delegate(owner, operator, scopes=("endorse",), hlc=shared_hlc))
        events.append(world.endorse(operator, draw(st.sampled_from(_ORGS)), hlc=shared_hlc))
    return events


@settings(max_examples=60, deadline=None)
@given(history=trust_histories(), seed=st.integers(0, 2**32), days=st.sampled_from([0, 2]))
def test_every_replica_computes_the_same_accepted_set(
    history: list[Event], seed: int, days: int
) -> None:
    now = START_MS + days * DAY_MS
    seeds = [_ORGS[0].id]
    # The truth: a from-scratch metric over the edges of a ledger holding everything.
    full = Ledger()
    for event in history:
        full.apply(event)
    truth = compute_acceptance(trust_edges(full.endorsements.values(), full.identity, now), seeds)
    rng = random.Random(seed)
    for _ in range(4):
        arrivals = history + rng.sample(history, k=min(5, len(history)))
        rng.shuffle(arrivals)
        replica = Ledger()
        metric = TrustMetric(seeds)
        live: dict[bytes, object] = {}
        for event in arrivals:
            replica.apply(event)
            edges = {
                e.event_id: e
                for e in trust_edges(replica.endorsements.values(), replica.identity, now)
            }
            for gone in live.keys() - edges.keys():
                metric.remove_edge(gone)
            for event_id, edge in edges.items():
                if live.get(event_id) != edge:
                    metric.remove_edge(event_id)
                    metric.add_edge(edge)
            live = dict(edges)
        for level in Level:
            assert metric.accepted(level) == truth.at(level)
