"""Identity: key chains, pre-rotation, delegation and revocation (docs/protocol.md §5).

Each attack has its own test, named for it; the fold is the observer (an event "has no effect"
when the record view ignores it with the stated reason).
"""

from __future__ import annotations

import pytest

from protocol import Event, Ineffective
from sync.fold import fold
from sync.identity import Acting, build_identity
from sync.views import RecordState
from tests.builders import DAY_MS, World


@pytest.fixture
def world() -> World:
    return World()


def reasons(events: list[Event], record: Event) -> dict[bytes, Ineffective]:
    return {i.id: i.reason for i in fold(events).records[record.id].ignored}


# -- delegation -------------------------------------------------------------------------------


def test_a_delegate_posts_for_its_org(world: World) -> None:
    ward = world.org("ward")
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("post",))
    need = world.need(operator)
    record = fold([grant, need]).records[need.id]
    assert record.org == ward.id
    assert record.state is RecordState.OPEN


def test_a_delegation_arriving_after_the_delegates_posts_still_applies(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("post",))
    need = world.need(ward)
    update = world.update(operator, need, title="now 2000 masks")
    assert reasons([need, update], need) == {update.id: Ineffective.NOT_RECORD_ORG}
    assert fold([update, need, grant]).records[need.id].title == "now 2000 masks"
    del convoy


def test_scope_escalation_by_a_delegate_has_no_effect(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    operator = world.delegate_key()
    grant = world.delegate(convoy, operator, scopes=("post",))
    need = world.need(ward)
    pledge = world.pledge(operator, need)  # pledging needs the "pledge" scope
    assert reasons([grant, need, pledge], need) == {pledge.id: Ineffective.OUT_OF_SCOPE}


def test_child_delegation_widening_scope_is_rejected(world: World) -> None:
    convoy = world.org("convoy")
    lead, helper = world.delegate_key(), world.delegate_key()
    parent = world.delegate(convoy, lead, scopes=("post",))
    child = world.delegate(lead, helper, scopes=("pledge", "post"))
    identity = build_identity([parent, child])
    assert identity.ineffective[child.id] is Ineffective.DELEGATION_WIDENS
    assert identity.resolve(helper.public_key, world.tick(), "post") is Ineffective.NOT_AUTHORISED


def test_child_delegation_extending_expiry_is_rejected(world: World) -> None:
    convoy = world.org("convoy")
    lead, helper = world.delegate_key(), world.delegate_key()
    parent = world.delegate(convoy, lead, scopes=("post",), expires_in_days=10)
    child = world.delegate(lead, helper, scopes=("post",), expires_in_days=11)
    assert build_identity([parent, child]).ineffective[child.id] is Ineffective.DELEGATION_WIDENS


def test_child_delegation_within_its_parent_acts_for_the_org(world: World) -> None:
    convoy = world.org("convoy")
    lead, helper = world.delegate_key(), world.delegate_key()
    parent = world.delegate(convoy, lead, scopes=("pledge", "post"), expires_in_days=10)
    child = world.delegate(lead, helper, scopes=("pledge",), expires_in_days=5)
    acting = build_identity([child, parent]).resolve(helper.public_key, world.tick(), "pledge")
    assert acting == Acting(convoy.id, helper.public_key, delegated=True)


def test_delegation_chains_longer_than_three_are_refused(world: World) -> None:
    org = world.org("org")
    keys = [world.delegate_key() for _ in range(4)]
    events = [world.delegate(org, keys[0])]
    events += [world.delegate(keys[i], keys[i + 1]) for i in range(3)]
    identity = build_identity(events)
    assert isinstance(identity.resolve(keys[2].public_key, world.tick(), "post"), Acting)
    assert identity.ineffective[events[3].id] is Ineffective.TOO_DEEP


def test_expired_delegation_is_ignored(world: World) -> None:
    ward = world.org("ward")
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("post",), expires_in_days=1)
    world.now_ms += 2 * DAY_MS
    late = world.need(operator)
    record = fold([grant, late]).records[late.id]
    assert record.state is RecordState.VOID
    assert record.void_reason is Ineffective.DELEGATION_EXPIRED


def test_nobody_becomes_a_delegate_without_consenting(world: World) -> None:
    ward, other = world.org("ward"), world.org("other")
    victim_operator = world.delegate_key()
    honest = world.delegate(other, victim_operator, scopes=("post",))
    forged = world.delegate(ward, victim_operator, scopes=("post",))
    # Replace the proof by one the victim never signed (reuse the honest one: wrong delegator).
    from protocol import DelegateBody

    assert isinstance(forged.body, DelegateBody) and isinstance(honest.body, DelegateBody)
    bad = world.sign(
        "delegate",
        ward,
        DelegateBody(
            key=victim_operator.public_key,
            scopes=("post",),
            expires=honest.body.expires,
            proof=honest.body.proof,
        ),
    )
    identity = build_identity([honest, bad])
    assert identity.ineffective[bad.id] is Ineffective.BAD_PROOF
    assert identity.org_of(victim_operator.public_key) == other.id


def test_a_key_acts_for_the_org_of_its_first_delegation(world: World) -> None:
    ward, other = world.org("ward"), world.org("other")
    operator = world.delegate_key()
    first = world.delegate(ward, operator, scopes=("post",))
    second = world.delegate(other, operator, scopes=("post",))
    identity = build_identity([second, first])
    assert identity.org_of(operator.public_key) == ward.id
    assert identity.ineffective[second.id] is Ineffective.KEY_BOUND


def test_an_org_key_cannot_be_made_a_delegate(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    incept = world.incept(convoy)
    grab = world.delegate(ward, convoy.key, scopes=("post",))
    identity = build_identity([incept, grab])
    assert identity.ineffective[grab.id] is Ineffective.ORG_KEY
    assert identity.org_of(convoy.id) == convoy.id


# -- revocation -------------------------------------------------------------------------------


def test_compromised_operator_key_has_no_effect_even_when_backdated(world: World) -> None:
    ward = world.org("ward")
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("post",))
    before = world.need(operator)  # made while the key was honest
    revoke = world.revoke_key(ward, operator.public_key, "compromised")
    after = world.need(operator)
    backdated = world.need(operator, hlc=grant.hlc + 1)  # the thief forges an early hlc
    state = fold([grant, before, revoke, after, backdated])
    for record in (before, after, backdated):
        assert state.records[record.id].state is RecordState.VOID
        assert state.records[record.id].void_reason is Ineffective.KEY_REVOKED


def test_retired_key_keeps_statements_made_before_the_revocation(world: World) -> None:
    ward = world.org("ward")
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("post",))
    before = world.need(operator)
    revoke = world.revoke_key(ward, operator.public_key, "retired")
    after = world.need(operator)
    state = fold([grant, before, revoke, after])
    assert state.records[before.id].state is RecordState.OPEN
    assert state.records[after.id].void_reason is Ineffective.KEY_REVOKED


def test_revocation_before_its_target_arrives_still_wins(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    endorse = world.endorse(ward, convoy)
    revoke = world.revoke_event(ward, endorse)
    state = fold([revoke])
    assert state.endorsements == {}
    state = fold([revoke, endorse])
    assert not state.endorsements[endorse.id].effective
    assert state.endorsements[endorse.id].revoked_by == revoke.id


def test_revocation_by_someone_not_entitled_is_ignored(world: World) -> None:
    ward, convoy, rival = world.org("ward"), world.org("convoy"), world.org("rival")
    endorse = world.endorse(ward, convoy)
    rival_revoke = world.revoke_event(rival, endorse)
    assert fold([endorse, rival_revoke]).endorsements[endorse.id].effective
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("post",))
    key_revoke = world.revoke_key(rival, operator.public_key)
    identity = build_identity([grant, key_revoke])
    assert identity.ineffective[key_revoke.id] is Ineffective.NOT_ENTITLED
    assert isinstance(identity.resolve(operator.public_key, world.tick(), "post"), Acting)


def test_revoked_delegation_ends_at_the_revocation(world: World) -> None:
    ward = world.org("ward")
    operator = world.delegate_key()
    grant = world.delegate(ward, operator, scopes=("post",))
    before = world.need(operator)
    revoke = world.revoke_event(ward, grant, "retired")
    after = world.need(operator)
    state = fold([grant, before, revoke, after])
    assert state.records[before.id].state is RecordState.OPEN
    assert state.records[after.id].void_reason is Ineffective.DELEGATION_REVOKED


def test_a_compromised_key_cannot_revoke_anything(world: World) -> None:
    ward = world.org("ward")
    a, b = world.delegate_key(), world.delegate_key()
    grant_a = world.delegate(ward, a, scopes=("endorse", "post"))
    child = world.delegate(a, b, scopes=("post",))
    a_revokes_b = world.revoke_key(a, b.public_key, "compromised")
    ward_revokes_a = world.revoke_key(ward, a.public_key, "compromised")
    identity = build_identity([grant_a, child, a_revokes_b, ward_revokes_a])
    assert identity.resolve(a.public_key, world.tick(), "post") is Ineffective.KEY_REVOKED
    # b's delegation came from a, whose every statement is void, so b acts for nobody either.
    assert not isinstance(identity.resolve(b.public_key, world.tick(), "post"), Acting)


# -- pre-rotation -----------------------------------------------------------------------------


def test_honest_rotation_carries_records_and_endorsements_over(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    incept = world.incept(ward)
    need = world.need(ward)
    endorse = world.endorse(ward, convoy)
    rotate = world.rotate(ward)
    update = world.update(ward, need, title="still ours after rotation")  # signed by new key
    endorse2 = world.endorse(ward, world.org("masks"))
    state = fold([incept, need, endorse, rotate, update, endorse2])
    assert state.records[need.id].title == "still ours after rotation"
    assert state.records[need.id].org == ward.id
    assert state.endorsements[endorse.id].issuer == ward.id
    assert state.endorsements[endorse2.id].issuer == ward.id


def test_rotation_hijack_with_only_the_current_key_is_rejected(world: World) -> None:
    ward = world.org("ward")
    incept = world.incept(ward)
    thief_key = world.delegate_key()
    from crypto.signing import key_digest
    from protocol import RotateBody

    # The thief holds the current key only: a rotation signed by it (or by any key but the
    # committed next one) does not match the digest in the incept.
    for signer in (ward.keys[0], thief_key):
        hijack = world.sign(
            "rotate",
            signer,
            RotateBody(org=ward.id, prior=ward.id, next=key_digest(thief_key.public_key)),
            incept.id,
        )
        identity = build_identity([incept, hijack])
        assert identity.ineffective[hijack.id] is Ineffective.BAD_ROTATION
        assert identity.chains[ward.id].keys == (ward.id,)


def test_a_superseded_key_loses_effect_after_the_rotation(world: World) -> None:
    ward = world.org("ward")
    old_key = ward.key
    incept = world.incept(ward)
    rotate = world.rotate(ward)
    stale = world.need(old_key)
    record = fold([incept, rotate, stale]).records[stale.id]
    assert record.void_reason is Ineffective.KEY_SUPERSEDED


def test_two_rotations_of_one_event_make_the_org_duplicitous(world: World) -> None:
    ward = world.org("ward")
    incept = world.incept(ward)
    from crypto.signing import key_digest
    from protocol import RotateBody

    next_key = ward.keys[1]
    forks = [
        world.sign(
            "rotate",
            next_key,
            RotateBody(org=ward.id, prior=ward.id, next=key_digest(bytes([i]) * 32)),
            incept.id,
        )
        for i in range(2)
    ]
    identity = build_identity([incept, *forks])
    assert identity.is_duplicitous(ward.id)
    assert all(identity.ineffective[f.id] is Ineffective.DUPLICITY for f in forks)
    assert identity.chains[ward.id].keys == (ward.id,)


def test_org_key_revoked_by_its_successor_after_rotation(world: World) -> None:
    ward = world.org("ward")
    old_key = ward.key
    incept = world.incept(ward)
    need = world.need(ward)
    rotate = world.rotate(ward)
    revoke = world.revoke_key(ward, old_key.public_key, "compromised")
    state = fold([incept, need, rotate, revoke])
    assert state.records[need.id].void_reason is Ineffective.KEY_REVOKED
