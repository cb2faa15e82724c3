"""The event envelope (docs/protocol.md §1): the only thing aidnode ever stores or sends.

    payload = canonical msgpack [version=1, kind, author(32 B), hlc(uint64),
                                 ref(32 B | nil), body(map)]
    sig     = Ed25519 over b"aidnode/v1\\0" + payload
    id      = BLAKE2b-256(payload)
    wire    = canonical msgpack [payload(bin), sig(bin)]

Decoding runs the cheap checks first and the signature last: size, msgpack shape and canonical
form, version, envelope fields, the kind's body schema, the clock, then Ed25519. Every failure
is a :class:`ProtocolError` with a :class:`ReasonCode`; nothing else escapes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crypto.errors import SignatureError
from crypto.signing import KEY_BYTES, SIGNATURE_BYTES, SigningIdentity, verify
from protocol.canonical import check_plain, decode, encode
from protocol.codes import Kind, ReasonCode
from protocol.errors import ProtocolError
from protocol.kinds import KIND_SPECS, Ref
from protocol.limits import MAX_CLOCK_AHEAD_MS, MAX_EVENT_BYTES, VERSION
from protocol.schema import Schema
from protocol.trust_bodies import RevokeBody

__all__ = [
    "EVENT_DOMAIN",
    "Event",
    "OpaqueBody",
    "decode_event",
    "decode_events",
    "decode_stored",
    "event_id",
    "hlc_millis",
    "sign_event",
]

EVENT_DOMAIN = b"aidnode/v1\0"
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_HLC = 2**64 - 1
_HLC_LOGICAL_BITS = 16


def hlc_millis(hlc: int) -> int:
    """The physical part of a hybrid logical clock value, in Unix milliseconds."""
    return hlc >> _HLC_LOGICAL_BITS


def event_id(payload: bytes) -> bytes:
    """The content address of an event: BLAKE2b-256 of its payload."""
    return hashlib.blake2b(payload, digest_size=32).digest()


@dataclass(frozen=True, slots=True)
class OpaqueBody:
    """The body of a kind this version does not know: kept and relayed, ignored by the fold."""

    fields: dict[str, Any]

    def to_map(self) -> dict[str, Any]:
        return self.fields


Body = Schema | OpaqueBody


@dataclass(frozen=True, slots=True, eq=False)
class Event:
    """A decoded, validated event. Build one with :func:`sign_event`, :func:`decode_event` or
    :func:`decode_stored`, never directly: those are what guarantee the fields match the
    signed payload. Events compare and hash by id."""

    id: bytes
    kind: str
    author: bytes
    hlc: int
    ref: bytes | None
    body: Body
    payload: bytes
    sig: bytes

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def sort_key(self) -> tuple[int, bytes]:
        """The order used everywhere events are ordered: (hlc, id)."""
        return (self.hlc, self.id)

    @property
    def known(self) -> bool:
        """Whether this version knows the kind (unknown kinds are opaque)."""
        return self.kind in KIND_SPECS

    @property
    def wire(self) -> bytes:
        """The wire form ``[payload, sig]``."""
        return encode([self.payload, self.sig])

    def __repr__(self) -> str:
        return f"Event({self.kind} {self.id.hex()[:12]} by {self.author.hex()[:8]} @ {self.hlc})"


_blake2b = hashlib.blake2b
_SLOT_WRITERS = tuple(
    Event.__dict__[name].__set__
    for name in ("id", "kind", "author", "hlc", "ref", "body", "payload", "sig")
)


def _new_event(
    digest: bytes,
    kind: str,
    author: bytes,
    hlc: int,
    ref: bytes | None,
    body: Body,
    payload: bytes,
    sig: bytes,
) -> Event:
    """``Event(...)`` for the decode path: writes the slots directly, skipping the frozen
    dataclass __init__ (eight object.__setattr__ calls by keyword), which cost as much as
    the rest of the envelope checks together. The result is the same frozen value."""
    event = object.__new__(Event)
    w0, w1, w2, w3, w4, w5, w6, w7 = _SLOT_WRITERS
    w0(event, digest)
    w1(event, kind)
    w2(event, author)
    w3(event, hlc)
    w4(event, ref)
    w5(event, body)
    w6(event, payload)
    w7(event, sig)
    return event


def _parse_payload(payload: bytes, sig: bytes) -> Event:
    """Decode and validate a payload (no signature or clock check)."""
    fields = decode(payload)
    if type(fields) is not tuple or not fields:
        raise ProtocolError(ReasonCode.MALFORMED, "payload must be an array")
    if fields[0] != VERSION or type(fields[0]) is not int:
        raise ProtocolError(ReasonCode.UNKNOWN_VERSION, f"version {fields[0]!r}")
    if len(fields) != 6:
        raise ProtocolError(ReasonCode.MALFORMED, "payload must have 6 fields")
    _, kind, author, hlc, ref, raw_body = fields
    spec = KIND_SPECS.get(kind) if type(kind) is str else None
    if spec is None and (type(kind) is not str or not _KIND_NAME.fullmatch(kind)):
        raise ProtocolError(ReasonCode.BAD_FIELD, "kind must be a short lowercase name")
    if type(author) is not bytes or len(author) != KEY_BYTES:
        raise ProtocolError(ReasonCode.BAD_FIELD, "author must be a 32-byte key")
    if type(hlc) is not int or not 0 <= hlc <= _MAX_HLC:
        raise ProtocolError(ReasonCode.BAD_FIELD, "hlc must be an unsigned 64-bit integer")
    if ref is not None and (type(ref) is not bytes or len(ref) != 32):
        raise ProtocolError(ReasonCode.BAD_FIELD, "ref must be a 32-byte event id or nil")
    if type(raw_body) is not dict:
        raise ProtocolError(ReasonCode.BAD_FIELD, "body must be a map")

    body: Body
    if spec is None:
        check_plain(raw_body, 1)  # the body sits at depth 1 of the payload array
        body = OpaqueBody(raw_body)
    else:
        body = spec.body.from_map(raw_body)
        rule = spec.ref
        if rule is Ref.REQUIRED:
            if ref is None:
                raise ProtocolError(ReasonCode.BAD_REFERENCE, f"{kind} needs a ref")
        elif rule is Ref.NONE:
            if ref is not None:
                raise ProtocolError(ReasonCode.BAD_REFERENCE, f"{kind} must not have a ref")
        elif isinstance(body, RevokeBody) and (ref is None) == (body.key is None):
            raise ProtocolError(ReasonCode.BAD_REFERENCE, "revoke needs exactly one of ref, key")
    if type(sig) is not bytes or len(sig) != SIGNATURE_BYTES:
        raise ProtocolError(ReasonCode.BAD_SIGNATURE, "signature must be 64 bytes")
    return _new_event(
        _blake2b(payload, digest_size=32).digest(), kind, author, hlc, ref, body, payload, sig
    )


def _split_wire(wire: bytes) -> tuple[bytes, Any]:
    """``(payload, sig)`` from the wire form ``[payload, sig]``. Raises :class:`ProtocolError`.

    The canonical shape with a 64-byte signature — 0x92, the payload as bin8 (or bin16 when
    it is 256 bytes or more), then c4 40 and the signature — is sliced directly, since it
    is on the path of every event received; every other byte string goes through
    :func:`decode`, which accepts exactly the same canonical encodings and names the error.
    """
    size = len(wire)
    if size > 67 and wire[0] == 0x92 and wire[size - 66] == 0xC4 and wire[size - 65] == 64:
        if wire[1] == 0xC4:
            start, length = 3, wire[2]
        elif wire[1] == 0xC5:
            start, length = 4, wire[2] << 8 | wire[3]
            if length < 256:  # bin16 for a short payload: not canonical
                start = -1
        else:
            start = -1
        if start > 0 and start + length + 66 == size:
            return wire[start : start + length], wire[size - 64 :]
    outer = decode(wire)
    if type(outer) is not tuple or len(outer) != 2 or type(outer[0]) is not bytes:
        raise ProtocolError(ReasonCode.MALFORMED, "wire form is [payload, sig]")
    return outer[0], outer[1]


def _check_unsigned(wire: bytes, now_ms: int) -> Event:
    """Every check but the signature: the cheap ones, run before any expensive work."""
    if type(wire) is not bytes:
        raise ProtocolError(ReasonCode.MALFORMED, "an event is a byte string")
    if len(wire) > MAX_EVENT_BYTES:
        raise ProtocolError(ReasonCode.TOO_LARGE, f"{len(wire)} bytes > {MAX_EVENT_BYTES}")
    payload, sig = _split_wire(wire)
    event = _parse_payload(payload, sig)
    if event.hlc >> _HLC_LOGICAL_BITS > now_ms + MAX_CLOCK_AHEAD_MS:
        raise ProtocolError(ReasonCode.FUTURE_TIMESTAMP, "hlc more than 10 minutes ahead")
    return event


def _check_signature(event: Event) -> None:
    try:
        verify(event.author, EVENT_DOMAIN, event.payload, event.sig)
    except SignatureError:
        raise ProtocolError(ReasonCode.BAD_SIGNATURE, "signature does not verify") from None


def decode_event(wire: bytes, *, now_ms: int) -> Event:
    """Decode and fully validate an event received from anywhere outside this node.

    ``now_ms`` is the receiver's clock (Unix ms), injected so tests can pin it. Raises
    :class:`ProtocolError`; every check that can fail cheaply runs before the signature.
    """
    event = _check_unsigned(wire, now_ms)
    _check_signature(event)
    return event


def decode_events(wires: Sequence[bytes], *, now_ms: int) -> list[Event | ProtocolError]:
    """:func:`decode_event` over a batch: each wire's event, or the error that rejects it.

    All the cheap checks of the whole batch run first, then the signatures of what passed:
    garbage in a batch costs no signature work, and the two tight loops run measurably
    faster than alternating them (the verification loop stays in libsodium's code).
    """
    results: list[Event | ProtocolError] = []
    for wire in wires:
        try:
            results.append(_check_unsigned(wire, now_ms))
        except ProtocolError as exc:
            results.append(exc)
    for index, item in enumerate(results):
        if isinstance(item, Event):
            try:
                _check_signature(item)
            except ProtocolError as exc:
                results[index] = exc
    return results


def decode_stored(payload: bytes, sig: bytes) -> Event:
    """Rebuild an event this node stored after :func:`decode_event` accepted it.

    Skips the signature and clock checks (they passed on the way in) but still parses, so a
    damaged row raises :class:`ProtocolError` instead of producing a wrong value.
    """
    return _parse_payload(payload, sig)


def sign_event(
    identity: SigningIdentity,
    kind: str,
    hlc: int,
    body: Schema | dict[str, Any],
    ref: bytes | None = None,
) -> Event:
    """Encode, check and sign a new event by ``identity``.

    The payload goes through the same validation as a received one, so this node can never
    sign an event other nodes would reject. Raises :class:`ProtocolError` if it is invalid.
    """
    raw_body = body.to_map() if isinstance(body, Schema) else body
    payload = encode([VERSION, kind, identity.public_key, hlc, ref, raw_body])
    sig = identity.sign(EVENT_DOMAIN, payload)
    event = _parse_payload(payload, sig)
    if len(event.wire) > MAX_EVENT_BYTES:
        raise ProtocolError(ReasonCode.TOO_LARGE, "event over 16 KiB")
    return event


# Kinds are an open set on the wire; this keeps the enum and the table in step.
assert set(KIND_SPECS) == {k.value for k in Kind}
