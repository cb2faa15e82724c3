"""protocol/trust_bodies.py: the body schemas of endorse, revoke, delegate, incept, rotate.

What these bodies *mean* (who may issue them, when they take effect) is the fold's and
identity layer's business; here only their shape: every field's type, size and range.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.canonical import decode, encode
from protocol.codes import Kind, ReasonCode
from protocol.errors import ProtocolError
from protocol.limits import MAX_MILLIS
from protocol.schema import Schema
from protocol.trust_bodies import (
    MAX_ENDORSE_DEPTH,
    DelegateBody,
    EndorseBody,
    InceptBody,
    Level,
    RevokeBody,
    RevokeReason,
    RotateBody,
    Scope,
)
from tests.strategies import bodies, body_maps

SCHEMA_OF: dict[Kind, type[Schema]] = {
    Kind.ENDORSE: EndorseBody,
    Kind.REVOKE: RevokeBody,
    Kind.DELEGATE: DelegateBody,
    Kind.INCEPT: InceptBody,
    Kind.ROTATE: RotateBody,
}
KEY = bytes(range(32))
ENDORSE_MAP: dict[str, Any] = {
    "subject": KEY,
    "name": "Disaster prevention association",
    "level": "verifier",
    "max_depth": 2,
    "expires": 1_700_000_000_000,
}
DELEGATE_MAP: dict[str, Any] = {
    "key": KEY,
    "scopes": ("pledge", "post"),
    "expires": 1_700_000_000_000,
    "proof": bytes(64),
}


def _code(build: Any, *args: Any, **kwargs: Any) -> ReasonCode:
    with pytest.raises(ProtocolError) as caught:
        build(*args, **kwargs)
    return caught.value.code


@pytest.mark.parametrize("kind", list(SCHEMA_OF))
@given(data=st.data())
def test_map_and_typed_round_trip(kind: Kind, data: st.DataObject) -> None:
    schema = SCHEMA_OF[kind]
    raw = data.draw(body_maps(kind))
    assert schema.to_map(schema.from_map(raw)) == raw
    body = data.draw(bodies(kind))
    assert type(body) is schema
    assert schema.from_map(decode(encode(body.to_map()))) == body


@pytest.mark.parametrize("kind", list(SCHEMA_OF))
def test_every_field_without_a_default_is_required(kind: Kind) -> None:
    schema = SCHEMA_OF[kind]
    example = {
        Kind.ENDORSE: ENDORSE_MAP,
        Kind.REVOKE: {"reason": "retired"},
        Kind.DELEGATE: DELEGATE_MAP,
        Kind.INCEPT: {"next": KEY},
        Kind.ROTATE: {"org": KEY, "prior": KEY, "next": KEY},
    }[kind]
    schema.from_map(example)
    for field in dataclasses.fields(schema):  # type: ignore[arg-type]  # schemas are dataclasses
        if field.default is dataclasses.MISSING:
            partial = {key: value for key, value in example.items() if key != field.name}
            assert _code(schema.from_map, partial) is ReasonCode.MISSING_FIELD, field.name
    assert _code(schema.from_map, {**example, "extra": 1}) is ReasonCode.UNKNOWN_FIELD


# --- endorse --------------------------------------------------------------------------------


def test_endorse_limits() -> None:
    EndorseBody.from_map({**ENDORSE_MAP, "max_depth": 0, "expires": 0, "name": "x" * 100})
    EndorseBody.from_map({**ENDORSE_MAP, "max_depth": MAX_ENDORSE_DEPTH, "expires": MAX_MILLIS})
    assert MAX_ENDORSE_DEPTH == 16
    for level in Level:
        EndorseBody.from_map({**ENDORSE_MAP, "level": level.value})


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": KEY[:31]},
        {"subject": KEY + b"\x00"},
        {"subject": KEY.hex()},
        {"name": ""},
        {"name": "x" * 101},
        {"level": "admin"},
        {"level": "Verifier"},
        {"max_depth": -1},
        {"max_depth": 17},
        {"max_depth": True},
        {"expires": MAX_MILLIS + 1},
    ],
    ids=lambda changes: "-".join(f"{k}={v!r}"[:20] for k, v in changes.items()),
)
def test_endorse_bad_fields(changes: dict[str, Any]) -> None:
    assert _code(EndorseBody.from_map, {**ENDORSE_MAP, **changes}) is ReasonCode.BAD_FIELD


# --- revoke ---------------------------------------------------------------------------------


def test_revoke_reason_and_optional_key() -> None:
    for reason in RevokeReason:
        assert RevokeBody.from_map({"reason": reason.value}).key is None
    assert RevokeBody.from_map({"reason": "compromised", "key": KEY}).key == KEY
    assert _code(RevokeBody.from_map, {"reason": "lost"}) is ReasonCode.BAD_FIELD
    assert _code(RevokeBody.from_map, {"reason": "retired", "key": KEY[:16]}) is (
        ReasonCode.BAD_FIELD
    )
    assert _code(RevokeBody.from_map, {"key": KEY}) is ReasonCode.MISSING_FIELD


# --- delegate -------------------------------------------------------------------------------


def test_delegate_scopes_are_a_sorted_set() -> None:
    every = tuple(sorted(scope.value for scope in Scope))
    assert DelegateBody.from_map({**DELEGATE_MAP, "scopes": every}).scopes == every
    for scope in Scope:
        DelegateBody.from_map({**DELEGATE_MAP, "scopes": (scope.value,)})
    for scopes in (
        (),
        ("post", "pledge"),  # unsorted
        ("post", "post"),  # repeated
        ("admin",),
        "post",
        (b"post",),
    ):
        assert _code(DelegateBody.from_map, {**DELEGATE_MAP, "scopes": scopes}) is (
            ReasonCode.BAD_FIELD
        ), scopes


@pytest.mark.parametrize(
    "changes",
    [
        {"key": KEY[:31]},
        {"proof": bytes(63)},
        {"proof": bytes(65)},
        {"expires": -1},
        {"name": "x" * 101},
        {"name": "a\nb"},
    ],
    ids=lambda changes: "-".join(changes),
)
def test_delegate_bad_fields(changes: dict[str, Any]) -> None:
    assert _code(DelegateBody.from_map, {**DELEGATE_MAP, **changes}) is ReasonCode.BAD_FIELD


def test_delegate_name_is_optional() -> None:
    assert DelegateBody.from_map(DELEGATE_MAP).name is None
    assert DelegateBody.from_map({**DELEGATE_MAP, "name": "x" * 100}).name == "x" * 100


# --- incept, rotate -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_key_digests_are_32_bytes(size: int) -> None:
    assert _code(InceptBody.from_map, {"next": bytes(size)}) is ReasonCode.BAD_FIELD
    for field in ("org", "prior", "next"):
        raw = {"org": KEY, "prior": KEY, "next": KEY, field: bytes(size)}
        assert _code(RotateBody.from_map, raw) is ReasonCode.BAD_FIELD


def test_typed_construction_validates_too() -> None:
    assert _code(InceptBody, next="00" * 32) is ReasonCode.BAD_FIELD
    assert _code(RotateBody, org=KEY, prior=KEY, next=None) is ReasonCode.BAD_FIELD
    assert _code(RevokeBody, reason="retired", key=b"") is ReasonCode.BAD_FIELD
    assert _code(DelegateBody, **{**DELEGATE_MAP, "scopes": ["pledge"]}) is ReasonCode.BAD_FIELD


def test_choices_are_plain_strings_not_enum_members() -> None:
    # Decoded values are str; an enum member is refused so typed and decoded values agree.
    assert RevokeBody(reason="retired").reason == RevokeReason.RETIRED
    assert _code(RevokeBody, reason=RevokeReason.RETIRED) is ReasonCode.BAD_FIELD
