"""tests/vectors/: every vector agrees with the implementation, and the files are exactly
what the generator writes (so they cannot drift from the code, or the code from them).

A second implementation should pass the same three checks; see docs/protocol.md §8.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crypto.signing import SigningIdentity
from protocol.canonical import decode, encode
from protocol.codes import ReasonCode
from protocol.envelope import decode_event, event_id, sign_event
from protocol.errors import ProtocolError
from protocol.kinds import KIND_SPECS
from tests.vectors import generate

VECTORS = Path(generate.__file__).resolve().parent
EVENTS = json.loads((VECTORS / "events.json").read_text())
INVALID = json.loads((VECTORS / "invalid.json").read_text())
CANONICAL = json.loads((VECTORS / "canonical.json").read_text())


def _by_name(vectors: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("vector", vectors, ids=[v["name"] for v in vectors])


@pytest.mark.parametrize("name", sorted(generate.render()))
def test_files_are_exactly_what_the_generator_writes(name: str) -> None:
    assert (VECTORS / name).read_text() == generate.render()[name]


def test_generator_is_deterministic() -> None:
    assert generate.render() == generate.render()
    assert generate.main(["--check"]) == 0


def test_every_kind_and_every_reason_code_has_a_vector() -> None:
    assert {v["kind"] for v in EVENTS["events"]} >= set(KIND_SPECS)
    assert {v["code"] for v in INVALID} == {code.value for code in ReasonCode}


@_by_name(EVENTS["events"])
def test_valid_event(vector: dict[str, Any]) -> None:
    wire = bytes.fromhex(vector["wire"])
    event = decode_event(wire, now_ms=EVENTS["now_ms"])
    payload = bytes.fromhex(vector["payload"])
    assert event.payload == payload
    assert event.sig.hex() == vector["sig"]
    assert event.id.hex() == vector["id"] == event_id(payload).hex()
    assert event.author.hex() == vector["author"]
    assert event.kind == vector["kind"]
    assert event.hlc == int(vector["hlc"])
    assert (event.ref.hex() if event.ref else None) == vector["ref"]
    body = generate.from_json(vector["body"])
    assert event.body.to_map() == body
    assert encode([payload, event.sig]) == wire
    assert decode(payload) == (1, event.kind, event.author, event.hlc, event.ref, body)


@_by_name(EVENTS["events"])
def test_valid_event_is_reproduced_from_its_seed(vector: dict[str, Any]) -> None:
    identity = SigningIdentity(bytes.fromhex(vector["seed"]))
    assert identity.public_key.hex() == vector["author"]
    ref = bytes.fromhex(vector["ref"]) if vector["ref"] else None
    body = generate.from_json(vector["body"])
    event = sign_event(identity, vector["kind"], int(vector["hlc"]), body, ref)
    assert event.wire.hex() == vector["wire"]


@_by_name(INVALID)
def test_invalid_event(vector: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(bytes.fromhex(vector["wire"]), now_ms=vector["now_ms"])
    assert caught.value.code.value == vector["code"]


@pytest.mark.parametrize("vector", CANONICAL["valid"], ids=lambda v: v["hex"][:24])
def test_canonical_value(vector: dict[str, Any]) -> None:
    value = generate.from_json(vector["value"])
    assert encode(value).hex() == vector["hex"]
    assert decode(bytes.fromhex(vector["hex"])) == value


@_by_name(CANONICAL["refused"])
def test_canonical_refusal(vector: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(bytes.fromhex(vector["hex"]))
    assert caught.value.code.value == vector["code"]
