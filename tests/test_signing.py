"""crypto.signing: Ed25519 identities, domain-separated signatures, next-key digests."""

from __future__ import annotations

import nacl.bindings
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crypto.errors import KeyMaterialError, SignatureError
from crypto.signing import (
    KEY_BYTES,
    SEED_BYTES,
    SIGNATURE_BYTES,
    SigningIdentity,
    key_digest,
    verify,
)

EVENTS = b"aidnode/v1\0"
REQUESTS = b"aidnode/v1/request\0"

seeds = st.binary(min_size=SEED_BYTES, max_size=SEED_BYTES)
messages = st.binary(max_size=512)


@pytest.fixture
def alice() -> SigningIdentity:
    return SigningIdentity(bytes(range(32)))


@pytest.fixture
def bob() -> SigningIdentity:
    return SigningIdentity(bytes(range(32, 64)))


@given(seed=seeds, message=messages)
def test_a_signature_verifies_for_its_key_domain_and_message(seed: bytes, message: bytes) -> None:
    identity = SigningIdentity(seed)
    signature = identity.sign(EVENTS, message)
    assert len(signature) == SIGNATURE_BYTES
    verify(identity.public_key, EVENTS, message, signature)


@given(seed=seeds, message=messages)
def test_a_signature_for_one_domain_fails_for_another(seed: bytes, message: bytes) -> None:
    identity = SigningIdentity(seed)
    signature = identity.sign(EVENTS, message)
    with pytest.raises(SignatureError):
        verify(identity.public_key, REQUESTS, message, signature)


@given(message=messages, other=messages)
def test_a_signature_does_not_verify_for_another_message(message: bytes, other: bytes) -> None:
    identity = SigningIdentity(b"\x07" * SEED_BYTES)
    assume(other != message)
    signature = identity.sign(EVENTS, message)
    with pytest.raises(SignatureError):
        verify(identity.public_key, EVENTS, other, signature)


def test_a_signature_does_not_verify_for_another_key(
    alice: SigningIdentity, bob: SigningIdentity
) -> None:
    signature = alice.sign(EVENTS, b"need")
    with pytest.raises(SignatureError):
        verify(bob.public_key, EVENTS, b"need", signature)


@given(position=st.integers(0, SIGNATURE_BYTES - 1), bit=st.integers(0, 7))
def test_any_flipped_signature_bit_is_refused(position: int, bit: int) -> None:
    identity = SigningIdentity(b"\x01" * SEED_BYTES)
    signature = bytearray(identity.sign(EVENTS, b"offer"))
    signature[position] ^= 1 << bit
    with pytest.raises(SignatureError):
        verify(identity.public_key, EVENTS, b"offer", bytes(signature))


@pytest.mark.parametrize(
    ("key_length", "signature_length"),
    [(31, 64), (33, 64), (0, 64), (32, 63), (32, 65), (32, 0)],
)
def test_malformed_lengths_raise_signature_error(
    alice: SigningIdentity, key_length: int, signature_length: int
) -> None:
    signature = alice.sign(EVENTS, b"m")
    key = (alice.public_key * 2)[:key_length]
    sig = (signature * 2)[:signature_length]
    with pytest.raises(SignatureError):
        verify(key, EVENTS, b"m", sig)


@pytest.mark.parametrize(
    "bad_key",
    [
        bytes(KEY_BYTES),  # the identity point: a small-order key libsodium refuses
        b"\xff" * KEY_BYTES,  # not a canonical field element
    ],
)
def test_invalid_curve_points_raise_signature_error(alice: SigningIdentity, bad_key: bytes) -> None:
    with pytest.raises(SignatureError):
        verify(bad_key, EVENTS, b"m", alice.sign(EVENTS, b"m"))


@pytest.mark.parametrize("domain", [b"", b"no-terminator", b"two\0nuls\0"])
def test_a_malformed_domain_is_a_programming_error(alice: SigningIdentity, domain: bytes) -> None:
    with pytest.raises(ValueError, match="domain"):
        alice.sign(domain, b"m")
    with pytest.raises(ValueError, match="domain"):
        verify(alice.public_key, domain, b"m", bytes(SIGNATURE_BYTES))


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_a_seed_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(KeyMaterialError, match="seed"):
        SigningIdentity(b"\x01" * length)


@given(seed=seeds)
def test_the_seed_round_trips_and_fixes_the_public_key(seed: bytes) -> None:
    identity = SigningIdentity(seed)
    assert identity.seed == seed
    assert SigningIdentity(identity.seed).public_key == identity.public_key
    assert len(identity.public_key) == KEY_BYTES


def test_generated_identities_differ() -> None:
    assert SigningIdentity.generate().public_key != SigningIdentity.generate().public_key


def test_repr_shows_the_public_key_and_never_the_seed(alice: SigningIdentity) -> None:
    text = repr(alice)
    assert alice.public_key.hex()[:16] in text
    assert alice.seed.hex()[:8] not in text


def test_the_x25519_key_is_libsodiums_conversion_of_the_ed25519_key(
    alice: SigningIdentity,
) -> None:
    # Sealed fields rely on this: a sender converts the public half, the recipient the secret.
    secret = alice.x25519_private_key()
    public = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(alice.public_key)
    assert nacl.bindings.crypto_scalarmult_base(secret) == public


@given(seed=seeds)
def test_key_digest_is_a_fixed_size_commitment_distinct_from_the_key(seed: bytes) -> None:
    public_key = SigningIdentity(seed).public_key
    digest = key_digest(public_key)
    assert len(digest) == 32
    assert digest == key_digest(public_key)
    assert digest != public_key


def test_key_digests_of_different_keys_differ(alice: SigningIdentity, bob: SigningIdentity) -> None:
    assert key_digest(alice.public_key) != key_digest(bob.public_key)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_key_digest_refuses_a_key_of_the_wrong_length(length: int) -> None:
    with pytest.raises(KeyMaterialError):
        key_digest(b"\x02" * length)
