"""The kind table: for each kind, its body schema, whether it refers to another event, what it
may refer to, who may author it and under which delegated scope (docs/protocol.md §4–5).

This is the single place that says who may do what. The fold (sync/fold.py) reads it; it
never restates these rules in its own ``if``s.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from protocol.codes import Kind
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

__all__ = ["KIND_SPECS", "KindSpec", "Ref", "Role"]


class Ref(Enum):
    """Whether an event's ``ref`` must be nil, must be set, or (revoke) is one of two forms."""

    NONE = "none"
    REQUIRED = "required"
    EITHER = "either"  # revoke: ref (an event) xor body.key


class Role(Enum):
    """Who may author an event of a kind (resolved by the fold through identity)."""

    ANY_ORG = "any org"  # any key acting for some org with the kind's scope
    RECORD_ORG = "record's org"  # the org that created the referenced record
    NOT_RECORD_ORG = "any org but the record's"  # pledges and verifications come from others
    PLEDGE_ORG = "pledge's org"  # the org that made the referenced pledge
    GIVER = "giving side"  # need: the pledging org; offer: the offering org
    RECEIVER = "receiving side"  # need: the needing org; offer: the pledging (claiming) org
    SELF = "the key itself"  # incept: the author key is the org
    NEXT_KEY = "the committed next key"  # rotate
    ISSUER = "the target's issuer"  # revoke (docs/protocol.md §5.5)
    KEY_HOLDER = "an org key or delegate"  # delegate: org keys, or delegates within their scopes


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: Kind
    body: type[Schema]
    ref: Ref
    targets: frozenset[Kind]  # what ref may point at (empty when ref is nil)
    role: Role
    scope: Scope | None  # the delegated scope needed; None: delegates may not author it


_RECORDS = frozenset({Kind.NEED, Kind.OFFER})
_PLEDGES = frozenset({Kind.PLEDGE})
_NOTHING: frozenset[Kind] = frozenset()

KIND_SPECS: dict[str, KindSpec] = {
    spec.kind.value: spec
    for spec in (
        KindSpec(Kind.NEED, RecordBody, Ref.NONE, _NOTHING, Role.ANY_ORG, Scope.POST),
        KindSpec(Kind.OFFER, RecordBody, Ref.NONE, _NOTHING, Role.ANY_ORG, Scope.POST),
        KindSpec(Kind.UPDATE, UpdateBody, Ref.REQUIRED, _RECORDS, Role.RECORD_ORG, Scope.POST),
        KindSpec(Kind.WITHDRAW, WithdrawBody, Ref.REQUIRED, _RECORDS, Role.RECORD_ORG, Scope.POST),
        KindSpec(
            Kind.PLEDGE, PledgeBody, Ref.REQUIRED, _RECORDS, Role.NOT_RECORD_ORG, Scope.PLEDGE
        ),
        KindSpec(Kind.CANCEL, CancelBody, Ref.REQUIRED, _PLEDGES, Role.PLEDGE_ORG, Scope.PLEDGE),
        KindSpec(Kind.DELIVER, DeliverBody, Ref.REQUIRED, _PLEDGES, Role.GIVER, Scope.PLEDGE),
        KindSpec(Kind.RECEIPT, ReceiptBody, Ref.REQUIRED, _PLEDGES, Role.RECEIVER, Scope.PLEDGE),
        KindSpec(
            Kind.VERIFY, VerifyBody, Ref.REQUIRED, _RECORDS, Role.NOT_RECORD_ORG, Scope.VERIFY
        ),
        KindSpec(Kind.ENDORSE, EndorseBody, Ref.NONE, _NOTHING, Role.ANY_ORG, Scope.ENDORSE),
        KindSpec(
            Kind.REVOKE,
            RevokeBody,
            Ref.EITHER,
            frozenset({Kind.ENDORSE, Kind.DELEGATE}),
            Role.ISSUER,
            Scope.ENDORSE,
        ),
        KindSpec(Kind.DELEGATE, DelegateBody, Ref.NONE, _NOTHING, Role.KEY_HOLDER, None),
        KindSpec(Kind.INCEPT, InceptBody, Ref.NONE, _NOTHING, Role.SELF, None),
        KindSpec(
            Kind.ROTATE,
            RotateBody,
            Ref.REQUIRED,
            frozenset({Kind.INCEPT, Kind.ROTATE}),
            Role.NEXT_KEY,
            None,
        ),
        KindSpec(Kind.PROFILE, ProfileBody, Ref.NONE, _NOTHING, Role.ANY_ORG, Scope.POST),
    )
}
