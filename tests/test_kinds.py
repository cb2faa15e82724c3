"""protocol/kinds.py: the kind table is complete, consistent, and says what DESIGN.md §3 says.

The table is pinned row by row: it is the protocol's statement of who may do what, so any
change to it must show up here (and in docs/protocol.md §4) as a deliberate edit.
"""

from __future__ import annotations

import pytest

from protocol.codes import Kind
from protocol.kinds import KIND_SPECS, Ref, Role
from protocol.records import (
    CancelBody,
    DeliverBody,
    PledgeBody,
    ProfileBody,
    ReceiptBody,
    RecordBody,
    UpdateBody,
    VerifyBody,
    WithdrawBody,
)
from protocol.schema import Schema
from protocol.trust_bodies import (
    DelegateBody,
    EndorseBody,
    InceptBody,
    RevokeBody,
    RotateBody,
    Scope,
)

RECORDS = {Kind.NEED, Kind.OFFER}
K = Kind

# kind: (body, ref rule, ref targets, author role, delegated scope)
EXPECTED: dict[Kind, tuple[type[Schema], Ref, set[Kind], Role, Scope | None]] = {
    K.NEED: (RecordBody, Ref.NONE, set(), Role.ANY_ORG, Scope.POST),
    K.OFFER: (RecordBody, Ref.NONE, set(), Role.ANY_ORG, Scope.POST),
    K.UPDATE: (UpdateBody, Ref.REQUIRED, RECORDS, Role.RECORD_ORG, Scope.POST),
    K.WITHDRAW: (WithdrawBody, Ref.REQUIRED, RECORDS, Role.RECORD_ORG, Scope.POST),
    K.PLEDGE: (PledgeBody, Ref.REQUIRED, RECORDS, Role.NOT_RECORD_ORG, Scope.PLEDGE),
    K.CANCEL: (CancelBody, Ref.REQUIRED, {K.PLEDGE}, Role.PLEDGE_ORG, Scope.PLEDGE),
    K.DELIVER: (DeliverBody, Ref.REQUIRED, {K.PLEDGE}, Role.GIVER, Scope.PLEDGE),
    K.RECEIPT: (ReceiptBody, Ref.REQUIRED, {K.PLEDGE}, Role.RECEIVER, Scope.PLEDGE),
    K.VERIFY: (VerifyBody, Ref.REQUIRED, RECORDS, Role.NOT_RECORD_ORG, Scope.VERIFY),
    K.ENDORSE: (EndorseBody, Ref.NONE, set(), Role.ANY_ORG, Scope.ENDORSE),
    K.REVOKE: (RevokeBody, Ref.EITHER, {K.ENDORSE, K.DELEGATE}, Role.ISSUER, Scope.ENDORSE),
    K.DELEGATE: (DelegateBody, Ref.NONE, set(), Role.KEY_HOLDER, None),
    K.INCEPT: (InceptBody, Ref.NONE, set(), Role.SELF, None),
    K.ROTATE: (RotateBody, Ref.REQUIRED, {K.INCEPT, K.ROTATE}, Role.NEXT_KEY, None),
    K.PROFILE: (ProfileBody, Ref.NONE, set(), Role.ANY_ORG, Scope.POST),
}


def test_every_kind_has_exactly_one_spec() -> None:
    assert set(KIND_SPECS) == {kind.value for kind in Kind}
    assert set(EXPECTED) == set(Kind)
    for name, spec in KIND_SPECS.items():
        assert spec.kind.value == name


@pytest.mark.parametrize("kind", list(Kind))
def test_table_row(kind: Kind) -> None:
    spec = KIND_SPECS[kind.value]
    body, ref, targets, role, scope = EXPECTED[kind]
    assert (spec.body, spec.ref, set(spec.targets), spec.role, spec.scope) == (
        body,
        ref,
        targets,
        role,
        scope,
    )


@pytest.mark.parametrize("kind", list(Kind))
def test_ref_rule_and_targets_agree(kind: Kind) -> None:
    spec = KIND_SPECS[kind.value]
    assert (spec.ref is Ref.NONE) == (not spec.targets)


def test_only_need_and_offer_share_a_body_schema() -> None:
    owners: dict[type[Schema], set[Kind]] = {}
    for spec in KIND_SPECS.values():
        owners.setdefault(spec.body, set()).add(spec.kind)
    shared = {schema: kinds for schema, kinds in owners.items() if len(kinds) > 1}
    assert shared == {RecordBody: RECORDS}


def test_every_scope_is_needed_by_some_kind() -> None:
    assert {spec.scope for spec in KIND_SPECS.values()} - {None} == set(Scope)


def test_establishment_and_delegation_cannot_be_delegated() -> None:
    undelegable = {spec.kind for spec in KIND_SPECS.values() if spec.scope is None}
    assert undelegable == {Kind.DELEGATE, Kind.INCEPT, Kind.ROTATE}


def test_specs_are_frozen() -> None:
    spec = KIND_SPECS["need"]
    with pytest.raises(AttributeError):
        spec.ref = Ref.REQUIRED  # type: ignore[misc]  # the point: it is read-only
