"""protocol/canonical.py: one byte string per value, and nothing else decodes.

The central property is a bijection: ``decode(encode(v)) == v`` for every plain value, and
``encode(decode(b)) == b`` for every byte string ``decode`` accepts. Everything else is
refused with a stable reason code: ``non_canonical`` for msgpack that is not in canonical
form, ``malformed`` for bytes that are not one msgpack value, ``too_large`` past MAX_NEST.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.canonical import check_plain, decode, encode
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


# --- one encoding per value ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hex_form"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "cc80"),
        (255, "ccff"),
        (256, "cd0100"),
        (65535, "cdffff"),
        (65536, "ce00010000"),
        (2**32 - 1, "ceffffffff"),
        (2**32, "cf0000000100000000"),
        (MAX_INT, "cfffffffffffffffff"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-128, "d080"),
        (-129, "d1ff7f"),
        (-32768, "d18000"),
        (-32769, "d2ffff7fff"),
        (-(2**31), "d280000000"),
        (-(2**31) - 1, "d3ffffffff7fffffff"),
        (MIN_INT, "d38000000000000000"),
        (False, "c2"),
        (True, "c3"),
        (None, "c0"),
        ("", "a0"),
        ("a" * 31, "bf" + "61" * 31),
        ("a" * 32, "d920" + "61" * 32),
        ("é", "a2c3a9"),
        (b"", "c400"),
        (b"\x00", "c40100"),
        ((), "90"),
        ({}, "80"),
        ({"b": 1, "a": 2, "": 3}, "83a003a16102a16201"),
        ({"é": 1, "z": 2}, "82a17a02a2c3a901"),  # sorted by UTF-8 bytes: "z" < "é"
        ([1, [2]], "920191" + "02"),
    ],
    ids=repr,
)
def test_known_encodings(value: Any, hex_form: str) -> None:
    assert encode(value).hex() == hex_form
    assert decode(bytes.fromhex(hex_form)) == (
        tuple(item if type(item) is not list else tuple(item) for item in value)
        if type(value) is list
        else value
    )


@given(st.dictionaries(st.text(), st.integers(0, 9), max_size=8), st.randoms())
def test_encoding_ignores_insertion_order(mapping: dict[str, int], random: Any) -> None:
    items = list(mapping.items())
    random.shuffle(items)
    assert encode(dict(items)) == encode(mapping)


@given(plain_values(max_depth=3))
def test_lists_and_tuples_encode_alike(value: Any) -> None:
    assert encode([value, value]) == encode((value, value))


def _int_forms(value: int) -> list[bytes]:
    """Every msgpack encoding of ``value``."""
    forms = []
    if 0 <= value <= 0x7F or -32 <= value < 0:
        forms.append(struct.pack(">b", value) if value < 0 else bytes([value]))
    widths = ((0xCC, ">B"), (0xCD, ">H"), (0xCE, ">I"), (0xCF, ">Q"))
    widths += ((0xD0, ">b"), (0xD1, ">h"), (0xD2, ">i"), (0xD3, ">q"))
    for marker, fmt in widths:
        with contextlib.suppress(struct.error):  # the value does not fit this width
            forms.append(bytes([marker]) + struct.pack(fmt, value))
    return forms


@given(st.integers(MIN_INT, MAX_INT))
def test_every_int_has_exactly_one_accepted_form(value: int) -> None:
    canonical = encode(value)
    forms = _int_forms(value)
    assert canonical in forms
    for form in forms:
        if form == canonical:
            assert decode(form) == value
        else:
            assert _code(form) is ReasonCode.NON_CANONICAL, form.hex()


def _str_forms(data: bytes) -> list[bytes]:
    size = len(data)
    forms = [bytes([0xD9, size]) + data] if size < 256 else []
    if size < 32:
        forms.append(bytes([0xA0 | size]) + data)
    forms.append(b"\xda" + struct.pack(">H", size) + data)
    forms.append(b"\xdb" + struct.pack(">I", size) + data)
    return forms


@given(st.text(max_size=300))
def test_every_str_has_exactly_one_accepted_form(text: str) -> None:
    canonical = encode(text)
    for form in _str_forms(text.encode()):
        if form == canonical:
            assert decode(form) == text
        else:
            assert _code(form) is ReasonCode.NON_CANONICAL


@given(st.binary(max_size=300))
def test_every_bin_has_exactly_one_accepted_form(data: bytes) -> None:
    size = len(data)
    forms = [bytes([0xC4, size]) + data] if size < 256 else []
    forms += [b"\xc5" + struct.pack(">H", size) + data, b"\xc6" + struct.pack(">I", size) + data]
    canonical = encode(data)
    assert canonical in forms
    for form in forms:
        if form != canonical:
            assert _code(form) is ReasonCode.NON_CANONICAL


@given(st.integers(0, 40))
def test_array_and_map_headers_are_shortest(count: int) -> None:
    items = b"\x00" * count
    arrays = [b"\xdc" + struct.pack(">H", count), b"\xdd" + struct.pack(">I", count)]
    if count < 16:
        arrays.append(bytes([0x90 | count]))
    keys = sorted(f"k{i:02}" for i in range(count))
    pairs = b"".join(encode(key) + b"\x00" for key in keys)
    maps = [b"\xde" + struct.pack(">H", count), b"\xdf" + struct.pack(">I", count)]
    if count < 16:
        maps.append(bytes([0x80 | count]))
    assert encode((0,) * count)[: -count or None] in arrays
    for header in arrays:
        expected_ok = header + items == encode((0,) * count)
        if expected_ok:
            assert decode(header + items) == (0,) * count
        else:
            assert _code(header + items) is ReasonCode.NON_CANONICAL
    for header in maps:
        if header + pairs == encode(dict.fromkeys(keys, 0)):
            assert decode(header + pairs) == dict.fromkeys(keys, 0)
        else:
            assert _code(header + pairs) is ReasonCode.NON_CANONICAL


@given(st.lists(st.text(max_size=4), min_size=2, max_size=6, unique=True), st.randoms())
def test_keys_must_be_strictly_ascending_by_utf8(keys: list[str], random: Any) -> None:
    order = list(keys)
    random.shuffle(order)
    header = bytes([0x80 | len(order)])
    data = header + b"".join(encode(key) + b"\x01" for key in order)
    if order == sorted(keys, key=str.encode):
        assert decode(data) == dict.fromkeys(keys, 1)
    else:
        assert _code(data) is ReasonCode.NON_CANONICAL


@pytest.mark.parametrize(
    "hex_form",
    [
        "82a16101a16102",  # {"a": 1, "a": 2}
        "83a16101a16102a16203",  # duplicate then a later key
        "91" + "82a16101a16101",  # nested, same value twice
    ],
)
def test_duplicate_keys_are_non_canonical(hex_form: str) -> None:
    assert _code(bytes.fromhex(hex_form)) is ReasonCode.NON_CANONICAL


@pytest.mark.parametrize(
    "hex_form",
    [
        "d40100",  # fixext 1
        "d5010000",  # fixext 2
        "d601" + "00" * 4,  # fixext 4
        "d6ff" + "00" * 4,  # timestamp 32
        "d701" + "00" * 8,  # fixext 8
        "d801" + "00" * 16,  # fixext 16
        "c70101" + "00",  # ext 8
        "c8000101" + "00",  # ext 16
        "c900000001" + "01" + "00",  # ext 32
        "81a161d40100",  # inside a map
    ],
)
def test_extension_types_are_non_canonical(hex_form: str) -> None:
    assert _code(bytes.fromhex(hex_form)) is ReasonCode.NON_CANONICAL


@given(st.text(min_size=1, max_size=40))
def test_str_and_bin_are_different_values(text: str) -> None:
    as_str, as_bin = encode(text), encode(text.encode())
    assert as_str != as_bin
    assert decode(as_str) == text
    assert decode(as_bin) == text.encode()  # never silently turned into a str
    key_as_bin = b"\x81" + as_bin + b"\x01"
    assert _code(key_as_bin) is ReasonCode.NON_CANONICAL


# --- not msgpack ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hex_form",
    [
        "",  # nothing
        "c1",  # the one reserved byte
        "0000",  # two values
        "92" + "01",  # array missing an element
        "a3" + "6162",  # string shorter than its header
        "a2" + "c328",  # invalid UTF-8
        "a3" + "eda080",  # an encoded surrogate is not UTF-8
        "db" + "ffffffff",  # a 4 GiB string in a 5-byte input
        "dd" + "ffffffff",  # a 4-billion-element array
        "8101" + "02",  # an int map key
        "81c0" + "02",  # a nil map key
        "8191" + "0102",  # an array map key
    ],
)
def test_malformed(hex_form: str) -> None:
    assert _code(bytes.fromhex(hex_form)) is ReasonCode.MALFORMED


@given(plain_values(max_depth=3).map(encode).filter(lambda data: len(data) > 1), st.data())
def test_every_truncation_is_malformed(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(0, len(data) - 1))
    assert _code(data[:cut]) is ReasonCode.MALFORMED


@given(plain_values(max_depth=3).map(encode), st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_malformed(data: bytes, extra: bytes) -> None:
    assert _code(data + extra) is ReasonCode.MALFORMED


# --- check_plain ----------------------------------------------------------------------------


@given(plain_values(nil=False))
def test_check_plain_accepts_plain_values_without_nil(value: Any) -> None:
    check_plain(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, ReasonCode.BAD_FIELD),
        ({"a": (1, None)}, ReasonCode.BAD_FIELD),
        (1.5, ReasonCode.BAD_FIELD),
        ({"k": {1, 2}}, ReasonCode.BAD_FIELD),
        ({b"k": 1}, ReasonCode.BAD_FIELD),
        ("e\u0301", ReasonCode.NON_CANONICAL),
        ({"e\u0301": 1}, ReasonCode.NON_CANONICAL),
        (("x", ("\u212b",)), ReasonCode.NON_CANONICAL),
        (((((((((((),),),),),),),),),), ReasonCode.TOO_LARGE),
    ],
    ids=repr,
)
def test_check_plain_refuses(value: Any, code: ReasonCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        check_plain(value)
    assert caught.value.code is code


def test_check_plain_depth_counts_from_its_argument() -> None:
    eight_deep: Any = 0
    for _ in range(MAX_NEST):
        eight_deep = (eight_deep,)
    check_plain(eight_deep)
    with pytest.raises(ProtocolError):
        check_plain(eight_deep, 1)
