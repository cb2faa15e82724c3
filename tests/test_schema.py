"""protocol/schema.py: the map ⇄ frozen-value mechanism every body schema shares.

Tested on small schemas defined here, so each rule (unknown before missing, flags only as
true, converters, absent-when-unset) is seen in isolation from the real bodies' rules.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from typing import Any, ClassVar

import pytest

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from protocol.fields import check_int, check_text
from protocol.schema import Schema, nested, nested_tuple


@dataclass(frozen=True, slots=True, kw_only=True)
class Part(Schema):
    n: int

    def __post_init__(self) -> None:
        check_int("part.n", self.n, 0, 9)


@dataclass(frozen=True, slots=True, kw_only=True)
class Whole(Schema):
    name: str
    parts: tuple[Part, ...]
    main: Part | None = None
    note: str | None = None
    urgent: bool = False

    _converters: ClassVar[dict[str, Any]] = {
        "parts": nested_tuple(Part, 3),
        "main": nested(Part),
    }

    def __post_init__(self) -> None:
        check_text("name", self.name, 10)
        if self.note is not None:
            check_text("note", self.note, 10)


def _error(raw: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        Whole.from_map(raw)
    return caught.value


def test_from_map_builds_nested_values() -> None:
    whole = Whole.from_map({"name": "w", "parts": ({"n": 1}, {"n": 2}), "main": {"n": 3}})
    assert whole == Whole(name="w", parts=(Part(n=1), Part(n=2)), main=Part(n=3))
    assert whole.urgent is False


def test_to_map_leaves_unset_fields_out_and_mirrors_decode() -> None:
    whole = Whole(name="w", parts=(Part(n=0),), urgent=True)
    assert whole.to_map() == {"name": "w", "parts": ({"n": 0},), "urgent": True}
    assert Whole(name="w", parts=()).to_map() == {"name": "w", "parts": ()}


def test_typed_nested_values_pass_through_converters() -> None:
    part = Part(n=4)
    whole = Whole.from_map({"name": "w", "parts": [part], "main": part})
    assert whole.parts == (part,)
    assert whole.main is part


@pytest.mark.parametrize(
    ("raw", "code", "detail"),
    [
        ("not a map", ReasonCode.BAD_FIELD, "body: must be a map"),
        ({"name": "w", "parts": (), "x": 1}, ReasonCode.UNKNOWN_FIELD, "body: x"),
        ({"x": 1, "a": 2}, ReasonCode.UNKNOWN_FIELD, "body: a, x"),  # unknown before missing
        ({}, ReasonCode.MISSING_FIELD, "body: name, parts"),
        ({"name": "w", "parts": (), "urgent": False}, ReasonCode.BAD_FIELD, "body.urgent"),
        ({"name": "w", "parts": (), "urgent": 1}, ReasonCode.BAD_FIELD, "body.urgent"),
        ({"name": "w", "parts": "p"}, ReasonCode.BAD_FIELD, "body.parts: must be an array"),
        ({"name": "w", "parts": ({"n": 1},) * 4}, ReasonCode.TOO_LARGE, "more than 3"),
        ({"name": "w", "parts": ({},)}, ReasonCode.MISSING_FIELD, "body.parts[0]: n"),
        ({"name": "w", "parts": ({"n": 1}, 5)}, ReasonCode.BAD_FIELD, "body.parts[1]"),
        ({"name": "w", "parts": (), "main": {"m": 1}}, ReasonCode.UNKNOWN_FIELD, "body.main"),
        ({"name": "w", "parts": ({"n": 10},)}, ReasonCode.BAD_FIELD, "part.n"),
        ({"name": "w" * 11, "parts": ()}, ReasonCode.BAD_FIELD, "name"),
        ({"name": "w", "parts": (), "note": None}, ReasonCode.BAD_FIELD, "body.note: nil"),
        ({"name": "w", "parts": ({"n": None},)}, ReasonCode.BAD_FIELD, "body.parts[0].n"),
    ],
)
def test_from_map_refusals(raw: Any, code: ReasonCode, detail: str) -> None:
    error = _error(raw)
    assert error.code is code
    assert detail in error.detail


def test_from_map_keeps_the_callers_map() -> None:
    raw = {"name": "w", "parts": [{"n": 1}], "main": {"n": 2}}
    Whole.from_map(raw)
    assert raw == {"name": "w", "parts": [{"n": 1}], "main": {"n": 2}}


def test_values_are_frozen_and_slotted() -> None:
    whole = Whole(name="w", parts=())
    with pytest.raises(FrozenInstanceError):
        whole.name = "v"  # type: ignore[misc]  # the point: it is read-only
    assert not hasattr(whole, "__dict__")


def test_invalid_values_cannot_be_built() -> None:
    with pytest.raises(ProtocolError):
        Whole(name="", parts=())
    with pytest.raises(ProtocolError):
        Part(n=-1)
