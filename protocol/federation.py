"""Node-to-node messages of federation protocol v1 (docs/federation.md).

Every body is canonical msgpack (the reconciliation body is its own binary format, see
docs/reconciliation.md). Every request is signed by the sending node's key over its method,
target, recipient, time, nonce and body digest, so peers are authenticated and attributable
and a request cannot be replayed to another node or later.

Pure: time and randomness come from the caller.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from crypto.errors import SignatureError
from crypto.signing import KEY_BYTES, SigningIdentity, verify
from protocol.canonical import decode, encode
from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from protocol.fields import check_int, check_text, fail
from protocol.limits import MAX_EVENT_BYTES

__all__ = [
    "FEATURES",
    "FED_VERSION",
    "MAX_BATCH_EVENTS",
    "MAX_BODY_BYTES",
    "MAX_FETCH_IDS",
    "REQUEST_DOMAIN",
    "AuthCode",
    "AuthError",
    "FetchReply",
    "FetchRequest",
    "Hello",
    "PushReply",
    "PushRequest",
    "SignedHeaders",
    "StreamFrame",
    "request_message",
    "sign_request",
    "signature_verifies",
    "verify_request",
]

FED_VERSION = 1
FEATURES = ("fetch", "push", "reconcile-v1", "stream")
REQUEST_DOMAIN = b"aidnode/v1/request\0"
MAX_BATCH_EVENTS = 1000
MAX_FETCH_IDS = 1000
MAX_BODY_BYTES = MAX_BATCH_EVENTS * (MAX_EVENT_BYTES + 8) + 1024  # a full push batch fits
NONCE_BYTES = 16


class AuthCode(StrEnum):
    """Why a request was not authenticated (HTTP 401 with this code)."""

    UNSIGNED = "unsigned"  # authentication headers missing
    BAD_HEADER = "bad_header"  # a header is malformed
    STALE = "stale"  # its time is outside the replay window
    REPLAYED = "replayed"  # this (node, nonce) was already seen
    BAD_SIGNATURE = "bad_signature"  # the signature does not verify
    WRONG_RECIPIENT = "wrong_recipient"  # signed for another node


class AuthError(Exception):
    def __init__(self, code: AuthCode, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code.value}: {detail}" if detail else code.value)


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The authentication headers of one request (``Aid-*``), parsed."""

    node: bytes
    to: bytes | None
    time_ms: int
    nonce: bytes
    signature: bytes

    def as_headers(self) -> dict[str, str]:
        headers = {
            "Aid-Node": self.node.hex(),
            "Aid-Time": str(self.time_ms),
            "Aid-Nonce": self.nonce.hex(),
            "Aid-Signature": self.signature.hex(),
        }
        if self.to is not None:
            headers["Aid-To"] = self.to.hex()
        return headers

    @classmethod
    def parse(cls, headers: Any) -> SignedHeaders:
        """From a case-insensitive header mapping. Raises :class:`AuthError`."""
        names = ("Aid-Node", "Aid-Time", "Aid-Nonce", "Aid-Signature")
        if not all(name in headers for name in names):
            raise AuthError(AuthCode.UNSIGNED, "missing Aid-* authentication headers")
        try:
            node = bytes.fromhex(headers["Aid-Node"])
            to = bytes.fromhex(headers["Aid-To"]) if "Aid-To" in headers else None
            time_ms = int(headers["Aid-Time"])
            nonce = bytes.fromhex(headers["Aid-Nonce"])
            signature = bytes.fromhex(headers["Aid-Signature"])
        except ValueError as exc:
            raise AuthError(AuthCode.BAD_HEADER, str(exc)) from None
        if (
            len(node) != KEY_BYTES
            or (to is not None and len(to) != KEY_BYTES)
            or len(nonce) != NONCE_BYTES
            or len(signature) != 64
            or not 0 <= time_ms < 2**53
        ):
            raise AuthError(AuthCode.BAD_HEADER, "wrong length or range")
        return cls(node, to, time_ms, nonce, signature)


def request_message(
    method: str, target: str, to: bytes | None, time_ms: int, nonce: bytes, body: bytes
) -> bytes:
    """What a node signs for a request: canonical [method, target, to, time, nonce, digest]."""
    digest = hashlib.blake2b(body, digest_size=32).digest()
    return encode([method.upper(), target, to, time_ms, nonce, digest])


def sign_request(
    identity: SigningIdentity,
    method: str,
    target: str,
    body: bytes,
    *,
    to: bytes | None,
    time_ms: int,
    nonce: bytes,
) -> SignedHeaders:
    """Sign a request to the node ``to`` (None only for ``hello``, before its key is known).

    ``target`` is the path with its query string; ``nonce`` 16 random bytes."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError("a nonce is 16 bytes")
    message = request_message(method, target, to, time_ms, nonce, body)
    return SignedHeaders(
        identity.public_key, to, time_ms, nonce, identity.sign(REQUEST_DOMAIN, message)
    )


def verify_request(
    signed: SignedHeaders,
    method: str,
    target: str,
    body: bytes,
    *,
    me: bytes,
    now_ms: int,
    window_ms: int,
) -> None:
    """Check a request's signature, recipient and time. The caller checks the nonce cache.

    Raises :class:`AuthError`."""
    if signed.to is not None and signed.to != me:
        raise AuthError(AuthCode.WRONG_RECIPIENT, "signed for another node")
    if abs(now_ms - signed.time_ms) > window_ms:
        raise AuthError(AuthCode.STALE, f"time is {now_ms - signed.time_ms} ms off")
    if not signature_verifies(signed, method, target, body):
        raise AuthError(AuthCode.BAD_SIGNATURE, "request signature does not verify")


def signature_verifies(signed: SignedHeaders, method: str, target: str, body: bytes) -> bool:
    """Whether ``signed.node`` signed this request (recipient and time not judged): what a
    refusal may be attributed to that node on (docs/federation.md §4)."""
    message = request_message(method, target, signed.to, signed.time_ms, signed.nonce, body)
    try:
        verify(signed.node, REQUEST_DOMAIN, message, signed.signature)
    except SignatureError:
        return False
    return True


# -- bodies -------------------------------------------------------------------------------------


def _map(body: bytes, what: str) -> dict[str, Any]:
    value = decode(body)
    if type(value) is not dict:
        raise ProtocolError(ReasonCode.MALFORMED, f"{what} must be a map")
    return value


def _check_keys(raw: dict[str, Any], required: set[str], optional: set[str], what: str) -> None:
    unknown = raw.keys() - required - optional
    if unknown:
        raise ProtocolError(ReasonCode.UNKNOWN_FIELD, f"{what}: {', '.join(sorted(unknown))}")
    missing = required - raw.keys()
    if missing:
        raise ProtocolError(ReasonCode.MISSING_FIELD, f"{what}: {', '.join(sorted(missing))}")


def _bytes_list(
    value: Any, name: str, max_items: int, size: int | None = None
) -> tuple[bytes, ...]:
    if type(value) is not tuple:
        raise fail(name, "must be an array")
    if len(value) > max_items:
        raise ProtocolError(ReasonCode.TOO_LARGE, f"{name}: more than {max_items} items")
    for item in value:
        if type(item) is not bytes or (size is not None and len(item) != size):
            raise fail(name, f"items must be {size or 'byte'}{' bytes' if size else ' strings'}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """Who a node is and what it speaks: sent by the client, answered in kind by the server."""

    node: bytes
    org: bytes
    name: str
    version: int = FED_VERSION
    features: tuple[str, ...] = FEATURES
    max_body_bytes: int = MAX_BODY_BYTES
    max_batch_events: int = MAX_BATCH_EVENTS

    def encode(self) -> bytes:
        return encode(
            {
                "node": self.node,
                "org": self.org,
                "name": self.name,
                "version": self.version,
                "features": list(self.features),
                "max_body_bytes": self.max_body_bytes,
                "max_batch_events": self.max_batch_events,
            }
        )

    @classmethod
    def decode(cls, body: bytes) -> Hello:
        raw = _map(body, "hello")
        # The version first: a newer hello may add fields, and its sender must hear that the
        # version is the problem, not a field it cannot know this version lacks.
        version = raw.get("version")
        if type(version) is int and version != FED_VERSION:
            raise ProtocolError(
                ReasonCode.UNKNOWN_VERSION,
                f"hello of federation v{version}; this node speaks federation v{FED_VERSION} only",
            )
        fields = {"node", "org", "name", "version", "features", "max_body_bytes"}
        _check_keys(raw, fields | {"max_batch_events"}, set(), "hello")
        if type(raw["node"]) is not bytes or len(raw["node"]) != KEY_BYTES:
            raise fail("hello.node", "must be a 32-byte key")
        if type(raw["org"]) is not bytes or len(raw["org"]) != KEY_BYTES:
            raise fail("hello.org", "must be a 32-byte key")
        check_text("hello.name", raw["name"], 100)
        check_int("hello.version", raw["version"], FED_VERSION, FED_VERSION)
        check_int("hello.max_body_bytes", raw["max_body_bytes"], 1024, 2**31)
        check_int("hello.max_batch_events", raw["max_batch_events"], 1, 100_000)
        features = raw["features"]
        if type(features) is not tuple or len(features) > 64:
            raise fail("hello.features", "must be an array of at most 64 names")
        for feature in features:
            check_text("hello.features[]", feature, 64)
        return cls(
            node=raw["node"],
            org=raw["org"],
            name=raw["name"],
            version=raw["version"],
            features=features,
            max_body_bytes=raw["max_body_bytes"],
            max_batch_events=raw["max_batch_events"],
        )


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """Ask for events by id (at most :data:`MAX_FETCH_IDS`)."""

    ids: tuple[bytes, ...]

    def encode(self) -> bytes:
        return encode({"ids": list(self.ids)})

    @classmethod
    def decode(cls, body: bytes) -> FetchRequest:
        raw = _map(body, "fetch")
        _check_keys(raw, {"ids"}, set(), "fetch")
        return cls(_bytes_list(raw["ids"], "fetch.ids", MAX_FETCH_IDS, 32))


@dataclass(frozen=True, slots=True)
class FetchReply:
    """The wire events found, and the ids this node holds only as tombstones (``gone``)
    with their hlc, so the asker can tombstone them too instead of asking forever."""

    events: tuple[bytes, ...]
    gone: tuple[tuple[bytes, int], ...] = ()

    def encode(self) -> bytes:
        return encode({"events": list(self.events), "gone": [list(g) for g in self.gone]})

    @classmethod
    def decode(cls, body: bytes) -> FetchReply:
        raw = _map(body, "fetch reply")
        _check_keys(raw, {"events", "gone"}, set(), "fetch reply")
        events = _bytes_list(raw["events"], "events", MAX_FETCH_IDS)
        gone_raw = raw["gone"]
        if type(gone_raw) is not tuple or len(gone_raw) > MAX_FETCH_IDS:
            raise fail("gone", "must be an array of [id, hlc]")
        gone = []
        for item in gone_raw:
            if (
                type(item) is not tuple
                or len(item) != 2
                or type(item[0]) is not bytes
                or len(item[0]) != 32
                or type(item[1]) is not int
                or not 0 <= item[1] < 2**64
            ):
                raise fail("gone[]", "must be [32-byte id, hlc]")
            gone.append((item[0], item[1]))
        return cls(events, tuple(gone))


@dataclass(frozen=True, slots=True)
class PushRequest:
    """Events a node sends unasked: new ones (push) or ones the peer lacks (anti-entropy)."""

    events: tuple[bytes, ...]

    def encode(self) -> bytes:
        return encode({"events": list(self.events)})

    @classmethod
    def decode(cls, body: bytes) -> PushRequest:
        raw = _map(body, "push")
        _check_keys(raw, {"events"}, set(), "push")
        return cls(_bytes_list(raw["events"], "push.events", MAX_BATCH_EVENTS))


@dataclass(frozen=True, slots=True)
class PushReply:
    """How the receiver took a push: counts per outcome, and rejection codes seen."""

    accepted: int
    duplicate: int
    rejected: int
    quarantined: int
    codes: tuple[str, ...] = ()

    def encode(self) -> bytes:
        return encode(
            {
                "accepted": self.accepted,
                "duplicate": self.duplicate,
                "rejected": self.rejected,
                "quarantined": self.quarantined,
                "codes": sorted(set(self.codes)),
            }
        )

    @classmethod
    def decode(cls, body: bytes) -> PushReply:
        raw = _map(body, "push reply")
        counts = {"accepted", "duplicate", "rejected", "quarantined"}
        _check_keys(raw, counts | {"codes"}, set(), "push reply")
        for name in counts:
            check_int(name, raw[name], 0, MAX_BATCH_EVENTS)
        codes = raw["codes"]
        if type(codes) is not tuple or len(codes) > 32:
            raise fail("codes", "must be a short array")
        for code in codes:
            check_text("codes[]", code, 64)
        return cls(raw["accepted"], raw["duplicate"], raw["rejected"], raw["quarantined"], codes)


@dataclass(frozen=True, slots=True)
class StreamFrame:
    """One websocket message of the live stream: new events pushed as they are committed."""

    events: tuple[bytes, ...]

    def encode(self) -> bytes:
        return encode({"events": list(self.events)})

    @classmethod
    def decode(cls, body: bytes) -> StreamFrame:
        raw = _map(body, "stream frame")
        _check_keys(raw, {"events"}, set(), "stream frame")
        return cls(_bytes_list(raw["events"], "stream.events", MAX_BATCH_EVENTS))
