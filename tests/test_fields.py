"""protocol/fields.py: every field validator accepts its whole domain and refuses the rest
with ``bad_field`` naming the field. Boundaries are tested exactly (limit accepted, one past
it refused)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from protocol.fields import (
    check_amount,
    check_bytes,
    check_category,
    check_choice,
    check_int,
    check_millis,
    check_region,
    check_text,
    check_true,
    fail,
)
from protocol.limits import MAX_AMOUNT, MAX_MILLIS
from protocol.records import Urgency
from tests.strategies import categories, regions, texts


def _refused(check: Callable[..., None], *args: Any, **kwargs: Any) -> str:
    """Run a validator that must fail; return its detail (which names the field)."""
    with pytest.raises(ProtocolError) as caught:
        check(*args, **kwargs)
    assert caught.value.code is ReasonCode.BAD_FIELD
    return caught.value.detail


def test_fail_names_the_field() -> None:
    error = fail("lines[2].qty", "must be positive")
    assert error.code is ReasonCode.BAD_FIELD
    assert error.detail == "lines[2].qty: must be positive"


# --- check_text ---------------------------------------------------------------------------


@given(st.integers(1, 600), st.data())
def test_text_accepts_nfc_up_to_max_bytes(max_bytes: int, data: st.DataObject) -> None:
    check_text("title", data.draw(texts(max_bytes)), max_bytes)
    check_text("note", data.draw(texts(max_bytes, multiline=True)), max_bytes, multiline=True)


@pytest.mark.parametrize("char", ["a", "é", "水", "🚑"], ids=["1B", "2B", "3B", "4B"])
def test_text_limit_counts_utf8_bytes(char: str) -> None:
    width = len(char.encode())
    check_text("title", char * (120 // width), 120)
    detail = _refused(check_text, "title", char * (120 // width + 1), 120)
    assert detail.startswith("title:")


@pytest.mark.parametrize(
    "value",
    ["", b"bytes", 7, None, True, ("a",)],
    ids=["empty", "bytes", "int", "nil", "bool", "array"],
)
def test_text_refuses_non_strings_and_empty(value: Any) -> None:
    _refused(check_text, "title", value, 200)


@pytest.mark.parametrize("code", [*range(0x20), 0x7F])
def test_text_refuses_c0_controls_and_del(code: int) -> None:
    value = f"a{chr(code)}b"
    _refused(check_text, "title", value, 200)
    if code == 0x0A:
        check_text("note", value, 200, multiline=True)  # a line feed is a line break
    else:
        _refused(check_text, "note", value, 200, multiline=True)


def test_text_allows_c1_controls_and_other_unicode() -> None:
    check_text("title", "a\x85b\u2028c\u200d", 200)


@pytest.mark.parametrize("text", ["e\u0301", "\u212b", "Cafe\u0301 au lait", "\u1100\u1161"])
def test_text_refuses_non_nfc(text: str) -> None:
    assert not unicodedata.is_normalized("NFC", text)
    assert "NFC" in _refused(check_text, "title", text, 200)
    check_text("title", unicodedata.normalize("NFC", text), 200)


def test_text_refuses_lone_surrogates() -> None:
    assert "Unicode" in _refused(check_text, "title", "bad \ud800 text", 200)


# --- numbers ------------------------------------------------------------------------------


@given(st.integers(-(2**70), 2**70), st.integers(-100, 100), st.integers(0, 200))
def test_int_range_is_inclusive(value: int, low: int, span: int) -> None:
    high = low + span
    if low <= value <= high:
        check_int("n", value, low, high)
    else:
        _refused(check_int, "n", value, low, high)


@pytest.mark.parametrize("value", [True, False, 1.0, "1", b"\x01", None])
def test_int_refuses_bool_and_other_types(value: Any) -> None:
    assert "integer" in _refused(check_int, "qty", value, 0, 10)


def test_amount_is_one_to_max_amount() -> None:
    check_amount("qty", 1)
    check_amount("qty", MAX_AMOUNT)
    for value in (0, -1, MAX_AMOUNT + 1, True):
        _refused(check_amount, "qty", value)


def test_millis_is_zero_to_two_to_the_53_minus_one() -> None:
    check_millis("expires", 0)
    check_millis("expires", MAX_MILLIS)
    assert MAX_MILLIS == 2**53 - 1
    for value in (-1, MAX_MILLIS + 1, True):
        _refused(check_millis, "expires", value)


# --- bytes, flags, choices ----------------------------------------------------------------


@given(st.binary(max_size=40))
def test_bytes_must_have_the_exact_size(value: bytes) -> None:
    if len(value) == 32:
        check_bytes("subject", value, 32)
    else:
        _refused(check_bytes, "subject", value, 32)


def test_bytes_refuses_str_and_bytearray() -> None:
    _refused(check_bytes, "key", "a" * 32, 32)
    _refused(check_bytes, "key", bytearray(32), 32)


@pytest.mark.parametrize("value", [False, 1, "true", None])
def test_flag_is_absent_or_true(value: Any) -> None:
    check_true("sensitive", True)
    _refused(check_true, "sensitive", value)


def test_choice_is_one_of_the_enum_values() -> None:
    for urgency in Urgency:
        check_choice("urgency", urgency.value, Urgency)
    for value in ("24H", "URGENT", "", Urgency, 1, None, b"24h"):
        assert "24h" in _refused(check_choice, "urgency", value, Urgency)


# --- codes --------------------------------------------------------------------------------


@given(regions())
def test_region_accepts_iso_3166_2_style_codes(code: str) -> None:
    check_region("region", code)


@pytest.mark.parametrize(
    "value",
    ["cn-hb", "C", "CHN", "CN-", "CN-HBEI", "CN-HB-WH-A-B", "CN HB", "CN-HB\n", "", 7, b"CN"],
)
def test_region_refuses_other_shapes(value: Any) -> None:
    _refused(check_region, "region", value)


@given(categories())
def test_category_accepts_dotted_codes(code: str) -> None:
    check_category("line.category", code)


@pytest.mark.parametrize(
    "value",
    [
        "Medical.ppe",
        "medical..ppe",
        ".ppe",
        "medical.",
        "1medical",
        "a.b.c.d.e",  # five parts: at most four
        "a" * 25,  # a part is at most 24 characters
        ".".join(["a" * 24] * 3),  # 74 characters: over 64 in all
        "",
        None,
    ],
)
def test_category_refuses_other_shapes(value: Any) -> None:
    _refused(check_category, "line.category", value)


def test_category_length_limit_is_64() -> None:
    check_category("c", "a" * 24 + "." + "b" * 24 + "." + "c" * 14)  # 64 characters
    _refused(check_category, "c", "a" * 24 + "." + "b" * 24 + "." + "c" * 15)
