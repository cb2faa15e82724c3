"""The root of aidnode's error tree, and the errors of the crypto layer.

crypto/ is the bottom layer (protocol/, sync/ and node/ all build on it), so the common base
class lives here. Every error aidnode raises on purpose is an :class:`AidError`; the boundaries
(HTTP handlers, the CLI) translate them once into a status or exit code and a message.

    AidError
    ├── SignatureError        any way a signature can fail to verify (crypto)
    ├── KeyMaterialError      key material or key-file problems (crypto)
    │   ├── WrongPassphraseError
    │   └── KeyFileCorruptError
    ├── SealedError           a sealed field cannot be opened by this key (crypto)
    ├── ProtocolError         an event or wire message breaks the protocol (protocol, has .code)
    ├── StorageError          the node's database cannot be used (node)
    └── PeerError             a peer misbehaved or could not be reached (node)
"""

from __future__ import annotations

__all__ = [
    "AidError",
    "KeyFileCorruptError",
    "KeyMaterialError",
    "SealedError",
    "SignatureError",
    "WrongPassphraseError",
]


class AidError(Exception):
    """Base class of every error aidnode raises on purpose."""


class SignatureError(AidError):
    """A signature did not verify: wrong key, wrong message, wrong domain or malformed bytes.

    One type for every failure, as in matrix-signedjson: callers never need to tell the ways
    apart, and an attacker learns nothing from which one it was.
    """


class KeyMaterialError(AidError):
    """Key bytes or a key file cannot be used (wrong length, bad encoding, unreadable file)."""


class WrongPassphraseError(KeyMaterialError):
    """The passphrase does not open this key file."""


class KeyFileCorruptError(KeyMaterialError):
    """The key file was altered or damaged: its checksum or authentication tag does not match."""


class SealedError(AidError):
    """A sealed field is malformed or none of its recipient slots opens with the given key."""
