"""A node's secret keys on disk, encrypted at rest (DESIGN §7; format in docs/crypto.md).

A key file is a small JSON document. An *identity* file holds a
:class:`~crypto.keybundle.KeyBundle`: the org's current Ed25519 seed, optionally its next seed
(pre-rotation, DESIGN §4) and a few named extra seeds such as ``"node"``, the node's transport
key. A *next-key* file holds one exported next seed, to be kept offline. Seeds are encrypted
with XSalsa20-Poly1305 (secretbox) under a key derived from a passphrase by Argon2id; the KDF
parameters and salt are stored in the file, so they can be raised later. Public facts (the
current key, the *digest* of the next key, the extra keys) are kept in clear so that
:func:`key_file_info` can show them without the passphrase. The next public key itself is not:
pre-rotation keeps it unpublished until the ``rotate`` event reveals it.

How failures are told apart, cheapest check first:

1. The file cannot be read, is too large or is not JSON → :class:`KeyMaterialError` naming the
   path and the cause. A JSON document that is not an aidnode key file, or of a version this
   code does not read, also raises :class:`KeyMaterialError`.
2. An *unkeyed* checksum (BLAKE2b-128 over the canonical JSON of every other field) does not
   match → :class:`KeyFileCorruptError`. It catches accidental damage (a truncated copy, a
   flipped bit, a hand edit) before any expensive work, and catches it in the KDF parameters
   too, where damage would otherwise look like a wrong passphrase. Reformatting the JSON does
   not change it. It is no defence against someone who rewrites the file on purpose.
3. A *keyed* check value, derived from the Argon2id output, does not match
   → :class:`WrongPassphraseError`. Without it a wrong passphrase and a damaged ciphertext
   would fail the same way (the secretbox tag).
4. The passphrase is right but the secretbox tag fails, or the clear public part does not
   match the seeds inside → :class:`KeyFileCorruptError`: the file was tampered with.

The check value lets an attacker who has the file test guesses without decrypting, which the
ciphertext tag allows anyway, at the same Argon2id cost per guess.

Unencrypted files (passphrase ``None``) exist for demos and tests. They say so in a
``"warning"`` field, and reading one with a passphrase is refused, so a key file swapped for
an unencrypted one holding an attacker's seed is not silently accepted.

Writes are atomic: the document goes to a temporary file created with mode 0600 in the same
directory, is fsynced, then renamed (or hard-linked, when the target must not exist) into place.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import nacl.bindings
import nacl.exceptions
from nacl.pwhash import argon2id

from crypto.errors import KeyFileCorruptError, KeyMaterialError, WrongPassphraseError
from crypto.keybundle import (
    EXTRA_NAME_PATTERN,
    MAX_EXTRA_SEEDS,
    KeyBundle,
    public_key_of_seed,
)
from crypto.keys import decode_key, encode_key, fingerprint
from crypto.private_file import write_private_file
from crypto.signing import KEY_BYTES, SEED_BYTES, key_digest

__all__ = [
    "DEFAULT_KDF_PARAMS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "UNENCRYPTED_WARNING",
    "KdfParams",
    "KeyFileInfo",
    "KeyFileRole",
    "export_next_key",
    "import_next_key",
    "key_file_info",
    "read_key_file",
    "write_key_file",
]

FORMAT_NAME = "aidnode-keyfile"
FORMAT_VERSION = 1
UNENCRYPTED_WARNING = (
    "UNENCRYPTED: anyone who can read this file can act as this organisation. "
    "For demos and tests only."
)
# Ceilings on stored KDF costs, so a damaged or hostile file cannot make the node burn hours
# or all its memory. libsodium's SENSITIVE level (4 passes, 1 GiB) is well inside them.
MAX_OPSLIMIT = 32
MAX_MEMLIMIT = 4 * 1024**3

_MAX_FILE_BYTES = 64 * 1024  # a real key file is under 2 KiB
_SALT_BYTES = argon2id.SALTBYTES
_NONCE_BYTES = 24  # crypto_secretbox_NONCEBYTES
_CHECKSUM_BYTES = 16
_CHECK_BYTES = 32
_KDF_NAME = "argon2id"
_CHECKSUM_DOMAIN = b"aidnode/v1/keyfile-checksum\0"
_CIPHER_KEY_DOMAIN = b"aidnode/v1/keyfile-cipher-key"
_CHECK_DOMAIN = b"aidnode/v1/keyfile-check"


@dataclass(frozen=True, slots=True, kw_only=True)
class KdfParams:
    """Argon2id cost. The default is libsodium's MODERATE: 3 passes over 256 MiB.

    Raises :class:`KeyMaterialError` outside libsodium's minimum (1 pass, 8 KiB) and this
    module's ceilings (:data:`MAX_OPSLIMIT`, :data:`MAX_MEMLIMIT`).
    """

    opslimit: int = argon2id.OPSLIMIT_MODERATE
    memlimit: int = argon2id.MEMLIMIT_MODERATE

    def __post_init__(self) -> None:
        ops, mem = self.opslimit, self.memlimit
        if type(ops) is not int or not argon2id.OPSLIMIT_MIN <= ops <= MAX_OPSLIMIT:
            raise KeyMaterialError(f"opslimit must be {argon2id.OPSLIMIT_MIN} … {MAX_OPSLIMIT}")
        if type(mem) is not int or not argon2id.MEMLIMIT_MIN <= mem <= MAX_MEMLIMIT:
            raise KeyMaterialError(f"memlimit must be {argon2id.MEMLIMIT_MIN} … {MAX_MEMLIMIT}")


DEFAULT_KDF_PARAMS = KdfParams()


class KeyFileRole(StrEnum):
    """What a key file holds (its ``"role"`` field)."""

    IDENTITY = "identity"  # a node's KeyBundle
    NEXT_KEY = "next-key"  # one exported next seed, for keeping offline


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyFileInfo:
    """What a key file says about itself in clear, readable without the passphrase.

    Only the checksum vouches for it until :func:`read_key_file` has compared it with the
    seeds inside. ``current_public_key`` is None in a next-key file; ``kdf`` is None in an
    unencrypted file; ``next_seed_stored`` tells whether the next seed is in this file or
    was moved offline.
    """

    path: Path
    role: KeyFileRole
    encrypted: bool
    kdf: KdfParams | None
    current_public_key: bytes | None
    next_key_digest: bytes | None
    next_seed_stored: bool
    extra_public_keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if (self.current_public_key is None) != (self.role is KeyFileRole.NEXT_KEY):
            raise KeyMaterialError("only an identity key file has a current key")
        if (self.kdf is None) == self.encrypted:
            raise KeyMaterialError("an encrypted key file has KDF parameters, no other does")
        object.__setattr__(
            self, "extra_public_keys", MappingProxyType(dict(self.extra_public_keys))
        )

    @property
    def current_fingerprint(self) -> str | None:
        """The current key's fingerprint (:func:`crypto.keys.fingerprint`), if there is one."""
        return None if self.current_public_key is None else fingerprint(self.current_public_key)


# --- the document -------------------------------------------------------------------------


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _checksum(document: Mapping[str, Any]) -> str:
    rest = {name: value for name, value in document.items() if name != "checksum"}
    digest = hashlib.blake2b(
        _CHECKSUM_DOMAIN + _canonical_json(rest), digest_size=_CHECKSUM_BYTES
    ).digest()
    return digest.hex()


@dataclass(frozen=True, slots=True)
class _FileKeys:
    cipher_key: bytes = field(repr=False)
    check: bytes = field(repr=False)


def _derive_file_keys(passphrase: str, salt: bytes, params: KdfParams) -> _FileKeys:
    # NFC: the same passphrase typed on different systems can arrive in different Unicode forms.
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    try:
        master = argon2id.kdf(32, secret, salt, opslimit=params.opslimit, memlimit=params.memlimit)
    except nacl.exceptions.CryptoError as exc:
        raise KeyMaterialError(f"cannot derive the key file's key: {exc}") from exc
    # Two independent keys from one Argon2id run: keyed BLAKE2b is a PRF.
    return _FileKeys(
        cipher_key=hashlib.blake2b(_CIPHER_KEY_DOMAIN, key=master, digest_size=32).digest(),
        check=hashlib.blake2b(_CHECK_DOMAIN, key=master, digest_size=_CHECK_BYTES).digest(),
    )


def _check_passphrase(passphrase: str | None) -> None:
    if passphrase is not None and (not isinstance(passphrase, str) or not passphrase):
        raise KeyMaterialError("a passphrase is a non-empty string (None means unencrypted)")


def _document(
    role: KeyFileRole,
    public: dict[str, Any],
    secret: dict[str, Any],
    passphrase: str | None,
    params: KdfParams,
) -> bytes:
    document: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    document["role"] = role.value
    if passphrase is None:
        document["encrypted"] = False
        document["warning"] = UNENCRYPTED_WARNING
        document["public"] = public
        document["secret"] = secret
    else:
        salt = os.urandom(_SALT_BYTES)
        keys = _derive_file_keys(passphrase, salt, params)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = nacl.bindings.crypto_secretbox(_canonical_json(secret), nonce, keys.cipher_key)
        document["encrypted"] = True
        document["public"] = public
        document["kdf"] = {
            "algorithm": _KDF_NAME,
            "opslimit": params.opslimit,
            "memlimit": params.memlimit,
            "salt": salt.hex(),
        }
        document["check"] = keys.check.hex()
        document["secretbox"] = {"nonce": nonce.hex(), "ciphertext": bytes(ciphertext).hex()}
    document["checksum"] = _checksum(document)
    return (json.dumps(document, indent=2) + "\n").encode("ascii")


def _bundle_public(bundle: KeyBundle) -> dict[str, Any]:
    current = public_key_of_seed(bundle.current_seed)
    digest = bundle.next_key_digest
    return {
        "current_key": encode_key(current),
        "current_fingerprint": fingerprint(current),
        "next_key_digest": None if digest is None else digest.hex(),
        "next_seed_stored": bundle.next_seed is not None,
        "extra_keys": {
            name: encode_key(public_key_of_seed(s)) for name, s in bundle.extra_seeds.items()
        },
    }


def _bundle_secret(bundle: KeyBundle) -> dict[str, Any]:
    return {
        "current_seed": bundle.current_seed.hex(),
        "next_seed": None if bundle.next_seed is None else bundle.next_seed.hex(),
        "extra_seeds": {name: seed.hex() for name, seed in bundle.extra_seeds.items()},
    }


def _next_key_public(seed: bytes) -> dict[str, Any]:
    return {"next_key_digest": key_digest(public_key_of_seed(seed)).hex()}


def _next_key_secret(seed: bytes) -> dict[str, Any]:
    return {"next_seed": seed.hex()}


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _LoadedFile:
    info: KeyFileInfo
    public: dict[str, Any]  # as found, to compare with what the seeds inside imply
    salt: bytes = b""
    check: bytes = b""
    nonce: bytes = b""
    ciphertext: bytes = b""
    secret: Any = None  # the clear secret object of an unencrypted file


def _corrupt(path: Path, detail: str) -> KeyFileCorruptError:
    return KeyFileCorruptError(f"key file {path} is damaged or was altered: {detail}")


class _DuplicateFieldError(ValueError):
    pass


def _refuse_duplicate_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers could otherwise disagree on which of two same-named fields counts.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateFieldError("a field appears twice")
    return result


def _parse_json(path: Path, raw: bytes) -> Any:
    """Parse JSON. Duplicate fields are corruption; other errors are left to the caller."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_refuse_duplicate_fields)
    except _DuplicateFieldError as exc:
        raise _corrupt(path, str(exc)) from exc


def _object(path: Path, value: Any, where: str, names: Iterable[str]) -> dict[str, Any]:
    expected = set(names)
    if not isinstance(value, dict) or set(value) != expected:
        raise _corrupt(path, f"{where} must be an object with exactly {sorted(expected)}")
    return value


def _hex(path: Path, value: Any, where: str, size: int | None = None) -> bytes:
    # Lower-case hex without separators only, so each value has one spelling.
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or raw.hex() != value or (size is not None and len(raw) != size):
        length = "" if size is None else f" of {size} bytes"
        raise _corrupt(path, f"{where} must be lower-case hex{length}")
    return raw


def _public_key_field(path: Path, value: Any, where: str) -> bytes:
    try:
        key = decode_key(value) if isinstance(value, str) else None
    except KeyMaterialError:
        key = None
    if key is None or encode_key(key) != value:
        raise _corrupt(path, f"{where} must be a key in its aid1… form")
    return key


def _parse_identity_public(path: Path, public: Any) -> dict[str, Any]:
    names = ("current_key", "current_fingerprint", "next_key_digest", "next_seed_stored")
    public = _object(path, public, "public", (*names, "extra_keys"))
    current = _public_key_field(path, public["current_key"], "public.current_key")
    if public["current_fingerprint"] != fingerprint(current):
        raise _corrupt(path, "public.current_fingerprint does not match public.current_key")
    digest = public["next_key_digest"]
    if digest is not None:
        digest = _hex(path, digest, "public.next_key_digest", KEY_BYTES)
    stored = public["next_seed_stored"]
    if not isinstance(stored, bool) or (stored and digest is None):
        raise _corrupt(path, "public.next_seed_stored must be a boolean, true only with a digest")
    extras = public["extra_keys"]
    if not isinstance(extras, dict) or len(extras) > MAX_EXTRA_SEEDS:
        raise _corrupt(path, f"public.extra_keys must be an object of ≤ {MAX_EXTRA_SEEDS} keys")
    extra_keys = {}
    for name, text in extras.items():
        if not EXTRA_NAME_PATTERN.fullmatch(name):
            raise _corrupt(path, f"public.extra_keys has a bad name {name!r}")
        extra_keys[name] = _public_key_field(path, text, f"public.extra_keys.{name}")
    return {
        "current_public_key": current,
        "next_key_digest": digest,
        "next_seed_stored": stored,
        "extra_public_keys": extra_keys,
    }


def _parse_next_key_public(path: Path, public: Any) -> dict[str, Any]:
    public = _object(path, public, "public", ("next_key_digest",))
    return {
        "current_public_key": None,
        "next_key_digest": _hex(path, public["next_key_digest"], "next_key_digest", KEY_BYTES),
        "next_seed_stored": True,
        "extra_public_keys": {},
    }


def _parse_kdf(path: Path, kdf: Any) -> tuple[KdfParams, bytes]:
    kdf = _object(path, kdf, "kdf", ("algorithm", "opslimit", "memlimit", "salt"))
    if kdf["algorithm"] != _KDF_NAME:
        raise _corrupt(path, f"kdf.algorithm must be {_KDF_NAME!r}")
    try:
        params = KdfParams(opslimit=kdf["opslimit"], memlimit=kdf["memlimit"])
    except KeyMaterialError as exc:
        raise _corrupt(path, f"kdf: {exc}") from None
    return params, _hex(path, kdf["salt"], "kdf.salt", _SALT_BYTES)


def _load(path: Path) -> _LoadedFile:
    """Read and check everything that needs no passphrase: steps 1 and 2 of the module doc."""
    try:
        with path.open("rb") as file:
            raw = file.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyMaterialError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    if len(raw) > _MAX_FILE_BYTES:
        raise KeyMaterialError(f"{path} is not a key file: larger than {_MAX_FILE_BYTES} bytes")
    try:
        document = _parse_json(path, raw)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, absurd numbers or nesting
        raise KeyMaterialError(f"key file {path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise KeyMaterialError(f"{path} is not an aidnode key file")
    if document.get("version") != FORMAT_VERSION:
        raise KeyMaterialError(
            f"key file {path} has version {document.get('version')!r}; "
            f"this aidnode reads version {FORMAT_VERSION}"
        )
    if document.get("checksum") != _checksum(document):
        raise _corrupt(path, "its checksum does not match (truncated, damaged or edited?)")

    encrypted = document.get("encrypted")
    if not isinstance(encrypted, bool):
        raise _corrupt(path, "encrypted must be true or false")
    own = ("kdf", "check", "secretbox") if encrypted else ("warning", "secret")
    common = ("format", "version", "role", "encrypted", "public", "checksum")
    _object(path, document, "the document", (*common, *own))
    try:
        role = KeyFileRole(document["role"])
    except ValueError:
        raise _corrupt(path, f"role must be one of {[r.value for r in KeyFileRole]}") from None
    parse_public = (
        _parse_identity_public if role is KeyFileRole.IDENTITY else _parse_next_key_public
    )
    public_facts = parse_public(path, document["public"])

    if not encrypted:
        if not isinstance(document["warning"], str):
            raise _corrupt(path, "warning must be text")
        info = KeyFileInfo(path=path, role=role, encrypted=False, kdf=None, **public_facts)
        return _LoadedFile(info=info, public=document["public"], secret=document["secret"])
    params, salt = _parse_kdf(path, document["kdf"])
    box = _object(path, document["secretbox"], "secretbox", ("nonce", "ciphertext"))
    info = KeyFileInfo(path=path, role=role, encrypted=True, kdf=params, **public_facts)
    return _LoadedFile(
        info=info,
        public=document["public"],
        salt=salt,
        check=_hex(path, document["check"], "check", _CHECK_BYTES),
        nonce=_hex(path, box["nonce"], "secretbox.nonce", _NONCE_BYTES),
        ciphertext=_hex(path, box["ciphertext"], "secretbox.ciphertext"),
    )


def _secret(loaded: _LoadedFile, passphrase: str | None) -> Any:
    """The secret object: steps 3 and 4 of the module doc for encrypted files."""
    path = loaded.info.path
    if not loaded.info.encrypted:
        if passphrase is not None:
            raise KeyMaterialError(
                f"key file {path} is UNENCRYPTED but a passphrase was given: refusing, in case "
                "it was swapped for a file holding someone else's keys"
            )
        return loaded.secret
    if passphrase is None:
        raise KeyMaterialError(f"key file {path} is encrypted: a passphrase is needed")
    assert loaded.info.kdf is not None  # encrypted files always carry KDF parameters
    keys = _derive_file_keys(passphrase, loaded.salt, loaded.info.kdf)
    if not hmac.compare_digest(keys.check, loaded.check):
        raise WrongPassphraseError(f"wrong passphrase for key file {path}")
    try:
        plaintext = nacl.bindings.crypto_secretbox_open(
            loaded.ciphertext, loaded.nonce, keys.cipher_key
        )
    except nacl.exceptions.CryptoError as exc:
        raise _corrupt(path, "the passphrase is right but the encrypted part fails") from exc
    try:
        return _parse_json(path, bytes(plaintext))
    except (ValueError, RecursionError) as exc:
        raise _corrupt(path, "the decrypted part is not JSON") from exc


def _bundle_from(loaded: _LoadedFile, secret: Any) -> KeyBundle:
    path = loaded.info.path
    secret = _object(path, secret, "secret", ("current_seed", "next_seed", "extra_seeds"))
    extras = secret["extra_seeds"]
    if not isinstance(extras, dict):
        raise _corrupt(path, "secret.extra_seeds must be an object")
    next_seed = secret["next_seed"]
    current_seed = _hex(path, secret["current_seed"], "current_seed", SEED_BYTES)
    if next_seed is not None:
        next_seed = _hex(path, next_seed, "next_seed", SEED_BYTES)
    extra_seeds = {
        name: _hex(path, seed, f"extra_seeds.{name}", SEED_BYTES) for name, seed in extras.items()
    }
    try:
        bundle = KeyBundle(
            current_seed=current_seed,
            next_seed=next_seed,
            next_key_digest=loaded.info.next_key_digest,
            extra_seeds=extra_seeds,
        )
    except KeyMaterialError as exc:
        raise _corrupt(path, str(exc)) from None
    if _bundle_public(bundle) != loaded.public:
        raise _corrupt(path, "the public part does not match the keys inside")
    return bundle


def _next_seed_from(loaded: _LoadedFile, secret: Any) -> bytes:
    path = loaded.info.path
    secret = _object(path, secret, "secret", ("next_seed",))
    seed = _hex(path, secret["next_seed"], "next_seed", SEED_BYTES)
    if _next_key_public(seed) != loaded.public:
        raise _corrupt(path, "the public part does not match the key inside")
    return seed


# --- writing ------------------------------------------------------------------------------


def _refuse_existing(path: Path, overwrite: bool) -> None:
    # Checked before the slow KDF for a prompt answer; write_private_file re-checks atomically.
    if not overwrite and (path.exists() or path.is_symlink()):
        raise KeyMaterialError(
            f"{path} already exists: refusing to overwrite it (overwrite=True replaces it)"
        )


# --- public API ---------------------------------------------------------------------------


def write_key_file(
    path: str | os.PathLike[str],
    bundle: KeyBundle,
    passphrase: str | None,
    *,
    params: KdfParams = DEFAULT_KDF_PARAMS,
    overwrite: bool = False,
) -> None:
    """Write ``bundle`` to ``path``, encrypted under ``passphrase`` (None: UNENCRYPTED).

    Atomic, mode 0600, fsynced. Fresh salt and nonce on every write. ``params`` sets the
    Argon2id cost and is stored in the file (unused when unencrypted). Raises
    :class:`KeyMaterialError` if ``path`` exists and ``overwrite`` is false, if the passphrase
    is empty, or if writing fails (the previous file, if any, is then left as it was).
    """
    _check_passphrase(passphrase)
    target = Path(path)
    _refuse_existing(target, overwrite)
    document = _document(
        KeyFileRole.IDENTITY, _bundle_public(bundle), _bundle_secret(bundle), passphrase, params
    )
    write_private_file(target, document, overwrite=overwrite)


def read_key_file(path: str | os.PathLike[str], passphrase: str | None) -> KeyBundle:
    """The :class:`KeyBundle` in the identity key file at ``path``.

    ``passphrase`` must be None exactly when the file is unencrypted. Raises
    :class:`WrongPassphraseError`, :class:`KeyFileCorruptError`, or :class:`KeyMaterialError`
    (unreadable, not JSON, not a key file, an exported next key, encryption mismatch); the
    module docstring explains how they are told apart.
    """
    _check_passphrase(passphrase)
    loaded = _load(Path(path))
    if loaded.info.role is not KeyFileRole.IDENTITY:
        raise KeyMaterialError(f"{path} holds an exported next key only: use import_next_key")
    return _bundle_from(loaded, _secret(loaded, passphrase))


def key_file_info(path: str | os.PathLike[str]) -> KeyFileInfo:
    """What the key file at ``path`` says about itself, without the passphrase.

    Checks the format, version and checksum: raises :class:`KeyMaterialError` or
    :class:`KeyFileCorruptError` like :func:`read_key_file`, never :class:`WrongPassphraseError`.
    """
    return _load(Path(path)).info


def export_next_key(
    path: str | os.PathLike[str],
    bundle: KeyBundle,
    passphrase: str | None,
    *,
    params: KdfParams = DEFAULT_KDF_PARAMS,
    overwrite: bool = False,
) -> None:
    """Write ``bundle``'s next seed alone to a separate key file, for keeping offline.

    Same guarantees as :func:`write_key_file`. The bundle is not changed: once the export is
    safe, write ``bundle.without_next_seed()`` back to the main file to remove the seed there
    (its digest stays, so :func:`import_next_key` can check the seed when it returns). Raises
    :class:`KeyMaterialError` if the bundle holds no next seed.
    """
    _check_passphrase(passphrase)
    if bundle.next_seed is None:
        raise KeyMaterialError("the key bundle holds no next seed to export")
    target = Path(path)
    _refuse_existing(target, overwrite)
    document = _document(
        KeyFileRole.NEXT_KEY,
        _next_key_public(bundle.next_seed),
        _next_key_secret(bundle.next_seed),
        passphrase,
        params,
    )
    write_private_file(target, document, overwrite=overwrite)


def import_next_key(
    path: str | os.PathLike[str], passphrase: str | None, bundle: KeyBundle
) -> KeyBundle:
    """``bundle`` with the next seed read from the exported next-key file at ``path``.

    Raises what :func:`read_key_file` raises, and :class:`KeyMaterialError` if the file is not
    an exported next key or its seed is not the next key ``bundle`` has committed to.
    """
    _check_passphrase(passphrase)
    loaded = _load(Path(path))
    if loaded.info.role is not KeyFileRole.NEXT_KEY:
        raise KeyMaterialError(f"{path} is not an exported next key")
    return bundle.with_next_seed(_next_seed_from(loaded, _secret(loaded, passphrase)))
