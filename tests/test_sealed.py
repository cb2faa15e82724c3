"""crypto.sealed: values only chosen recipient orgs can open."""

from __future__ import annotations

import hashlib
import os

import nacl.bindings
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.errors import KeyMaterialError, SealedError
from crypto.sealed import (
    BOX_OVERHEAD_BYTES,
    MAX_RECIPIENTS,
    MAX_SEALED_BYTES,
    MAX_SEALED_VALUE_BYTES,
    SEALED_SLOT_BYTES,
    open_sealed,
    seal,
)
from crypto.signing import SigningIdentity

# Enough orgs for a full recipient list plus one outsider; fixed seeds keep examples cheap.
ORGS = tuple(SigningIdentity(hashlib.sha256(b"org %d" % i).digest()) for i in range(18))
OUTSIDER = ORGS[-1]

values = st.binary(min_size=1, max_size=512)
recipient_lists = st.lists(
    st.sampled_from(ORGS[:-1]), min_size=1, max_size=MAX_RECIPIENTS, unique=True
)


def _keys(orgs: list[SigningIdentity] | tuple[SigningIdentity, ...]) -> list[bytes]:
    return [org.public_key for org in orgs]


def _flip(data: bytes, position: int, bit: int) -> bytes:
    changed = bytearray(data)
    changed[position % len(data)] ^= 1 << bit
    return bytes(changed)


@given(value=values, recipients=recipient_lists)
def test_every_recipient_opens_and_an_outsider_cannot(
    value: bytes, recipients: list[SigningIdentity]
) -> None:
    box, slots = seal(value, _keys(recipients))
    for org in recipients:
        assert open_sealed(box, slots, org) == value
    with pytest.raises(SealedError, match="not a recipient"):
        open_sealed(box, slots, OUTSIDER)


@given(value=values, recipients=recipient_lists)
def test_sizes_follow_the_scheme(value: bytes, recipients: list[SigningIdentity]) -> None:
    box, slots = seal(value, _keys(recipients))
    assert len(box) == len(value) + BOX_OVERHEAD_BYTES
    assert len(slots) == len(recipients)
    assert all(len(slot) == SEALED_SLOT_BYTES == 80 for slot in slots)


def test_the_wire_form_is_the_documented_scheme() -> None:
    # docs/crypto.md: a slot is a libsodium sealed box of the content key to the recipient's
    # converted X25519 key; box = BLAKE2b-192(key=k, domain) ‖ secretbox(value).
    org = ORGS[0]
    box, (slot,) = seal(b"call 555-0100", [org.public_key])
    x25519_public = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(org.public_key)
    content_key = nacl.bindings.crypto_box_seal_open(slot, x25519_public, org.x25519_private_key())
    nonce = hashlib.blake2b(b"aidnode/v1/sealed-nonce", key=content_key, digest_size=24).digest()
    assert box[:24] == nonce
    assert nacl.bindings.crypto_secretbox_open(box[24:], nonce, content_key) == b"call 555-0100"


@given(position=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_changed_bit_of_the_box_is_refused(position: int, bit: int) -> None:
    box, slots = seal(b"the clinic's back door code", _keys(ORGS[:3]))
    with pytest.raises(SealedError):
        open_sealed(_flip(box, position, bit), slots, ORGS[1])


@given(position=st.integers(0, SEALED_SLOT_BYTES - 1), bit=st.integers(0, 7))
def test_any_changed_bit_of_a_slot_is_refused(position: int, bit: int) -> None:
    box, (slot,) = seal(b"only for org 0", [ORGS[0].public_key])
    with pytest.raises(SealedError):
        open_sealed(box, (_flip(slot, position, bit),), ORGS[0])


def test_slots_from_another_sealing_do_not_open_this_box() -> None:
    recipients = _keys(ORGS[:2])
    box, _ = seal(b"first", recipients)
    _, other_slots = seal(b"second", recipients)
    with pytest.raises(SealedError, match="another box"):
        open_sealed(box, other_slots, ORGS[0])


def test_a_box_that_does_not_commit_to_its_key_is_refused() -> None:
    # A sealer who picks the nonce freely could make one ciphertext open to different values
    # under different keys; recipients only accept the nonce derived from the key.
    content_key = os.urandom(32)
    nonce = os.urandom(24)
    box = nonce + nacl.bindings.crypto_secretbox(b"value", nonce, content_key)
    x25519_public = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ORGS[0].public_key)
    slot = nacl.bindings.crypto_box_seal(content_key, x25519_public)
    with pytest.raises(SealedError):
        open_sealed(box, (slot,), ORGS[0])


def test_sixteen_recipients_are_allowed_and_seventeen_refused() -> None:
    box, slots = seal(b"v", _keys(ORGS[:MAX_RECIPIENTS]))
    assert open_sealed(box, slots, ORGS[MAX_RECIPIENTS - 1]) == b"v"
    with pytest.raises(SealedError, match="recipients"):
        seal(b"v", _keys(ORGS[: MAX_RECIPIENTS + 1]))


def test_no_recipients_is_refused() -> None:
    with pytest.raises(SealedError, match="recipients"):
        seal(b"v", [])


def test_a_repeated_recipient_is_refused() -> None:
    with pytest.raises(SealedError, match="twice"):
        seal(b"v", [ORGS[0].public_key, ORGS[1].public_key, ORGS[0].public_key])


@pytest.mark.parametrize("bad_key", [b"\x01" * 31, b"\x01" * 33, bytes(32)])
def test_a_recipient_that_is_not_a_public_key_is_refused(bad_key: bytes) -> None:
    with pytest.raises(KeyMaterialError, match="recipient 1"):
        seal(b"v", [ORGS[0].public_key, bad_key])


def test_value_size_limits() -> None:
    largest = b"x" * MAX_SEALED_VALUE_BYTES
    box, slots = seal(largest, [ORGS[0].public_key])
    assert len(box) == MAX_SEALED_BYTES == 8192
    assert open_sealed(box, slots, ORGS[0]) == largest
    with pytest.raises(SealedError, match="bytes"):
        seal(largest + b"x", [ORGS[0].public_key])
    with pytest.raises(SealedError, match="bytes"):
        seal(b"", [ORGS[0].public_key])


@pytest.mark.parametrize("box_length", [0, BOX_OVERHEAD_BYTES, MAX_SEALED_BYTES + 1])
def test_a_box_of_impossible_size_is_refused(box_length: int) -> None:
    _, slots = seal(b"v", [ORGS[0].public_key])
    with pytest.raises(SealedError, match="box"):
        open_sealed(b"\x00" * box_length, slots, ORGS[0])


@pytest.mark.parametrize("slot_count", [0, MAX_RECIPIENTS + 1])
def test_an_impossible_number_of_slots_is_refused(slot_count: int) -> None:
    box, (slot,) = seal(b"v", [ORGS[0].public_key])
    with pytest.raises(SealedError, match="slots"):
        open_sealed(box, (slot,) * slot_count, ORGS[0])


@pytest.mark.parametrize("cut", [1, -1])
def test_a_slot_of_the_wrong_length_is_refused(cut: int) -> None:
    box, (slot,) = seal(b"v", [ORGS[0].public_key])
    bad = slot[:-1] if cut < 0 else slot + b"\x00"
    with pytest.raises(SealedError, match="80 bytes"):
        open_sealed(box, (bad,), ORGS[0])


def test_slot_order_does_not_follow_the_recipient_list() -> None:
    # The first-listed org is usually the sealer itself; its slot must not always come first.
    first_org, second_org = ORGS[0], ORGS[1]
    positions = set()
    for _ in range(64):  # all 64 in list order by chance: probability 2**-64
        box, slots = seal(b"v", [first_org.public_key, second_org.public_key])
        for position, slot in enumerate(slots):
            try:
                open_sealed(box, (slot,), first_org)
            except SealedError:
                continue
            positions.add(position)
    assert positions == {0, 1}
