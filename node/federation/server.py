"""The ``/fed/v1/`` endpoints other nodes call (docs/federation.md §3).

Every request passes the same gate, cheapest check first: a per-address rate limit, the body
size (aiohttp refuses bodies over the app's ``client_max_size`` with 413), the request
signature, replay window and nonce cache (401 with a reason code), a per-node rate limit (429
with ``Retry-After``), then the handler's own parsing (400 with a reason code). Error bodies are
msgpack ``{"code", "detail"}``; the code is also in the ``Aid-Error`` header. Nothing a peer
sends can raise past a handler: every failure becomes one of these answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from node.errors import StorageError
from node.federation.guard import NonceCache, RateLimiter
from node.federation.peers import InboundLedger
from node.federation.push import Broadcaster, Frame
from node.storage import OutcomeStatus, Store
from protocol import ProtocolError, encode
from protocol.federation import (
    AuthCode,
    AuthError,
    FetchReply,
    FetchRequest,
    Hello,
    PushReply,
    PushRequest,
    SignedHeaders,
    StreamFrame,
    signature_verifies,
    verify_request,
)
from sync.clock import Clock
from sync.reconcile import Limits, respond

__all__ = ["FederationServer", "ServerLimits"]

log = logging.getLogger("aidnode.federation")
MSGPACK = "application/x-msgpack"
PREFIX = "/fed/v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    window_ms: int = 60_000  # replay window: requests older or newer than this are stale
    node_rate: float = 50.0  # requests per second per node key, sustained
    node_burst: int = 200
    address_rate: float = 100.0  # requests per second per remote address (before auth)
    address_burst: int = 400
    reconcile: Limits = field(default_factory=Limits)


def _error(
    status: int, code: str, detail: str = "", retry_after: float | None = None
) -> web.Response:
    headers = {"Aid-Error": code}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))  # whole seconds, ≥ 1
    body = encode({"code": code, "detail": detail[:500]})
    return web.Response(status=status, body=body, content_type=MSGPACK, headers=headers)


Handler = Callable[[web.Request, bytes, bytes], Awaitable[web.StreamResponse]]


class FederationServer:
    """Serves one node's store to its peers."""

    def __init__(
        self,
        store: Store,
        hello: Hello,
        broadcaster: Broadcaster,
        clock: Clock,
        *,
        limits: ServerLimits = ServerLimits(),
        inbound: InboundLedger | None = None,
        on_events: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.hello = hello
        self.broadcaster = broadcaster
        self.clock = clock
        self.limits = limits
        self.inbound = inbound or InboundLedger()
        self.nonces = NonceCache(limits.window_ms)
        self.node_limits = RateLimiter(limits.node_rate, limits.node_burst)
        self.address_limits = RateLimiter(limits.address_rate, limits.address_burst)
        self.on_events = on_events  # told the max hlc of accepted events (the node's HLC)
        self.streams: set[web.WebSocketResponse] = set()
        # 401s no node key can be held to (unsigned, malformed or forged), by code.
        self.unauthenticated: Counter[str] = Counter()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{PREFIX}/hello", self._gate(self._hello)),
            web.post(f"{PREFIX}/reconcile", self._gate(self._reconcile)),
            web.post(f"{PREFIX}/events/fetch", self._gate(self._fetch)),
            web.post(f"{PREFIX}/events/push", self._gate(self._push)),
            web.get(f"{PREFIX}/stream", self._gate(self._stream)),
        ]

    async def close(self) -> None:
        for ws in list(self.streams):
            await ws.close(code=1001, message=b"node shutting down")

    # -- the gate -------------------------------------------------------------------------------

    def _gate(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def gated(request: web.Request) -> web.StreamResponse:
            now = self.clock.now_ms()
            address = (request.remote or "?").encode()
            wait = self.address_limits.check(address, now)
            if wait:
                return _error(429, "rate_limited", "too many requests from this address", wait)
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return _error(413, "too_large", "request body over the limit")
            signed: SignedHeaders | None = None
            try:
                signed = SignedHeaders.parse(request.headers)
                verify_request(
                    signed,
                    request.method,
                    request.path_qs,
                    body,
                    me=self.hello.node,
                    now_ms=now,
                    window_ms=self.limits.window_ms,
                )
                if self.nonces.seen(signed.node, signed.nonce, signed.time_ms, now):
                    raise AuthError(AuthCode.REPLAYED, "this request was already received")
            except AuthError as exc:
                self._note_refusal(signed, request, body, exc.code, now)
                return _error(401, exc.code.value, exc.detail)
            wait = self.node_limits.check(signed.node, now)
            if wait:
                self.inbound.note(signed.node, now, refused="rate_limited")
                return _error(429, "rate_limited", "too many requests from this node", wait)
            try:
                return await handler(request, body, signed.node)
            except ProtocolError as exc:
                self.inbound.note(signed.node, now, refused=exc.code.value)
                return _error(400, exc.code.value, exc.detail)
            except StorageError as exc:
                # Our failure, not the peer's: say so, and when to try again.
                log.warning("cannot serve %s: %s", request.path, exc)
                return _error(503, "storage", f"the node cannot use its database: {exc.cause}", 5)

        return gated

    def _note_refusal(
        self,
        signed: SignedHeaders | None,
        request: web.Request,
        body: bytes,
        code: AuthCode,
        now: int,
    ) -> None:
        """Count a 401 against the node that signed the request, if one provably did.

        A mere claim (``Aid-Node`` with no valid signature) is counted only in
        :attr:`unauthenticated`: anyone can name any key, and counting claims would let a
        stranger blame an honest node and add a row to ``inbound`` per invented key."""
        proven = (
            signed is not None
            and code is not AuthCode.BAD_SIGNATURE
            and (
                code is AuthCode.REPLAYED  # verified before the nonce was checked
                or signature_verifies(signed, request.method, request.path_qs, body)
            )
        )
        if proven:
            assert signed is not None
            self.inbound.note(signed.node, now, refused=code.value)
        else:
            self.unauthenticated[code.value] += 1

    # -- handlers -------------------------------------------------------------------------------

    async def _hello(self, request: web.Request, body: bytes, node: bytes) -> web.StreamResponse:
        theirs = Hello.decode(body)
        self.inbound.note(node, self.clock.now_ms())
        if theirs.node != node:
            return _error(400, "bad_field", "hello.node is not the key that signed the request")
        return web.Response(body=self.hello.encode(), content_type=MSGPACK)

    async def _reconcile(
        self, request: web.Request, body: bytes, node: bytes
    ) -> web.StreamResponse:
        index = self.store.index
        if index is None:
            return _error(503, "not_ready", "the reconciliation index is still being built")
        self.inbound.note(node, self.clock.now_ms())
        reply = respond(index, body, limits=self.limits.reconcile)
        return web.Response(body=reply, content_type="application/octet-stream")

    async def _fetch(self, request: web.Request, body: bytes, node: bytes) -> web.StreamResponse:
        # Each id once: a request naming one id a thousand times gets it once, not a
        # thousand copies (a 32 KB request must not buy a 16 MB answer).
        wanted = tuple(dict.fromkeys(FetchRequest.decode(body).ids))
        self.inbound.note(node, self.clock.now_ms())
        found, gone = await self.store.wires(wanted)
        reply = FetchReply(tuple(found[i] for i in wanted if i in found), tuple(gone))
        return web.Response(body=reply.encode(), content_type=MSGPACK)

    async def _push(self, request: web.Request, body: bytes, node: bytes) -> web.StreamResponse:
        pushed = PushRequest.decode(body)
        reply = await self._ingest(pushed.events, node)
        return web.Response(body=reply.encode(), content_type=MSGPACK)

    async def _ingest(self, wires: tuple[bytes, ...], node: bytes) -> PushReply:
        outcomes = await self.store.ingest(list(wires), origin=node)
        counts = dict.fromkeys(OutcomeStatus, 0)
        codes = []
        for outcome in outcomes:
            counts[outcome.status] += 1
            if outcome.code is not None:
                codes.append(outcome.code.value)
        self.inbound.note(
            node,
            self.clock.now_ms(),
            events_in=counts[OutcomeStatus.ACCEPTED],
            rejected_in=counts[OutcomeStatus.REJECTED],
            last_rejection=codes[-1] if codes else None,
        )
        if self.on_events is not None and counts[OutcomeStatus.ACCEPTED]:
            self.on_events(counts[OutcomeStatus.ACCEPTED])
        return PushReply(
            counts[OutcomeStatus.ACCEPTED],
            counts[OutcomeStatus.DUPLICATE],
            counts[OutcomeStatus.REJECTED],
            counts[OutcomeStatus.QUARANTINED],
            tuple(codes[:32]),
        )

    async def _stream(self, request: web.Request, body: bytes, node: bytes) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=self.hello.max_body_bytes)
        await ws.prepare(request)
        self.inbound.note(node, self.clock.now_ms())
        self.streams.add(ws)
        subscription = self.broadcaster.subscribe(node)
        writer = asyncio.create_task(_drain(ws, subscription.queue))
        try:
            async for message in ws:
                if message.type is not WSMsgType.BINARY:
                    continue
                # A frame costs what a request does: one token of the node's bucket, so a
                # stream is no way around the rate limit. 1013: try again later (RFC 6455).
                now = self.clock.now_ms()
                if self.node_limits.check(node, now):
                    self.inbound.note(node, now, refused="rate_limited")
                    await ws.close(code=1013, message=b"rate_limited")
                    break
                try:
                    frame = StreamFrame.decode(message.data)
                except ProtocolError as exc:
                    self.inbound.note(node, self.clock.now_ms(), refused=exc.code.value)
                    await ws.close(code=1003, message=exc.code.value.encode())
                    break
                try:
                    await self._ingest(frame.events, node)
                except StorageError as exc:  # ours; the 503 of a socket: 1011 (RFC 6455)
                    log.warning("cannot store a stream frame: %s", exc)
                    await ws.close(code=1011, message=b"storage")
                    break
        finally:
            self.broadcaster.unsubscribe(subscription)
            self.streams.discard(ws)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws


async def _drain(ws: web.WebSocketResponse, queue: asyncio.Queue[Frame]) -> None:
    """Send queued frames until the socket closes."""
    while not ws.closed:
        frame = await queue.get()
        try:
            await ws.send_bytes(frame.data)
        except (ConnectionError, RuntimeError):
            return  # the peer went away; the reader loop notices and cleans up
