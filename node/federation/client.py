"""Calling a peer's ``/fed/v1/`` endpoints: signed requests, strict replies, clear errors.

Every failure becomes a :class:`PeerError` whose ``code`` says what kind (``unreachable``,
``timeout``, ``refused`` with the peer's own code, ``bad_reply``, ``key_changed``…) and whose
message says it in words, for the operator's status table.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp
import msgpack

from crypto.signing import SigningIdentity
from node.errors import PeerError
from node.federation.tls import peer_certificate_key
from protocol import ProtocolError, ReasonCode
from protocol.federation import (
    MAX_BODY_BYTES,
    FetchReply,
    FetchRequest,
    Hello,
    PushReply,
    PushRequest,
    sign_request,
)
from sync.clock import Clock

__all__ = ["PeerClient"]

PREFIX = "/fed/v1"


class NodeKeyBinding(aiohttp.Fingerprint):
    """Checks every new TLS connection to a peer, right after its handshake: the certificate
    must carry a valid binding to a node key (:mod:`node.federation.tls`), and to the pinned
    key once there is one. Certificate authorities are not consulted.

    aiohttp calls :meth:`check` on each connection it opens with a ``Fingerprint`` as its
    ``ssl`` and drops the connection if it raises; this is the one hook it offers that runs on
    the very connection the request then uses (by the time a response is read, a small reply
    has already released its connection, so the transport is gone). The connection pool keys
    connections by this object, so a connection checked for one pin is never reused for
    another.
    """

    def __init__(self, pinned: bytes | None) -> None:
        super().__init__(bytes(32))  # the digest is unused: check() is overridden
        self.pinned = pinned
        self.key: bytes | None = None  # the node key the last certificate proved
        self.refusal: str | None = None  # the code of the last refused certificate

    def check(self, transport: asyncio.Transport) -> None:
        key = peer_certificate_key(transport.get_extra_info("ssl_object"))
        if key is None:
            self.refusal = "bad_tls"
        elif self.pinned is not None and key != self.pinned:
            self.refusal = "key_changed"
        else:
            self.key, self.refusal = key, None
            return
        host, port, *_ = transport.get_extra_info("peername")
        raise aiohttp.ServerFingerprintMismatch(self.pinned or bytes(32), key or b"", host, port)

    def error(self, url: str) -> PeerError:
        if self.refusal == "key_changed":
            return PeerError(url, "key_changed", "the TLS certificate is not the peer's key")
        return PeerError(url, "bad_tls", "the TLS certificate is not bound to a node key")


class PeerClient:
    """One peer, reached at ``url``. ``pinned`` is the node key we expect it to have (learned
    at the first hello and kept in the peer's state); a different key is refused."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        me: SigningIdentity,
        url: str,
        clock: Clock,
        *,
        pinned: bytes | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        self.session = session
        self.me = me
        self.url = url.rstrip("/")
        self.clock = clock
        self.pinned = pinned
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(5.0, timeout_s))
        self.bytes_in = 0
        self.bytes_out = 0
        self.tls = NodeKeyBinding(pinned) if self.url.startswith("https") else None
        self.max_reply_bytes = MAX_BODY_BYTES  # a full fetch reply fits

    def signed_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        signed = sign_request(
            self.me,
            method,
            path,
            body,
            to=self.pinned,
            time_ms=self.clock.now_ms(),
            nonce=secrets.token_bytes(16),
        )
        return signed.as_headers()

    async def _post(self, path: str, body: bytes) -> bytes:
        target = PREFIX + path
        headers = self.signed_headers("POST", target, body)
        try:
            async with self.session.post(
                self.url + target,
                data=body,
                headers=headers,
                timeout=self.timeout,
                ssl=self.tls or True,
            ) as response:
                self.bytes_out += len(body)  # the peer answered: it had the whole body
                payload = await self._read(response)
                self.bytes_in += len(payload)
                if response.status != 200:
                    raise _refusal(self.url, response.status, payload, response.headers)
                return payload
        except PeerError:
            raise
        except aiohttp.ServerFingerprintMismatch:
            assert self.tls is not None
            raise self.tls.error(self.url) from None
        except TimeoutError:
            raise PeerError(self.url, "timeout", "no answer in time") from None
        except aiohttp.ClientConnectorError as exc:
            raise PeerError(self.url, "unreachable", str(exc.os_error or exc)) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise PeerError(self.url, "connection_failed", str(exc) or type(exc).__name__) from None

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The reply body, refused once it passes what any valid reply can be: a peer must
        not be able to make us buffer an unbounded answer."""
        limit = self.max_reply_bytes
        if response.content_length is not None and response.content_length > limit:
            raise PeerError(self.url, "too_large", f"a reply of {response.content_length} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise PeerError(self.url, "too_large", f"a reply over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @property
    def tls_key(self) -> bytes | None:
        """The node key the last TLS certificate was bound to (None over plain HTTP)."""
        return self.tls.key if self.tls is not None else None

    async def hello(self, mine: Hello) -> Hello:
        """Exchange hellos; pins the peer's node key on first contact, refuses a changed one."""
        reply = await self._post("/hello", mine.encode())
        try:
            theirs = Hello.decode(reply)
        except ProtocolError as exc:
            code = "unknown_version" if exc.code is ReasonCode.UNKNOWN_VERSION else "bad_reply"
            raise PeerError(self.url, code, f"hello: {exc}") from None
        if self.tls_key is not None and theirs.node != self.tls_key:
            raise PeerError(self.url, "bad_tls", "the hello and the TLS certificate disagree")
        if self.pinned is not None and theirs.node != self.pinned:
            raise PeerError(
                self.url,
                "key_changed",
                "the peer now answers with a different node key; if it was reinstalled, "
                "remove and re-add it (aidnode peer remove/add)",
            )
        self.pinned = theirs.node
        if self.tls is not None:
            self.tls.pinned = theirs.node
        return theirs

    async def reconcile(self, message: bytes) -> bytes:
        return await self._post("/reconcile", message)

    async def fetch(self, ids: list[bytes]) -> FetchReply:
        reply = await self._post("/events/fetch", FetchRequest(tuple(ids)).encode())
        try:
            return FetchReply.decode(reply)
        except ProtocolError as exc:
            raise PeerError(self.url, "bad_reply", f"fetch: {exc}") from None

    async def push(self, wires: list[bytes]) -> PushReply:
        reply = await self._post("/events/push", PushRequest(tuple(wires)).encode())
        try:
            return PushReply.decode(reply)
        except ProtocolError as exc:
            raise PeerError(self.url, "bad_reply", f"push: {exc}") from None

    async def open_stream(self) -> aiohttp.ClientWebSocketResponse:
        target = PREFIX + "/stream"
        headers = self.signed_headers("GET", target, b"")
        try:
            ws = await self.session.ws_connect(
                self.url + target,
                headers=headers,
                heartbeat=20.0,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                max_msg_size=MAX_BODY_BYTES,  # a full frame (aiohttp's default is 4 MiB)
                ssl=self.tls or True,
            )
            return ws
        except aiohttp.ServerFingerprintMismatch:
            assert self.tls is not None
            raise self.tls.error(self.url) from None
        except aiohttp.WSServerHandshakeError as exc:
            raise PeerError(self.url, "refused", f"stream: HTTP {exc.status}") from None
        except aiohttp.ClientConnectorError as exc:
            raise PeerError(self.url, "unreachable", str(exc.os_error or exc)) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PeerError(self.url, "connection_failed", str(exc) or type(exc).__name__) from None


def _refusal(url: str, status: int, payload: bytes, headers: Any) -> PeerError:
    code = headers.get("Aid-Error")
    detail = ""
    try:
        body = msgpack.unpackb(payload, raw=False)
        if isinstance(body, dict):
            code = code or str(body.get("code", ""))
            detail = str(body.get("detail", ""))[:300]
    except (ValueError, msgpack.UnpackException):
        pass  # not our error format (a proxy's page?): the status says enough
    words = {
        400: "refused our request as malformed",
        401: "refused our signature",
        404: "does not speak this federation version",
        413: "refused a request as too large",
        429: "asks us to slow down",
        503: "cannot serve now",
    }.get(status, f"answered HTTP {status}")
    retry = headers.get("Retry-After")
    suffix = f"; retry after {retry} s" if retry else ""
    text = f"{words}: {code or ''} {detail}{suffix}".strip()
    return PeerError(url, code or f"http_{status}", text)
