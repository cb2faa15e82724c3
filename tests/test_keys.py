"""crypto.keys: fingerprints and the checksummed ``aid1…`` text form of public keys."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crypto.errors import KeyMaterialError
from crypto.keys import decode_key, encode_key, fingerprint

keys = st.binary(min_size=32, max_size=32)
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# What each character means to the decoder, including Crockford's forgiving aliases.
VALUE = {c: i for i, c in enumerate(CROCKFORD)} | {"o": 0, "i": 1, "l": 1}
FINGERPRINT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")
ENCODED = re.compile(r"aid1[0-9a-hjkmnp-tv-z]{58}")


@given(key=keys)
def test_fingerprint_is_four_groups_of_four_crockford_characters(key: bytes) -> None:
    text = fingerprint(key)
    assert FINGERPRINT.fullmatch(text), text
    assert not set(text) & set("ILOU")
    assert fingerprint(key) == text


def test_fingerprints_of_neighbouring_keys_differ() -> None:
    key = bytes(32)
    assert fingerprint(key) != fingerprint(key[:-1] + b"\x01")


@given(key=keys)
def test_encode_gives_aid1_and_58_lowercase_characters(key: bytes) -> None:
    assert ENCODED.fullmatch(encode_key(key))


@given(key=keys)
def test_encode_decode_round_trip(key: bytes) -> None:
    assert decode_key(encode_key(key)) == key


@given(key=keys)
def test_decode_forgives_case_and_surrounding_whitespace(key: bytes) -> None:
    assert decode_key(f"  {encode_key(key).upper()}\n") == key


@given(key=keys)
def test_decode_reads_crockford_aliases_as_their_digits(key: bytes) -> None:
    text = encode_key(key)
    body = text[4:].replace("0", "o").replace("1", "l")
    assert decode_key("aid1" + body) == key


@given(key=keys)
def test_hex_form_is_accepted_in_either_case(key: bytes) -> None:
    assert decode_key(key.hex()) == key
    assert decode_key(key.hex().upper()) == key


def _typo(text: str, position: int, replacement: str) -> str:
    return text[:position] + replacement + text[position + 1 :]


@given(key=keys, position=st.integers(4, 61), replacement=st.sampled_from(CROCKFORD))
def test_any_single_character_typo_is_refused(key: bytes, position: int, replacement: str) -> None:
    text = encode_key(key)
    assume(VALUE[replacement] != VALUE[text[position]])
    with pytest.raises(KeyMaterialError):
        decode_key(_typo(text, position, replacement))


def test_every_single_character_typo_of_some_keys_is_refused_exhaustively() -> None:
    # The BCH code guarantees this (up to 4 substitutions); check it exhaustively on a few keys,
    # including the key whose typo slipped through the earlier 16-bit hash checksum.
    for key in (bytes(32), bytes(range(32)), bytes([255]) * 32):
        text = encode_key(key)
        for position in range(4, len(text)):
            for replacement in CROCKFORD:
                if VALUE[replacement] != VALUE[text[position]]:
                    with pytest.raises(KeyMaterialError):
                        decode_key(_typo(text, position, replacement))


@given(
    key=keys,
    positions=st.lists(st.integers(4, 61), min_size=2, max_size=4, unique=True),
    shift=st.integers(1, 31),
)
def test_up_to_four_typos_are_refused(key: bytes, positions: list[int], shift: int) -> None:
    text = encode_key(key)
    for position in positions:
        text = _typo(text, position, CROCKFORD[(VALUE[text[position]] + shift) % 32])
    with pytest.raises(KeyMaterialError):
        decode_key(text)


@given(key=keys, position=st.integers(4, 61))
def test_a_dropped_or_doubled_character_is_refused(key: bytes, position: int) -> None:
    text = encode_key(key)
    with pytest.raises(KeyMaterialError):
        decode_key(text[:position] + text[position + 1 :])
    with pytest.raises(KeyMaterialError):
        decode_key(text[:position] + text[position] + text[position:])


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "aid1",
        "hello",
        "aid2" + "0" * 58,
        "aid1" + "u" * 58,  # U is not in the alphabet
        "aid1" + "!" * 58,
        "g" * 64,  # 64 characters but not hex, and not aid1 either
        "00" * 31,
        "00" * 33,
    ],
)
def test_garbage_is_refused_with_key_material_error(garbage: str) -> None:
    with pytest.raises(KeyMaterialError, match="not a key"):
        decode_key(garbage)


def test_nonzero_padding_bits_are_refused() -> None:
    # 32 bytes fill 52 characters with 4 bits to spare; they must be zero, even when the
    # check code is recomputed to match (a writer that got padding wrong).
    from crypto.keys import _check_symbols

    text = encode_key(bytes(32))
    body = [VALUE[c] for c in text[4:56]]
    body[-1] |= 1
    check = _check_symbols(body)
    forged = "aid1" + "".join(CROCKFORD[v] for v in body + check).lower()
    with pytest.raises(KeyMaterialError, match="padding"):
        decode_key(forged)


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_keys_of_the_wrong_length_cannot_be_written(length: int) -> None:
    with pytest.raises(KeyMaterialError):
        fingerprint(b"\x00" * length)
    with pytest.raises(KeyMaterialError):
        encode_key(b"\x00" * length)
