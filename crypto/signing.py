"""Ed25519 identities and domain-separated signatures (PyNaCl / libsodium).

Every signature aidnode makes is over ``domain + message`` where ``domain`` is a fixed byte
string ending in NUL (for example ``b"aidnode/v1\\0"`` for events). A signature made for one
purpose therefore never verifies for another (events, peer requests, delegation proofs).
"""

from __future__ import annotations

import hashlib
import os

import nacl.bindings
import nacl.exceptions
import nacl.signing

from crypto.errors import KeyMaterialError, SignatureError

__all__ = [
    "KEY_BYTES",
    "SEED_BYTES",
    "SIGNATURE_BYTES",
    "SigningIdentity",
    "key_digest",
    "verify",
]

KEY_BYTES = 32
SEED_BYTES = 32
SIGNATURE_BYTES = 64

_NEXT_KEY_DOMAIN = b"aidnode/v1/next-key\0"


def _check_domain(domain: bytes) -> None:
    if not domain or not domain.endswith(b"\0") or b"\0" in domain[:-1]:
        raise ValueError("a signing domain is a non-empty byte string with one NUL, at its end")


class SigningIdentity:
    """An Ed25519 key pair. The seed stays in memory only; see :mod:`crypto.keyfile` for disk."""

    __slots__ = ("_signing_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise KeyMaterialError(f"an Ed25519 seed is {SEED_BYTES} bytes, got {len(seed)}")
        self._signing_key = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._signing_key.verify_key)

    @classmethod
    def generate(cls) -> SigningIdentity:
        """A fresh identity from the operating system's CSPRNG."""
        return cls(os.urandom(SEED_BYTES))

    @property
    def seed(self) -> bytes:
        """The 32-byte secret seed. Handle with care: never log or write it in plaintext."""
        return bytes(self._signing_key)

    def sign(self, domain: bytes, message: bytes) -> bytes:
        """The 64-byte signature of ``domain + message``."""
        _check_domain(domain)
        return bytes(self._signing_key.sign(domain + message).signature)

    def x25519_private_key(self) -> bytes:
        """This identity's X25519 secret (birationally mapped from Ed25519), for sealed fields."""
        return bytes(self._signing_key.to_curve25519_private_key())

    def __repr__(self) -> str:
        return f"SigningIdentity(public_key={self.public_key.hex()[:16]}…)"


def verify(public_key: bytes, domain: bytes, message: bytes, signature: bytes) -> None:
    """Check ``signature`` over ``domain + message`` by ``public_key``.

    Returns None on success. Raises :class:`SignatureError` for every kind of failure,
    including malformed keys and signatures of the wrong length.
    """
    _check_domain(domain)
    if len(public_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise SignatureError("malformed key or signature")
    try:
        # crypto_sign_open works on the combined form; it releases the GIL (cffi), so batches
        # can be verified on several threads at once.
        nacl.bindings.crypto_sign_open(signature + domain + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise SignatureError("signature does not verify") from exc


def key_digest(public_key: bytes) -> bytes:
    """The 32-byte commitment to a *next* key used by pre-rotation (``incept``/``rotate``).

    BLAKE2b-256 over a domain tag and the key, so the digest reveals nothing usable until the
    key itself is published.
    """
    if len(public_key) != KEY_BYTES:
        raise KeyMaterialError(f"a public key is {KEY_BYTES} bytes, got {len(public_key)}")
    return hashlib.blake2b(_NEXT_KEY_DOMAIN + public_key, digest_size=32).digest()
