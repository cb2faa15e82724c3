"""How public keys are written for people and for configuration files.

* :func:`fingerprint` — what operators read aloud and compare on the phone: 80 bits of the
  key's BLAKE2b hash in Crockford base32 (no I, L, O, U), four groups of four characters,
  e.g. ``7K2M-9QXA-3F0D-ZB8E``. Short enough to compare, long enough that nobody can grind a
  look-alike (2^80 work).
* :func:`encode_key` / :func:`decode_key` — the full key for configs and commands: ``aid1``
  followed by Crockford base32 of the 32 key bytes and a 2-byte checksum, so a mistyped or
  truncated key is refused instead of silently pointing at somebody else.
"""

from __future__ import annotations

import hashlib

from crypto.errors import KeyMaterialError
from crypto.signing import KEY_BYTES

__all__ = ["decode_key", "encode_key", "fingerprint"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
# Crockford's forgiving reads: the letters people confuse with digits.
_DECODE.update({"O": 0, "I": 1, "L": 1})
_PREFIX = "aid1"
_CHECKSUM_BYTES = 2


def _b32(data: bytes) -> str:
    bits = int.from_bytes(data, "big")
    nbits = len(data) * 8
    pad = (-nbits) % 5
    bits <<= pad
    chars = (nbits + pad) // 5
    return "".join(_ALPHABET[(bits >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def _unb32(text: str, nbytes: int) -> bytes:
    nbits = nbytes * 8
    pad = (-nbits) % 5
    if len(text) != (nbits + pad) // 5:
        raise KeyMaterialError("wrong length")
    value = 0
    for ch in text.upper():
        try:
            value = (value << 5) | _DECODE[ch]
        except KeyError:
            raise KeyMaterialError(f"character {ch!r} is not in the key alphabet") from None
    if value & ((1 << pad) - 1):
        raise KeyMaterialError("non-zero padding bits")
    return (value >> pad).to_bytes(nbytes, "big")


def _checksum(key: bytes) -> bytes:
    return hashlib.blake2b(b"aidnode/v1/key-checksum\0" + key, digest_size=_CHECKSUM_BYTES).digest()


def fingerprint(public_key: bytes) -> str:
    """The short, grouped, human-comparable fingerprint of a public key."""
    if len(public_key) != KEY_BYTES:
        raise KeyMaterialError(f"a public key is {KEY_BYTES} bytes, got {len(public_key)}")
    digest = hashlib.blake2b(b"aidnode/v1/fingerprint\0" + public_key, digest_size=10).digest()
    text = _b32(digest)
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def encode_key(public_key: bytes) -> str:
    """The full, checksummed text form of a public key (``aid1…``, 59 characters)."""
    if len(public_key) != KEY_BYTES:
        raise KeyMaterialError(f"a public key is {KEY_BYTES} bytes, got {len(public_key)}")
    return _PREFIX + _b32(public_key + _checksum(public_key)).lower()


def decode_key(text: str) -> bytes:
    """Parse :func:`encode_key`'s form, or 64 hex digits. Raises :class:`KeyMaterialError`."""
    text = text.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    if not text.lower().startswith(_PREFIX):
        raise KeyMaterialError(f"not a key: expected 'aid1…' or 64 hex digits, got {text[:12]!r}")
    try:
        raw = _unb32(text[len(_PREFIX) :], KEY_BYTES + _CHECKSUM_BYTES)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"not a key: {exc}") from None
    key, check = raw[:KEY_BYTES], raw[KEY_BYTES:]
    if _checksum(key) != check:
        raise KeyMaterialError("not a key: checksum mismatch (typo or truncated?)")
    return key
