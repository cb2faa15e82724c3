"""Keys, signatures, sealed fields and key files. The bottom layer: imports no other package."""

from crypto.errors import (
    AidError,
    KeyFileCorruptError,
    KeyMaterialError,
    SealedError,
    SignatureError,
    WrongPassphraseError,
)
from crypto.keys import decode_key, encode_key, fingerprint
from crypto.signing import SigningIdentity, key_digest, verify

__all__ = [
    "AidError",
    "KeyFileCorruptError",
    "KeyMaterialError",
    "SealedError",
    "SignatureError",
    "SigningIdentity",
    "WrongPassphraseError",
    "decode_key",
    "encode_key",
    "fingerprint",
    "key_digest",
    "verify",
]
