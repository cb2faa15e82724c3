"""protocol/canonical.py: one byte string per value, and nothing else decodes.

The central property is a bijection: ``decode(encode(v)) == v`` for every plain value, and
``encode(decode(b)) == b`` for every byte string ``decode`` accepts. Everything else is
refused with a stable reason code: ``non_canonical`` for msgpack that is not in canonical
form, ``malformed`` for bytes that are not one msgpack value, ``too_large`` past MAX_NEST.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.canonical import decode, encode
from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from protocol.limits import MAX_NEST
from tests.strategies import MAX_INT, MIN_INT, plain_values


def _code(data: bytes) -> ReasonCode:
    with pytest.raises(ProtocolError) as caught:
        decode(data)
    return caught.value.code


def _nest(depth: int, leaf: bytes = b"\x00") -> bytes:
    """``depth`` one-element arrays around ``leaf``."""
    return b"\x91" * depth + leaf


# --- what re-encoding alone cannot catch --------------------------------------------------


@given(st.floats(), st.floats(width=32))
def test_float64_and_float32_are_non_canonical(double: float, single: float) -> None:
    for data in (struct.pack(">Bd", 0xCB, double), struct.pack(">Bf", 0xCA, single)):
        assert _code(data) is ReasonCode.NON_CANONICAL
        assert _code(b"\x81\xa1x" + data) is ReasonCode.NON_CANONICAL  # {"x": float}
        assert _code(b"\x92\x01" + data) is ReasonCode.NON_CANONICAL  # [1, float]


def test_binary_map_key_is_non_canonical() -> None:
    assert decode(b"\x81\xa1a\x01") == {"a": 1}
    assert _code(b"\x81\xc4\x01a\x01") is ReasonCode.NON_CANONICAL  # {b"a": 1}
    assert _code(b"\x82\xa1a\x01\xc4\x01b\x02") is ReasonCode.NON_CANONICAL  # mixed key types


def test_unsorted_keys_are_non_canonical() -> None:
    assert _code(b"\x82\xa1b\x01\xa1a\x02") is ReasonCode.NON_CANONICAL
    assert _code(b"\x91\x82\xa1b\x01\xa1a\x02") is ReasonCode.NON_CANONICAL  # nested


@pytest.mark.parametrize("depth", range(MAX_NEST + 3))
def test_nesting_beyond_max_nest_is_too_large(depth: int) -> None:
    value: Any = 0
    for _ in range(depth):
        value = (value,)
    if depth <= MAX_NEST:
        assert decode(_nest(depth)) == value
        assert encode(value) == _nest(depth)
    else:
        assert _code(_nest(depth)) is ReasonCode.TOO_LARGE
        with pytest.raises(ProtocolError) as caught:
            encode(value)
        assert caught.value.code is ReasonCode.TOO_LARGE


def test_empty_container_at_max_depth_is_allowed() -> None:
    assert decode(_nest(MAX_NEST, b"\x90")) is not None
    assert decode(_nest(MAX_NEST, b"\x80")) is not None
    assert _code(_nest(MAX_NEST, b"\x81\xa1a\x01")) is ReasonCode.TOO_LARGE


def test_nesting_beyond_the_decoders_stack_is_too_large() -> None:
    assert _code(_nest(5000)) is ReasonCode.TOO_LARGE


@given(st.binary(max_size=64))
def test_decode_accepts_exactly_what_encode_produces(data: bytes) -> None:
    try:
        value = decode(data)
    except ProtocolError:
        return
    assert encode(value) == data


@given(plain_values())
def test_round_trip(value: Any) -> None:
    data = encode(value)
    assert _typed(decode(data)) == _typed(value)
    assert decode(data) == value


def _typed(value: Any) -> Any:
    """``value`` with every scalar tagged by its type, so True and 1 compare unequal."""
    if type(value) is tuple or type(value) is list:
        return ("array", tuple(_typed(item) for item in value))
    if type(value) is dict:
        return ("map", tuple(sorted((key, _typed(item)) for key, item in value.items())))
    return (type(value).__name__, value)


@given(st.integers(MIN_INT, MAX_INT))
def test_ints_round_trip_in_msgpack_range(value: int) -> None:
    assert decode(encode(value)) == value


@pytest.mark.parametrize(
    "value",
    [1.0, {1: "a"}, {b"k": 1}, 2**64, MIN_INT - 1, {"a"}, object(), "lone \ud800 surrogate"],
    ids=["float", "int-key", "bin-key", "too-big", "too-small", "set", "object", "surrogate"],
)
def test_encode_refuses_what_has_no_canonical_form(value: Any) -> None:
    with pytest.raises(ProtocolError) as caught:
        encode(value)
    assert caught.value.code is ReasonCode.BAD_FIELD
