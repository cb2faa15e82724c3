"""How public keys are written for people and for configuration files.

* :func:`fingerprint` — what operators read aloud and compare on the phone: 80 bits of the
  key's BLAKE2b hash in Crockford base32 (no I, L, O, U), four groups of four characters,
  e.g. ``7K2M-9QXA-3F0D-ZB8E``. Short enough to compare, long enough that nobody can grind a
  look-alike (2^80 work).
* :func:`encode_key` / :func:`decode_key` — the full key for configs and commands: ``aid1``
  followed by Crockford base32 of the 32 key bytes and a 6-character BCH check code, the code
  of bech32m (BIP-350) over our own alphabet and prefix. It *guarantees* that any 1 to 4
  mistyped characters are refused (a hash checksum only makes it likely), so a typo never
  silently points at somebody else's key.
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
_HRP = "aid"
_CHECK_CHARS = 6
_KEY_CHARS = 52  # 256 bits in 5-bit symbols, 4 zero bits of padding
# The BCH generator and final constant of bech32m (BIP-173 §checksum, BIP-350).
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32M = 0x2BC830A3


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


def _polymod(symbols: list[int]) -> int:
    check = 1
    for symbol in symbols:
        top = check >> 25
        check = ((check & 0x1FFFFFF) << 5) ^ symbol
        for i, generator in enumerate(_GENERATOR):
            if (top >> i) & 1:
                check ^= generator
    return check


def _prefix_symbols() -> list[int]:
    return [ord(c) >> 5 for c in _HRP] + [0] + [ord(c) & 31 for c in _HRP]


def _check_symbols(data: list[int]) -> list[int]:
    value = _polymod(_prefix_symbols() + data + [0] * _CHECK_CHARS) ^ _BECH32M
    return [(value >> 5 * (_CHECK_CHARS - 1 - i)) & 31 for i in range(_CHECK_CHARS)]


def fingerprint(public_key: bytes) -> str:
    """The short, grouped, human-comparable fingerprint of a public key."""
    if len(public_key) != KEY_BYTES:
        raise KeyMaterialError(f"a public key is {KEY_BYTES} bytes, got {len(public_key)}")
    digest = hashlib.blake2b(b"aidnode/v1/fingerprint\0" + public_key, digest_size=10).digest()
    text = _b32(digest)
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def encode_key(public_key: bytes) -> str:
    """The full, check-coded text form of a public key (``aid1…``, 62 characters)."""
    if len(public_key) != KEY_BYTES:
        raise KeyMaterialError(f"a public key is {KEY_BYTES} bytes, got {len(public_key)}")
    body = _b32(public_key)
    check = _check_symbols([_DECODE[c] for c in body])
    return _PREFIX + (body + "".join(_ALPHABET[v] for v in check)).lower()


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
    body = text[len(_PREFIX) :].upper()
    if len(body) != _KEY_CHARS + _CHECK_CHARS:
        raise KeyMaterialError("not a key: wrong length (truncated or extra characters?)")
    try:
        symbols = [_DECODE[c] for c in body]
    except KeyError as exc:
        raise KeyMaterialError(f"not a key: character {exc.args[0]!r} is not allowed") from None
    if _polymod(_prefix_symbols() + symbols) != _BECH32M:
        raise KeyMaterialError("not a key: check code mismatch (a typo?)")
    canonical = "".join(_ALPHABET[v] for v in symbols[:_KEY_CHARS])
    try:
        key = _unb32(canonical, KEY_BYTES)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"not a key: {exc}") from None
    return key
