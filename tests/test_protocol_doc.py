"""docs/protocol.md stays in step with the code: every code, kind, field, choice and limit
the implementation has is documented where a second implementer will look for it."""

from __future__ import annotations

import dataclasses
import re
from enum import StrEnum
from pathlib import Path

import pytest

from protocol import limits
from protocol.codes import Ineffective, Kind, ReasonCode
from protocol.kinds import KIND_SPECS
from protocol.records import (
    SEALED_SLOT_BYTES,
    Contact,
    Line,
    LineQty,
    Sealed,
    Transport,
    Urgency,
    VerifyMethod,
)
from protocol.schema import Schema
from protocol.trust_bodies import MAX_ENDORSE_DEPTH, Level, RevokeReason, Scope

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()


def _section(number: str) -> str:
    match = re.search(rf"^## {number}\. .*?(?=^## \d+\. |\Z)", DOC, re.S | re.M)
    assert match, f"docs/protocol.md has no section {number}"
    return match.group(0)


def _table_keys(text: str) -> set[str]:
    """The first column of every table row, when it is a `code`."""
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, re.M))


def test_sections_are_in_place() -> None:
    headings = re.findall(r"^## (\d+)\. (.+)$", DOC, re.M)
    assert [number for number, _ in headings] == [str(n) for n in range(1, 9)]
    assert ("5", "Identity and authority") in headings
    assert ("6", "The fold (derived state)") in headings


def test_every_reason_code_is_documented() -> None:
    assert _table_keys(_section("7")) >= {code.value for code in ReasonCode}


def test_every_ineffective_code_is_documented() -> None:
    assert _table_keys(_section("7")) >= {code.value for code in Ineffective}


def test_every_kind_is_in_the_kind_table_with_a_section() -> None:
    kinds = _section("4")
    assert _table_keys(kinds) >= {kind.value for kind in Kind}
    for kind in Kind:
        assert re.search(rf"^### 4\.\d+ .*`{kind.value}`", kinds, re.M), kind


def _schemas() -> set[type[Schema]]:
    return {spec.body for spec in KIND_SPECS.values()} | {Sealed, Contact, Line, LineQty}


@pytest.mark.parametrize("schema", sorted(_schemas(), key=lambda s: s.__name__))
def test_every_field_is_documented(schema: type[Schema]) -> None:
    text = _section("3") + _section("4")
    for field in dataclasses.fields(schema):  # type: ignore[arg-type]  # schemas are dataclasses
        assert f"`{field.name}`" in text, f"{schema.__name__}.{field.name}"


@pytest.mark.parametrize("choices", [Urgency, Transport, VerifyMethod, Level, RevokeReason, Scope])
def test_every_choice_is_documented(choices: type[StrEnum]) -> None:
    for choice in choices:
        assert f"`{choice.value}`" in _section("4"), choice


def test_every_limit_is_documented_with_its_value() -> None:
    table = _section("3")
    values = {name: getattr(limits, name) for name in limits.__all__}
    values |= {"SEALED_SLOT_BYTES": SEALED_SLOT_BYTES, "MAX_ENDORSE_DEPTH": MAX_ENDORSE_DEPTH}
    for name, value in values.items():
        row = re.search(rf"^\| `{name}` \| ([^|]+) \|", table, re.M)
        assert row, name
        assert str(value) in row.group(1).replace(" ", ""), name
