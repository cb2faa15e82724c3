"""Body schemas of the identity and trust kinds (docs/protocol.md §4.5–4.9).

``incept`` and ``rotate`` establish an org's key chain (KERI-style pre-rotation); ``delegate``
lets operator keys act for the org; ``endorse`` is a signed introduction; ``revoke`` ends an
endorsement, a delegation or a key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from protocol.canonical import encode
from protocol.fields import check_bytes, check_choice, check_int, check_millis, check_text, fail
from protocol.schema import Schema

__all__ = [
    "DELEGATION_DOMAIN",
    "MAX_ENDORSE_DEPTH",
    "DelegateBody",
    "EndorseBody",
    "InceptBody",
    "Level",
    "RevokeBody",
    "RevokeReason",
    "RotateBody",
    "Scope",
    "delegation_message",
]

DELEGATION_DOMAIN = b"aidnode/v1/delegation\0"

MAX_ENDORSE_DEPTH = 16


class Level(StrEnum):
    """What an endorsement vouches for. ``verifier`` implies ``member``."""

    MEMBER = "member"
    VERIFIER = "verifier"


class Scope(StrEnum):
    """What a delegated operator key may do for its org (docs/protocol.md §5.3)."""

    ENDORSE = "endorse"  # endorse, revoke endorsements
    PLEDGE = "pledge"  # pledge, cancel, deliver, receipt
    POST = "post"  # need, offer, update, withdraw, profile
    VERIFY = "verify"  # verify


class RevokeReason(StrEnum):
    SUPERSEDED = "superseded"  # replaced; statements before the revocation stay valid
    RETIRED = "retired"  # no longer used; statements before the revocation stay valid
    COMPROMISED = "compromised"  # stolen: no statement of the key counts, whatever its hlc


@dataclass(frozen=True, slots=True, kw_only=True)
class EndorseBody(Schema):
    """``subject`` is introduced as ``name`` at ``level``; its own endorsements propagate at most
    ``max_depth`` further hops through this edge; the endorsement lapses at ``expires``."""

    subject: bytes
    name: str
    level: str
    max_depth: int
    expires: int

    def __post_init__(self) -> None:
        check_bytes("subject", self.subject, 32)
        check_text("name", self.name, 100)
        check_choice("level", self.level, Level)
        check_int("max_depth", self.max_depth, 0, MAX_ENDORSE_DEPTH)
        check_millis("expires", self.expires)


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeBody(Schema):
    """Revokes the event in the envelope's ``ref`` (an endorsement or delegation), or, when
    ``ref`` is nil, the key in ``key``. Exactly one of the two (checked with the envelope)."""

    reason: str
    key: bytes | None = None

    def __post_init__(self) -> None:
        check_choice("reason", self.reason, RevokeReason)
        if self.key is not None:
            check_bytes("key", self.key, 32)


@dataclass(frozen=True, slots=True, kw_only=True)
class DelegateBody(Schema):
    """Lets ``key`` act for the author's org within ``scopes`` until ``expires``.

    ``proof`` is the delegate key's own signature over (domain ``aidnode/v1/delegation``,
    the delegating key, scopes, expires): nobody can be made another org's delegate, or have
    their statements attributed to another org, without consenting.
    """

    key: bytes
    scopes: tuple[str, ...]
    expires: int
    proof: bytes
    name: str | None = None

    def __post_init__(self) -> None:
        check_bytes("key", self.key, 32)
        if type(self.scopes) is not tuple or not self.scopes:
            raise fail("scopes", "must be a non-empty array")
        for scope in self.scopes:
            check_choice("scopes[]", scope, Scope)
        if list(self.scopes) != sorted(set(self.scopes)):
            raise fail("scopes", "must be sorted and without repeats")
        check_millis("expires", self.expires)
        check_bytes("proof", self.proof, 64)
        if self.name is not None:
            check_text("name", self.name, 100)


@dataclass(frozen=True, slots=True, kw_only=True)
class InceptBody(Schema):
    """An org's first event: its author key is the org id; ``next`` commits to the next key."""

    next: bytes

    def __post_init__(self) -> None:
        check_bytes("next", self.next, 32)


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateBody(Schema):
    """Authored by the key committed in the previous establishment event (the envelope's
    ``ref``); replaces ``prior`` for org ``org`` and commits to the key after it in ``next``."""

    org: bytes
    prior: bytes
    next: bytes

    def __post_init__(self) -> None:
        check_bytes("org", self.org, 32)
        check_bytes("prior", self.prior, 32)
        check_bytes("next", self.next, 32)


def delegation_message(delegator: bytes, scopes: Iterable[str], expires: int) -> bytes:
    """What a delegate key signs (under :data:`DELEGATION_DOMAIN`) to consent to act for the
    org of ``delegator`` with ``scopes`` until ``expires``: canonical [delegator, scopes,
    expires], scopes sorted."""
    return encode([delegator, sorted(scopes), expires])
