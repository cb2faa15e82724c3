"""Sealed fields: a value that only chosen recipient orgs can read (DESIGN §7, docs/crypto.md).

Scheme, for a value of 1 … :data:`MAX_SEALED_VALUE_BYTES` bytes and 1 … :data:`MAX_RECIPIENTS`
recipient org keys (Ed25519 public keys):

* a fresh random 32-byte content key ``k``;
* ``box = nonce ‖ crypto_secretbox(value, nonce, k)`` (XSalsa20-Poly1305), where
  ``nonce = BLAKE2b-192(key=k, "aidnode/v1/sealed-nonce")``;
* one slot per recipient, ``crypto_box_seal(k, X25519(recipient))`` — exactly
  :data:`SEALED_SLOT_BYTES` (80) bytes: an ephemeral X25519 key, a tag and ``k``. The recipient's
  X25519 key is libsodium's birational map of its Ed25519 key, so orgs publish one key only.
* Slots carry no recipient label and are shuffled, so the field does not say who can read it;
  an opener tries each slot with its own key.

Why the nonce is derived from the content key rather than drawn at random: ``k`` is used once,
so any nonce is safe, and this one is indistinguishable from random to anyone without ``k``.
But it makes the box *commit* to its key. Poly1305 alone does not: a dishonest sealer could
craft one ciphertext that opens to different values under two keys and give each recipient a
different key. The opener checks the nonce, so every recipient reads the same value, or none.

What sealing protects:

* confidentiality of the value against everyone but the recipients, including the nodes that
  store and relay it;
* integrity: a changed box or slot is refused (:class:`~crypto.errors.SealedError`), never
  opened to a different value.

What it does not protect (callers must not rely on these):

* the *sender* is not authenticated: anybody can seal to anybody. Attribution comes from the
  signed event that carries the field, and the field is not bound to that event: anyone can
  copy a sealed field into an event of their own, and its recipients will read the original
  sender's value under the copier's name;
* the number of recipients is visible (one slot each), and so is the value's length
  (box = value + 40 bytes); pad the value if its length is telling;
* a recipient can re-seal the value to others or publish ``k``;
* no forward secrecy: whoever later obtains a recipient's org seed opens every value ever
  sealed to that key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence

import nacl.bindings
import nacl.exceptions

from crypto.errors import KeyMaterialError, SealedError
from crypto.signing import KEY_BYTES, SigningIdentity

__all__ = [
    "BOX_OVERHEAD_BYTES",
    "MAX_RECIPIENTS",
    "MAX_SEALED_BYTES",
    "MAX_SEALED_VALUE_BYTES",
    "SEALED_SLOT_BYTES",
    "open_sealed",
    "seal",
]

MAX_RECIPIENTS = 16
MAX_SEALED_BYTES = 8 * 1024  # the whole box: nonce, tag and ciphertext
_NONCE_BYTES = 24  # crypto_secretbox_NONCEBYTES
_TAG_BYTES = 16  # crypto_secretbox_MACBYTES
_CONTENT_KEY_BYTES = 32  # crypto_secretbox_KEYBYTES
BOX_OVERHEAD_BYTES = _NONCE_BYTES + _TAG_BYTES
MAX_SEALED_VALUE_BYTES = MAX_SEALED_BYTES - BOX_OVERHEAD_BYTES
SEALED_SLOT_BYTES = 48 + _CONTENT_KEY_BYTES  # crypto_box_SEALBYTES around the content key

_NONCE_DOMAIN = b"aidnode/v1/sealed-nonce"


def _nonce_for(content_key: bytes) -> bytes:
    # Keyed BLAKE2b is a PRF: the nonce reveals nothing of the key, yet pins it (see header).
    return hashlib.blake2b(_NONCE_DOMAIN, key=content_key, digest_size=_NONCE_BYTES).digest()


def _x25519_public_key(public_key: bytes, index: int) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != KEY_BYTES:
        raise KeyMaterialError(f"recipient {index} is not a {KEY_BYTES}-byte public key")
    try:
        return bytes(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(public_key))
    except nacl.exceptions.CryptoError as exc:
        # libsodium refuses points off the curve and of small order.
        raise KeyMaterialError(f"recipient {index} is not a usable Ed25519 public key") from exc


def seal(value: bytes, recipients: Sequence[bytes]) -> tuple[bytes, tuple[bytes, ...]]:
    """Encrypt ``value`` so that any one of ``recipients`` (Ed25519 public keys) can open it.

    Returns ``(box, slots)``: ``box`` is 41 … :data:`MAX_SEALED_BYTES` bytes, ``slots`` holds one
    :data:`SEALED_SLOT_BYTES`-byte slot per recipient in random order.

    Raises :class:`SealedError` if ``value`` is empty or longer than
    :data:`MAX_SEALED_VALUE_BYTES`, or if there are no recipients, more than
    :data:`MAX_RECIPIENTS`, or the same key twice; :class:`KeyMaterialError` if a recipient is
    not a valid Ed25519 public key.
    """
    if not isinstance(value, bytes) or not 1 <= len(value) <= MAX_SEALED_VALUE_BYTES:
        raise SealedError(f"a sealed value is 1 … {MAX_SEALED_VALUE_BYTES} bytes")
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise SealedError(f"a sealed value has 1 … {MAX_RECIPIENTS} recipients")
    if len(set(recipients)) != len(recipients):
        # A repeated key would only repeat a slot, and betray that the list was not checked.
        raise SealedError("the same recipient is listed twice")
    x25519_keys = [_x25519_public_key(key, index) for index, key in enumerate(recipients)]

    content_key = os.urandom(_CONTENT_KEY_BYTES)
    nonce = _nonce_for(content_key)
    box = nonce + bytes(nacl.bindings.crypto_secretbox(value, nonce, content_key))
    slots = [bytes(nacl.bindings.crypto_box_seal(content_key, key)) for key in x25519_keys]
    # Order would otherwise reveal the caller's list order (often: own org first).
    secrets.SystemRandom().shuffle(slots)
    return box, tuple(slots)


def open_sealed(box: bytes, slots: Sequence[bytes], identity: SigningIdentity) -> bytes:
    """The value sealed in ``box``, if one of ``slots`` was sealed to ``identity``.

    Raises :class:`SealedError` if the box or slots are malformed (sizes, counts), if no slot
    opens with ``identity`` (it is not a recipient), or if a slot opens but the box was altered
    or does not belong to that slot. Never returns a value other than the one sealed.
    """
    if not isinstance(box, bytes) or not BOX_OVERHEAD_BYTES < len(box) <= MAX_SEALED_BYTES:
        raise SealedError(f"a sealed box is {BOX_OVERHEAD_BYTES + 1} … {MAX_SEALED_BYTES} bytes")
    if not 1 <= len(slots) <= MAX_RECIPIENTS:
        raise SealedError(f"a sealed value has 1 … {MAX_RECIPIENTS} slots")
    if any(not isinstance(slot, bytes) or len(slot) != SEALED_SLOT_BYTES for slot in slots):
        raise SealedError(f"every slot is {SEALED_SLOT_BYTES} bytes")

    secret_key = identity.x25519_private_key()
    public_key = bytes(nacl.bindings.crypto_scalarmult_base(secret_key))
    nonce, ciphertext = box[:_NONCE_BYTES], box[_NONCE_BYTES:]
    opened_a_slot = False
    for slot in slots:
        try:
            content_key = bytes(nacl.bindings.crypto_box_seal_open(slot, public_key, secret_key))
        except nacl.exceptions.CryptoError:
            continue  # not our slot: expected for all but one
        opened_a_slot = True
        if len(content_key) != _CONTENT_KEY_BYTES or not hmac.compare_digest(
            _nonce_for(content_key), nonce
        ):
            continue
        try:
            return bytes(nacl.bindings.crypto_secretbox_open(ciphertext, nonce, content_key))
        except nacl.exceptions.CryptoError as exc:
            raise SealedError("the sealed box was altered") from exc
    if opened_a_slot:
        raise SealedError("a slot opens with this key but belongs to another box")
    raise SealedError("this key is not a recipient of the sealed value")
