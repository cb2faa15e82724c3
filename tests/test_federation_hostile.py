"""Hostile peers: nothing they send may crash or stall a node, get anything invalid stored,
or slow honest nodes' sync; what they did must show in the honest node's peer state.

Two kinds of hostility. A *client* with its own node key connects in and sends garbage,
forgeries, oversized bodies, replays, unsigned and stale requests and floods (it appears in
the node's ``inbound`` table). A *server* the honest node has as a configured peer answers
with forged events, garbage stream frames, undecodable or endless replies (it appears in the
node's ``peers`` row for it). The quick tests run a node in-process; the slow one runs two
honest ``aidnode run`` processes and attacks one of them while they gossip.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
from aiohttp import web

from crypto.signing import SigningIdentity
from node.clock import SystemClock
from node.errors import PeerError, StorageError
from node.federation.client import PeerClient
from node.federation.gossip import GossipSettings
from node.federation.peers import add_peer, inbound_states, peer_states
from node.federation.server import ServerLimits
from node.service import ServiceSettings
from node.storage import Store
from protocol import encode
from protocol.federation import (
    MAX_BODY_BYTES,
    FetchReply,
    FetchRequest,
    Hello,
    PushReply,
    StreamFrame,
    sign_request,
)
from sync.clock import ManualClock
from sync.fingerprint_index import FingerprintIndex
from sync.reconcile import respond
from sync.reconcile_wire import (
    Bound,
    Defer,
    IdList,
    Ids,
    Reply,
    Skip,
    encode_reply,
    parse_query,
)
from tests.builders import World
from tests.federation_harness import (
    Cluster,
    NodeHandle,
    eventually,
    fake_peer,
    hello_for,
    service_in_process,
    service_url,
    signed_client,
)

MSGPACK = "application/x-msgpack"


def forged_wires(world: World) -> list[bytes]:
    """Three events no node may store: a bad signature, a wrong author, a far-future hlc."""
    ward, mallory = world.org("ward"), world.org("mallory")
    need = world.need(ward)
    bad_signature = bytearray(need.wire)
    bad_signature[-1] ^= 0xFF
    claimed = world.need(mallory)
    fields = list(msgpack.unpackb(claimed.payload))
    fields[2] = ward.id  # claims ward wrote it; mallory signed it
    wrong_author = encode([encode(fields), claimed.sig])
    future = world.need(mallory, hlc=(SystemClock().now_ms() + 3_600_000) << 16)
    return [bytes(bad_signature), wrong_author, future.wire]


def _key(wire: bytes) -> tuple[int, bytes]:
    payload = msgpack.unpackb(wire)[0]
    return msgpack.unpackb(payload)[3], hashlib.blake2b(payload, digest_size=32).digest()


class Forger:
    """A configured peer that speaks the protocol well enough to offer forged events: a valid
    hello, reconciliation over its forged set, forged wires on fetch, and on its stream a
    garbage frame on odd connections and a frame of forgeries on even ones. Without
    ``in_rounds`` it offers its forgeries on its stream only."""

    def __init__(self, world: World, *, in_rounds: bool = True) -> None:
        self.identity = SigningIdentity(secrets.token_bytes(32))
        self.wires = forged_wires(world)
        self.by_id = {_key(w)[1]: w for w in self.wires}
        offered = sorted(_key(w) for w in self.wires) if in_rounds else []
        self.index = FingerprintIndex.from_sorted(offered)
        self.streams = 0
        self.fetched = 0

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/fed/v1/hello", self.hello),
            web.post("/fed/v1/reconcile", self.reconcile),
            web.post("/fed/v1/events/fetch", self.fetch),
            web.post("/fed/v1/events/push", self.push),
            web.get("/fed/v1/stream", self.stream),
        ]

    async def hello(self, request: web.Request) -> web.Response:
        mine = Hello(node=self.identity.public_key, org=self.identity.public_key, name="forger")
        return web.Response(body=mine.encode(), content_type=MSGPACK)

    async def reconcile(self, request: web.Request) -> web.Response:
        return web.Response(body=respond(self.index, await request.read()))

    async def fetch(self, request: web.Request) -> web.Response:
        wanted = FetchRequest.decode(await request.read()).ids
        found = tuple(self.by_id[i] for i in wanted if i in self.by_id)
        self.fetched += len(found)
        return web.Response(body=FetchReply(found).encode(), content_type=MSGPACK)

    async def push(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=PushReply(0, 0, 0, 0).encode(), content_type=MSGPACK)

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.streams += 1
        if self.streams % 2:
            await ws.send_bytes(b"\xc1 not a frame")
        else:
            await ws.send_bytes(StreamFrame(tuple(self.wires)).encode())
        async for _ in ws:
            pass
        return ws


async def babble(request: web.Request) -> web.Response:
    """A configured peer whose hello is not msgpack at all."""
    return web.Response(body=b"\xc1<html>surprise</html>", content_type=MSGPACK)


async def endless(request: web.Request) -> web.StreamResponse:
    """A configured peer that answers a hello with an endless body (no Content-Length)."""
    reply = web.StreamResponse()
    await reply.prepare(request)
    chunk = bytes(1024 * 1024)
    for _ in range(MAX_BODY_BYTES // len(chunk) + 8):
        await reply.write(chunk)
    return reply


# -- in-process: quick ----------------------------------------------------------------------------

QUICK = ServiceSettings(
    gossip=GossipSettings(interval_s=0.3, request_timeout_s=5.0, round_timeout_s=10.0)
)


async def test_configured_hostile_peers_show_in_their_peer_state(tmp_path: Path) -> None:
    forger = Forger(World(SystemClock().now_ms()))
    streamer = Forger(World(SystemClock().now_ms()), in_rounds=False)
    async with (
        fake_peer(forger.routes()) as forger_url,
        fake_peer(streamer.routes()) as streamer_url,
        fake_peer([web.post("/fed/v1/hello", babble)]) as babbler_url,
        fake_peer([web.post("/fed/v1/hello", endless)]) as endless_url,
        service_in_process(tmp_path, settings=QUICK) as node,
    ):
        for url in (forger_url, streamer_url, babbler_url, endless_url):
            await add_peer(node.node.store, url, SystemClock().now_ms())
        await node.federation.sync_now(timeout_s=10)

        async def states() -> dict[str, Any]:
            return {s.url: s for s in await peer_states(node.node.store)}

        async def stream_seen() -> bool:
            return forger.streams >= 2 and streamer.streams >= 2

        await eventually(stream_seen, timeout_s=15, what="two stream connections to the forger")
        await node.federation.sync_now(timeout_s=10)
        by_url = await states()
        assert await node.node.store.event_count() == 2  # its own incept and profile only

    forged = by_url[forger_url]
    assert forged.last_outcome == "ok" and not forged.in_sync  # it keeps offering them
    # Three forgeries per round fetched, plus the stream's garbage frame and forgeries.
    assert forged.rejected_in >= 2 * 3 + 1 + 3
    assert forged.last_rejection in {"bad_signature", "future_timestamp", "malformed"}
    assert forged.events_in == 0
    # What came over the stream only is counted too (folded in at the next round).
    streamed = by_url[streamer_url]
    assert streamed.rejected_in >= 1 + 3 and streamed.events_in == 0
    assert streamer.fetched == 0
    babbler = by_url[babbler_url]
    assert (babbler.last_outcome, babbler.in_sync) == ("bad_reply", False)
    assert babbler.failures >= 1 and babbler.backoff_ms > 0 and babbler.last_success_ms is None
    assert "hello" in (babbler.last_error or "")
    hoarder = by_url[endless_url]
    assert hoarder.last_outcome == "too_large" and hoarder.failures >= 1


async def test_a_stream_flood_is_cut_off_like_a_request_flood(tmp_path: Path) -> None:
    settings = ServiceSettings(limits=ServerLimits(node_rate=5.0, node_burst=20))
    me = SigningIdentity(secrets.token_bytes(32))
    async with (
        service_in_process(tmp_path, settings=settings) as node,
        aiohttp.ClientSession() as http,
    ):
        client = PeerClient(http, me, service_url(node), SystemClock())
        await client.hello(hello_for(me))
        ws = await client.open_stream()
        empty = StreamFrame(()).encode()  # nothing to verify, but work for the node all the same
        with contextlib.suppress(ConnectionError):
            for _ in range(100):
                await ws.send_bytes(empty)
        assert await _closed_by_peer(ws, within_s=5) == "1013"  # try again later
        await node.inbound.flush(node.node.store)
        [row] = await inbound_states(node.node.store)
    assert row.node_key == me.public_key and row.last_refusal == "rate_limited"


async def test_a_configured_peer_flooding_its_stream_is_cut_off(tmp_path: Path) -> None:
    async def hello(request: web.Request) -> web.Response:
        mine = Hello(node=FLOODER.public_key, org=FLOODER.public_key, name="flooder")
        return web.Response(body=mine.encode(), content_type=MSGPACK)

    async def reconcile(request: web.Request) -> web.Response:
        return web.Response(body=respond(FingerprintIndex.from_sorted([]), await request.read()))

    async def push(request: web.Request) -> web.Response:
        return web.Response(body=PushReply(0, 0, 0, 0).encode(), content_type=MSGPACK)

    async def stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(1000):
                await ws.send_bytes(StreamFrame(()).encode())
        async for _ in ws:
            pass
        return ws

    routes = [
        web.post("/fed/v1/hello", hello),
        web.post("/fed/v1/reconcile", reconcile),
        web.post("/fed/v1/events/push", push),
        web.get("/fed/v1/stream", stream),
    ]
    settings = ServiceSettings(gossip=GossipSettings(interval_s=0.3, stream_burst=50))
    async with fake_peer(routes) as url, service_in_process(tmp_path, settings=settings) as node:
        await add_peer(node.node.store, url, SystemClock().now_ms())

        async def refused() -> bool:
            states = await peer_states(node.node.store)
            return bool(states) and states[0].last_rejection == "rate_limited"

        await eventually(refused, timeout_s=10, what="the stream flood to be refused")


FLOODER = SigningIdentity(bytes([9]) * 32)


async def test_a_node_stops_promptly_while_a_peer_trickles_a_request(tmp_path: Path) -> None:
    async with service_in_process(tmp_path) as node:
        _, writer = await asyncio.open_connection("127.0.0.1", node.port)
        writer.write(
            b"POST /fed/v1/events/push HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab"
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        started = time.monotonic()
        # (the context manager's own stop then finds everything already stopped)
        await node.stop()
        node.runner = None
        assert time.monotonic() - started < node.settings.shutdown_s + 1.0
        writer.close()


# -- real processes: slow -------------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path) as nodes:
        yield nodes


async def _closed_by_peer(ws: aiohttp.ClientWebSocketResponse, within_s: float) -> str | None:
    """The close code if the node closes the socket within ``within_s``, else None (frames
    it pushes meanwhile, its own new events, are skipped)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        receiving = asyncio.ensure_future(ws.receive())
        done, _ = await asyncio.wait({receiving}, timeout=left)
        if not done:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
            return None
        message = receiving.result()
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return str(ws.close_code)
    return None


class Attack:
    """A hostile node key connecting in from 127.0.0.2 and trying everything in turn."""

    def __init__(self, target: NodeHandle, forged: list[bytes]) -> None:
        self.target = target
        self.forged = forged
        self.identity = SigningIdentity(secrets.token_bytes(32))
        self.seen: list[tuple[str, int, str | None]] = []
        self.retry_after: list[str] = []

    def headers(
        self, path: str, body: bytes, *, time_ms: int | None = None, method: str = "POST"
    ) -> dict[str, str]:
        return sign_request(
            self.identity,
            method,
            path,
            body,
            to=self.target.node_key,
            time_ms=time_ms or SystemClock().now_ms(),
            nonce=secrets.token_bytes(16),
        ).as_headers()

    async def post(
        self,
        http: aiohttp.ClientSession,
        what: str,
        path: str,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        data: bytes | io.BytesIO = io.BytesIO(body) if len(body) > 2**20 else body
        async with http.post(self.target.url + path, data=data, headers=headers) as reply:
            await reply.read()
            self.seen.append((what, reply.status, reply.headers.get("Aid-Error")))
            if reply.status == 429:
                self.retry_after.append(reply.headers["Retry-After"])

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0), limit=50)
        async with aiohttp.ClientSession(connector=connector) as http:
            push = "/fed/v1/events/push"
            empty = encode({"events": []})
            await self.post(http, "unsigned", push, empty, {})
            stale = SystemClock().now_ms() - 10 * 60_000
            await self.post(http, "stale", push, empty, self.headers(push, empty, time_ms=stale))
            await self.post(http, "bad signature", push, empty, self.headers(push, b"other"))
            replayed = self.headers(push, empty)
            await self.post(http, "original", push, empty, replayed)
            await self.post(http, "replay", push, empty, replayed)
            future = {**msgpack.unpackb(hello_for(self.identity).encode()), "version": 2}
            body = encode(future)
            await self.post(
                http, "hello v2", "/fed/v1/hello", body, self.headers("/fed/v1/hello", body)
            )
            for path in ("/fed/v1/hello", "/fed/v1/reconcile", "/fed/v1/events/fetch", push):
                for garbage in (b"", b"\xc1", secrets.token_bytes(2000), encode([1])):
                    await self.post(http, "garbage", path, garbage, self.headers(path, garbage))
            forged = encode({"events": list(self.forged)})
            await self.post(http, "forged", push, forged, self.headers(push, forged))
            huge = bytes(MAX_BODY_BYTES + 1)
            await self.post(http, "oversized", push, huge, self.headers(push, huge))
            await self.streams(http)
            await self.flood(http, empty)

    async def streams(self, http: aiohttp.ClientSession) -> None:
        path = "/fed/v1/stream"
        for what, frame in (
            ("stream garbage", b"\xc1 garbage"),
            ("stream forged", StreamFrame(tuple(self.forged)).encode()),
        ):
            ws = await http.ws_connect(
                self.target.url + path, headers=self.headers(path, b"", method="GET")
            )
            await ws.send_bytes(frame)
            self.seen.append((what, 101, await _closed_by_peer(ws, within_s=0.5)))
            await ws.close()

    async def flood(self, http: aiohttp.ClientSession, empty: bytes) -> None:
        push = "/fed/v1/events/push"
        for _ in range(8):
            await asyncio.gather(
                *(self.post(http, "flood", push, empty, self.headers(push, empty))
                  for _ in range(50))
            )  # fmt: skip

    def statuses(self, what: str) -> set[tuple[int, str | None]]:
        return {(status, code) for name, status, code in self.seen if name == what}


@pytest.mark.slow
async def test_honest_nodes_keep_syncing_while_hostile_peers_attack(
    cluster: Cluster, tmp_path: Path
) -> None:
    world = World(SystemClock().now_ms())
    forger = Forger(world)
    async with (
        fake_peer(forger.routes()) as forger_url,
        fake_peer([web.post("/fed/v1/hello", babble)]) as babbler_url,
    ):
        a = cluster.make("a", sync_interval_s=1.0)
        b = cluster.make("b", sync_interval_s=1.0)
        cluster.link(a, b)
        cluster.add_peer(a, forger_url)
        cluster.add_peer(a, babbler_url)
        cluster.start_all()
        await eventually(lambda: a.has_all(b.event_ids()), timeout_s=10, what="a first sync")

        attack = Attack(a, forger.wires)
        latencies: list[float] = []
        honest_ids: list[bytes] = []
        attacking = asyncio.create_task(attack.run())
        async with signed_client(b.url) as writer:
            ward = world.org("honest ward")
            while not attacking.done() or len(latencies) < 5:
                need = world.need(ward)
                posted = time.monotonic()
                assert (await writer.push([need.wire])).accepted == 1
                honest_ids.append(need.id)
                await eventually(
                    lambda need=need: a.has_all([need.id]),  # type: ignore[misc]
                    timeout_s=5,
                    what="an honest event from b to reach a during the attack",
                )
                latencies.append(time.monotonic() - posted)
        await attacking  # re-raises anything the attack itself got wrong

        # What the attacker saw: every refusal with its status and code.
        assert attack.statuses("unsigned") == {(401, "unsigned")}
        assert attack.statuses("stale") == {(401, "stale")}
        assert attack.statuses("bad signature") == {(401, "bad_signature")}
        assert attack.statuses("original") == {(200, None)}
        assert attack.statuses("replay") == {(401, "replayed")}
        assert attack.statuses("hello v2") == {(400, "unknown_version")}
        assert {s for s, _ in attack.statuses("garbage")} == {400}
        assert attack.statuses("forged") == {(200, None)}
        assert attack.statuses("oversized") == {(413, "too_large")}
        assert attack.statuses("stream garbage") == {(101, "1003")}  # closed: unsupported data
        assert attack.statuses("stream forged") == {(101, None)}  # refused events, kept open
        assert (429, "rate_limited") in attack.statuses("flood")
        assert attack.retry_after and all(int(v) >= 1 for v in attack.retry_after)

        # Honest sync never stalled, and both honest nodes hold the same, valid events.
        assert max(latencies) < 5
        await eventually(
            lambda: a.event_ids() == b.event_ids(), timeout_s=10, what="a and b to agree"
        )
        ids = a.event_ids()
        assert set(honest_ids) <= ids
        assert not ids & {_key(w)[1] for w in forger.wires}
        assert a.running and b.running
        async with signed_client(a.url) as probe:
            started = time.monotonic()
            await probe.push([])
            assert time.monotonic() - started < 1.0

        # The attacker is in a's inbound table; the forger and babbler in its peers rows.
        async def attacker_counted() -> bool:
            row = await _inbound(a, attack.identity.public_key)
            return row is not None and row.rejected_in >= 6

        await eventually(attacker_counted, timeout_s=15, what="a's inbound counts flushed")
        row = await _inbound(a, attack.identity.public_key)
        assert row is not None
        assert row.refused >= 15  # garbage, v2 hello, stale, replay, floods…
        assert row.last_rejection in {"bad_signature", "future_timestamp"}
        peers = a.peer_rows()
        assert peers[forger_url]["rejected_in"] > 0 and not peers[forger_url]["in_sync"]
        assert peers[babbler_url]["last_outcome"] == "bad_reply"
        assert peers[babbler_url]["failures"] >= 1
        assert peers[b.url]["last_outcome"] == "ok" and peers[b.url]["rejected_in"] == 0
    for node in (a, b):
        assert "Traceback" not in node.log_text(), node.log_text()
        assert await _problems(node) == []


async def _inbound(handle: NodeHandle, key: bytes) -> Any:
    store = await Store.open(handle.home.db_path, clock=ManualClock(), workers=1)
    try:
        rows = {s.node_key: s for s in await inbound_states(store)}
    finally:
        await store.close()
    return rows.get(key)


async def _problems(handle: NodeHandle) -> list[str]:
    store = await Store.open(handle.home.db_path, clock=ManualClock(), workers=1)
    try:
        return await store.check()
    finally:
        await store.close()


# -- the node's own storage failing ----------------------------------------------------------------


async def test_a_node_whose_disk_fails_answers_503_and_its_gossip_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(SystemClock().now_ms())
    async with (
        service_in_process(tmp_path, "a", settings=QUICK) as a,
        service_in_process(tmp_path, "b", settings=QUICK) as b,
    ):
        await add_peer(a.node.store, service_url(b), SystemClock().now_ms())
        await a.federation.sync_now(timeout_s=10)
        await eventually(
            lambda: a.federation.streams_open.get(service_url(b), False),
            timeout_s=10,
            what="a's stream to b",
        )

        async def disk_full(*args: Any, **kwargs: Any) -> Any:
            raise StorageError(str(a.node.store.path), "disk full: free space on the disk")

        monkeypatch.setattr(a.node.store, "ingest", disk_full)
        need = world.need(world.org("ward"))
        async with signed_client(service_url(a)) as client:
            with pytest.raises(PeerError) as caught:
                await client.push([need.wire])
        assert caught.value.code == "storage"
        assert "cannot serve now" in str(caught.value) and "retry after 5 s" in str(caught.value)
        # Meanwhile b commits an event: its push to a fails on a's side, and a's round fails.
        offer = world.offer(world.org("convoy"))
        await b.node.store.add([offer])
        states = await a.federation.sync_now(timeout_s=10)
        assert states[0].last_outcome == "storage"
        await asyncio.sleep(0.5)  # let the stream hit the failure too
        monkeypatch.undo()
        assert not any(task.done() for task in a.federation._tasks[service_url(b)])
        # The disk is back: gossip resumes by itself (the loops did not die).
        await eventually(
            lambda: _holds(a, offer.id), timeout_s=15, what="the offer to reach a after"
        )


async def _holds(service: Any, event_id: bytes) -> bool:
    found, _ = await service.node.store.wires([event_id])
    return event_id in found


async def test_a_stream_frame_the_node_cannot_store_closes_the_stream_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(SystemClock().now_ms())
    me = SigningIdentity(secrets.token_bytes(32))
    async with service_in_process(tmp_path) as node, aiohttp.ClientSession() as http:

        async def disk_full(*args: Any, **kwargs: Any) -> Any:
            raise StorageError(str(node.node.store.path), "disk full")

        monkeypatch.setattr(node.node.store, "ingest", disk_full)
        client = PeerClient(http, me, service_url(node), SystemClock())
        await client.hello(hello_for(me))
        ws = await client.open_stream()
        await ws.send_bytes(StreamFrame((world.need(world.org("ward")).wire,)).encode())
        assert await _closed_by_peer(ws, within_s=5) == "1011"
        monkeypatch.undo()
        again = await client.open_stream()  # the node itself is fine
        await again.close()


async def test_a_peer_inventing_ids_endlessly_gets_a_bounded_round(tmp_path: Path) -> None:
    # Each reply claims 1900 more made-up ids and defers the rest: without a bound, one
    # round would grow to millions of ids (a gigabyte) before reconciliation gave up.
    asked = []

    async def hello(request: web.Request) -> web.Response:
        mine = Hello(node=FLOODER.public_key, org=FLOODER.public_key, name="inventor")
        return web.Response(body=mine.encode(), content_type=MSGPACK)

    async def reconcile(request: web.Request) -> web.Response:
        query = parse_query(await request.read(), max_bytes=1 << 20)
        asked.append(len(query.entries))
        lower = Bound(hlc=0)
        for entry in query.entries:
            if not isinstance(entry, Skip):
                break
            lower = entry.upper
        # Answer the first range asked about with made-up ids (and, for an id list, "I have
        # all of yours"), then defer everything after it, a hair further on each time.
        listed = len(entry.hashes) if isinstance(entry, IdList) else 0
        ids = tuple(secrets.token_bytes(32) for _ in range(1900))
        upper = Bound(hlc=lower.hlc + 1)
        entries: list[Any] = [Skip(upper=lower)] if lower.hlc else []
        entries += [Ids(upper=upper, ids=ids, lacks=(False,) * listed), Defer()]
        return web.Response(body=encode_reply(Reply(entries=tuple(entries))))

    async def fetch(request: web.Request) -> web.Response:
        return web.Response(body=FetchReply(()).encode(), content_type=MSGPACK)

    routes = [
        web.post("/fed/v1/hello", hello),
        web.post("/fed/v1/reconcile", reconcile),
        web.post("/fed/v1/events/fetch", fetch),
    ]
    settings = ServiceSettings(gossip=GossipSettings(interval_s=60.0, max_session_rounds=20))
    async with fake_peer(routes) as url, service_in_process(tmp_path, settings=settings) as node:
        await add_peer(node.node.store, url, SystemClock().now_ms())
        [state] = await node.federation.sync_now(timeout_s=20)
    assert len(asked) == 20  # and not followed at once by another: it brought nothing
    assert (state.last_outcome, state.in_sync, state.events_in) == ("ok", False, 0)
