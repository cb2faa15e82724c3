"""Keys, signatures, sealed fields and key files. The bottom layer: imports no other package."""

from crypto.errors import (
    AidError,
    KeyFileCorruptError,
    KeyMaterialError,
    SealedError,
    SignatureError,
    WrongPassphraseError,
)
from crypto.keybundle import KeyBundle
from crypto.keyfile import (
    DEFAULT_KDF_PARAMS,
    KdfParams,
    KeyFileInfo,
    KeyFileRole,
    export_next_key,
    import_next_key,
    key_file_info,
    read_key_file,
    write_key_file,
)
from crypto.keys import decode_key, encode_key, fingerprint
from crypto.sealed import MAX_RECIPIENTS, MAX_SEALED_BYTES, SEALED_SLOT_BYTES, open_sealed, seal
from crypto.signing import SigningIdentity, key_digest, verify

__all__ = [
    "DEFAULT_KDF_PARAMS",
    "MAX_RECIPIENTS",
    "MAX_SEALED_BYTES",
    "SEALED_SLOT_BYTES",
    "AidError",
    "KdfParams",
    "KeyBundle",
    "KeyFileCorruptError",
    "KeyFileInfo",
    "KeyFileRole",
    "KeyMaterialError",
    "SealedError",
    "SignatureError",
    "SigningIdentity",
    "WrongPassphraseError",
    "decode_key",
    "encode_key",
    "export_next_key",
    "fingerprint",
    "import_next_key",
    "key_digest",
    "key_file_info",
    "open_sealed",
    "read_key_file",
    "seal",
    "verify",
    "write_key_file",
]
