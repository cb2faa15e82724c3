"""Who may talk to a node: request signatures (every :class:`AuthCode`), the nonce cache, the
rate limiter, and the gate in front of every ``/fed/v1`` endpoint, on a node served in-process.
"""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from crypto.signing import SigningIdentity
from node.errors import PeerError
from node.federation.client import PeerClient
from node.federation.guard import NonceCache, RateLimiter
from node.federation.peers import InboundLedger, inbound_states
from node.federation.server import ServerLimits
from node.service import NodeService, ServiceSettings
from node.storage import Store
from protocol import encode
from protocol.federation import (
    MAX_BODY_BYTES,
    REQUEST_DOMAIN,
    AuthCode,
    AuthError,
    Hello,
    SignedHeaders,
    request_message,
    sign_request,
    verify_request,
)
from sync.clock import ManualClock
from tests.federation_harness import fake_peer, hello_for, service_in_process, service_url

ALICE = SigningIdentity(bytes([1]) * 32)
BOB = SigningIdentity(bytes([2]) * 32)
MALLORY = SigningIdentity(bytes([3]) * 32)
NOW = 1_800_000_000_000
WINDOW = 60_000
NONCE = bytes(range(16))


def signed(
    method: str = "POST",
    target: str = "/fed/v1/events/push",
    body: bytes = b"\x80",
    *,
    by: SigningIdentity = ALICE,
    to: bytes | None = BOB.public_key,
    time_ms: int = NOW,
    nonce: bytes = NONCE,
) -> SignedHeaders:
    return sign_request(by, method, target, body, to=to, time_ms=time_ms, nonce=nonce)


def check(
    headers: SignedHeaders,
    method: str = "POST",
    target: str = "/fed/v1/events/push",
    body: bytes = b"\x80",
    *,
    now_ms: int = NOW,
) -> None:
    verify_request(
        headers, method, target, body, me=BOB.public_key, now_ms=now_ms, window_ms=WINDOW
    )


def auth_code(call: Any, *args: Any, **kwargs: Any) -> AuthCode:
    with pytest.raises(AuthError) as caught:
        call(*args, **kwargs)
    return caught.value.code


# -- signing and verifying a request ------------------------------------------------------------


def test_a_signed_request_verifies_for_its_recipient() -> None:
    check(signed())
    check(signed(to=None))  # a hello before the peer's key is known
    check(signed(time_ms=NOW - WINDOW), now_ms=NOW)  # the window's edges are inside
    check(signed(time_ms=NOW + WINDOW), now_ms=NOW)


def test_headers_round_trip_through_http_header_form() -> None:
    headers = signed()
    assert SignedHeaders.parse(headers.as_headers()) == headers
    assert "Aid-To" not in signed(to=None).as_headers()
    assert SignedHeaders.parse(signed(to=None).as_headers()).to is None


@pytest.mark.parametrize(
    "tamper",
    [
        {"method": "PUT"},
        {"target": "/fed/v1/events/fetch"},
        {"target": "/fed/v1/events/push?x=1"},
        {"body": b"\x81"},
    ],
)
def test_changing_anything_signed_breaks_the_signature(tamper: dict[str, Any]) -> None:
    assert auth_code(check, signed(), **tamper) is AuthCode.BAD_SIGNATURE


def test_time_nonce_and_recipient_are_covered_by_the_signature() -> None:
    original = signed()
    for changed in (
        SignedHeaders(original.node, original.to, NOW + 1, original.nonce, original.signature),
        SignedHeaders(original.node, original.to, NOW, bytes(16), original.signature),
        SignedHeaders(MALLORY.public_key, original.to, NOW, original.nonce, original.signature),
        SignedHeaders(original.node, None, NOW, original.nonce, original.signature),
    ):
        assert auth_code(check, changed) is AuthCode.BAD_SIGNATURE


def test_a_signature_by_another_key_does_not_verify_for_the_claimed_node() -> None:
    forged = signed(by=MALLORY)
    claimed = SignedHeaders(ALICE.public_key, forged.to, NOW, forged.nonce, forged.signature)
    assert auth_code(check, claimed) is AuthCode.BAD_SIGNATURE


def test_the_request_domain_separates_request_signatures_from_other_signatures() -> None:
    message = request_message("POST", "/fed/v1/events/push", BOB.public_key, NOW, NONCE, b"\x80")
    wrong_domain = ALICE.sign(b"aidnode/v1\0", message)  # the event domain
    headers = SignedHeaders(ALICE.public_key, BOB.public_key, NOW, NONCE, wrong_domain)
    assert auth_code(check, headers) is AuthCode.BAD_SIGNATURE
    right = SignedHeaders(
        ALICE.public_key, BOB.public_key, NOW, NONCE, ALICE.sign(REQUEST_DOMAIN, message)
    )
    check(right)


def test_a_request_signed_for_another_node_is_refused() -> None:
    assert auth_code(check, signed(to=MALLORY.public_key)) is AuthCode.WRONG_RECIPIENT


@pytest.mark.parametrize("offset", [-WINDOW - 1, WINDOW + 1, -10 * WINDOW, 10 * WINDOW])
def test_a_request_outside_the_replay_window_is_stale(offset: int) -> None:
    assert auth_code(check, signed(time_ms=NOW + offset)) is AuthCode.STALE


def test_missing_headers_mean_unsigned() -> None:
    full = signed().as_headers()
    assert auth_code(SignedHeaders.parse, {}) is AuthCode.UNSIGNED
    for name in ("Aid-Node", "Aid-Time", "Aid-Nonce", "Aid-Signature"):
        partial = {k: v for k, v in full.items() if k != name}
        assert auth_code(SignedHeaders.parse, partial) is AuthCode.UNSIGNED


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Aid-Node", "zz" * 32),
        ("Aid-Node", "ab" * 31),
        ("Aid-To", "ab" * 33),
        ("Aid-Time", "soon"),
        ("Aid-Time", "-5"),
        ("Aid-Time", str(2**53)),
        ("Aid-Nonce", "ab" * 15),
        ("Aid-Signature", "ab" * 63),
        ("Aid-Signature", "not hex at all"),
    ],
)
def test_malformed_headers_are_bad_header(name: str, value: str) -> None:
    headers = {**signed().as_headers(), name: value}
    assert auth_code(SignedHeaders.parse, headers) is AuthCode.BAD_HEADER


def test_a_nonce_is_sixteen_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        signed(nonce=bytes(8))


# -- the nonce cache ----------------------------------------------------------------------------


def test_the_nonce_cache_reports_a_replay_per_node() -> None:
    cache = NonceCache(WINDOW)
    assert not cache.seen(ALICE.public_key, NONCE, NOW, NOW)
    assert cache.seen(ALICE.public_key, NONCE, NOW, NOW + 1)
    assert not cache.seen(BOB.public_key, NONCE, NOW, NOW + 1)  # another node's nonce


def test_the_nonce_cache_remembers_as_long_as_a_request_could_be_fresh() -> None:
    cache = NonceCache(WINDOW)
    # A request stamped at the far future edge of the window stays fresh until
    # time_ms + WINDOW; the cache must still know it then.
    stamped = NOW + WINDOW
    assert not cache.seen(ALICE.public_key, NONCE, stamped, NOW)
    assert cache.seen(ALICE.public_key, NONCE, stamped, stamped + WINDOW)
    # Long after it would be refused as stale anyway, it is forgotten: memory is bounded.
    cache.seen(BOB.public_key, bytes(16), NOW, stamped + 3 * WINDOW)
    assert len(cache) == 1


def test_the_nonce_cache_never_holds_more_than_its_capacity() -> None:
    cache = NonceCache(WINDOW, capacity=100)
    for index in range(1000):
        assert not cache.seen(ALICE.public_key, index.to_bytes(16, "big"), NOW, NOW)
        assert len(cache) <= 100
    assert cache.seen(ALICE.public_key, (999).to_bytes(16, "big"), NOW, NOW)


# -- the rate limiter ---------------------------------------------------------------------------


def test_the_rate_limiter_allows_a_burst_then_asks_to_wait() -> None:
    limiter = RateLimiter(rate=10.0, burst=5)
    key = b"peer"
    assert [limiter.check(key, NOW) for _ in range(5)] == [0.0] * 5
    wait = limiter.check(key, NOW)
    assert wait == pytest.approx(0.1)  # one token at 10 per second
    assert limiter.check(key, NOW + 99) > 0
    assert limiter.check(key, NOW + 100) == 0.0
    assert limiter.check(b"other", NOW) == 0.0  # buckets are per key


def test_the_rate_limiter_refills_no_higher_than_the_burst() -> None:
    limiter = RateLimiter(rate=10.0, burst=3)
    for _ in range(3):
        limiter.check(b"k", NOW)
    later = NOW + 3_600_000
    assert [limiter.check(b"k", later) for _ in range(3)] == [0.0] * 3
    assert limiter.check(b"k", later) > 0


def test_the_rate_limiter_keeps_a_bounded_number_of_buckets() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=50)
    for index in range(1000):
        limiter.check(index.to_bytes(4, "big"), NOW)
        assert len(limiter._buckets) <= 50
    # The most recently seen keys are the ones kept: a busy key is not evicted for idle ones.
    assert limiter.check((999).to_bytes(4, "big"), NOW) > 0


# -- the gate, on a node served in-process -------------------------------------------------------

TIGHT = ServiceSettings(
    limits=ServerLimits(node_rate=5.0, node_burst=20, address_rate=1000.0, address_burst=4000)
)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[NodeService]:
    async with service_in_process(tmp_path, settings=TIGHT) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def raw_post(
    session: aiohttp.ClientSession,
    service: NodeService,
    path: str,
    body: bytes | io.BytesIO,
    headers: dict[str, str],
) -> tuple[int, str | None, dict[str, Any] | None, CIMultiDictProxy[str]]:
    async with session.post(service_url(service) + path, data=body, headers=headers) as reply:
        payload = await reply.read()
        try:
            decoded = msgpack.unpackb(payload)
        except (ValueError, msgpack.UnpackException):
            decoded = None
        return reply.status, reply.headers.get("Aid-Error"), decoded, reply.headers


def headers_for(
    service: NodeService,
    path: str,
    body: bytes,
    *,
    by: SigningIdentity = ALICE,
    time_ms: int | None = None,
    to: bytes | None = None,
    nonce: bytes | None = None,
) -> dict[str, str]:
    return sign_request(
        by,
        "POST",
        path,
        body,
        to=to if to is not None else service.hello.node,
        time_ms=time_ms if time_ms is not None else service.node.clock.now_ms(),
        nonce=nonce or secrets.token_bytes(16),
    ).as_headers()


PUSH = "/fed/v1/events/push"
EMPTY_PUSH = b"\x81\xa6events\x90"  # {"events": []}


async def test_the_gate_answers_every_auth_failure_with_401_and_its_code(
    service: NodeService, session: aiohttp.ClientSession
) -> None:
    now = service.node.clock.now_ms()
    good = headers_for(service, PUSH, EMPTY_PUSH)
    cases: list[tuple[dict[str, str], AuthCode]] = [
        ({}, AuthCode.UNSIGNED),
        ({**good, "Aid-Nonce": "xyz"}, AuthCode.BAD_HEADER),
        (headers_for(service, PUSH, EMPTY_PUSH, time_ms=now - 2 * WINDOW), AuthCode.STALE),
        (headers_for(service, PUSH, EMPTY_PUSH, time_ms=now + 2 * WINDOW), AuthCode.STALE),
        (headers_for(service, PUSH, b"\x80"), AuthCode.BAD_SIGNATURE),  # signed another body
        (headers_for(service, PUSH, EMPTY_PUSH, to=MALLORY.public_key), AuthCode.WRONG_RECIPIENT),
    ]
    for headers, code in cases:
        status, error, body, _ = await raw_post(session, service, PUSH, EMPTY_PUSH, headers)
        assert (status, error) == (401, code.value), (code, body)
        assert body is not None and body["code"] == code.value and body["detail"]
    # The same signed request twice: the second is a replay.
    status, _, _, _ = await raw_post(session, service, PUSH, EMPTY_PUSH, good)
    assert status == 200
    status, error, _, _ = await raw_post(session, service, PUSH, EMPTY_PUSH, good)
    assert (status, error) == (401, AuthCode.REPLAYED.value)


async def test_refusals_are_counted_against_the_node_that_claimed_them(
    service: NodeService, session: aiohttp.ClientSession
) -> None:
    stale = headers_for(service, PUSH, EMPTY_PUSH, by=MALLORY, time_ms=1)
    await raw_post(session, service, PUSH, EMPTY_PUSH, stale)
    await raw_post(session, service, PUSH, b"\x00", headers_for(service, PUSH, b"\x00", by=MALLORY))
    await service.inbound.flush(service.node.store)
    [mallory] = await inbound_states(service.node.store)
    assert mallory.node_key == MALLORY.public_key
    assert (mallory.requests, mallory.refused, mallory.last_refusal) == (2, 2, "malformed")


async def test_an_oversized_body_is_refused_with_413_before_its_signature_is_checked(
    service: NodeService, session: aiohttp.ClientSession
) -> None:
    huge = io.BytesIO(bytes(MAX_BODY_BYTES + 1))
    status, error, _, _ = await raw_post(session, service, PUSH, huge, {})
    assert (status, error) == (413, "too_large")


async def test_a_flood_from_one_node_gets_429_with_retry_after(
    service: NodeService, session: aiohttp.ClientSession
) -> None:
    statuses = []
    retry_after = None
    for _ in range(TIGHT.limits.node_burst + 5):
        status, error, _, headers = await raw_post(
            session, service, PUSH, EMPTY_PUSH, headers_for(service, PUSH, EMPTY_PUSH, by=MALLORY)
        )
        statuses.append(status)
        if status == 429:
            assert error == "rate_limited"
            retry_after = headers["Retry-After"]
    assert statuses.count(200) >= TIGHT.limits.node_burst
    assert 429 in statuses
    assert retry_after is not None and int(retry_after) >= 1
    # Another node is not slowed down by Mallory's flood.
    status, _, _, _ = await raw_post(
        session, service, PUSH, EMPTY_PUSH, headers_for(service, PUSH, EMPTY_PUSH, by=ALICE)
    )
    assert status == 200


async def test_a_flood_from_one_address_is_cut_before_any_signature_work(tmp_path: Path) -> None:
    settings = ServiceSettings(limits=ServerLimits(address_rate=1.0, address_burst=10))
    async with (
        service_in_process(tmp_path, settings=settings) as node,
        aiohttp.ClientSession() as http,
    ):
        statuses = [(await raw_post(http, node, PUSH, EMPTY_PUSH, {}))[0] for _ in range(15)]
    assert statuses[:10] == [401] * 10  # unsigned, but each one counted against the address
    assert set(statuses[10:]) == {429}


# -- hello and versions -------------------------------------------------------------------------


async def test_hello_pins_the_nodes_key(service: NodeService) -> None:
    async with aiohttp.ClientSession() as http:
        client = PeerClient(http, ALICE, service_url(service), service.node.clock)
        theirs = await client.hello(hello_for(ALICE))
    assert theirs == service.hello
    assert client.pinned == service.hello.node


async def test_a_hello_of_version_2_is_refused_with_unknown_version(service: NodeService) -> None:
    mine = Hello(node=ALICE.public_key, org=ALICE.public_key, name="future", version=2)
    async with aiohttp.ClientSession() as http:
        client = PeerClient(http, ALICE, service_url(service), service.node.clock)
        with pytest.raises(PeerError) as caught:
            await client.hello(mine)
    assert caught.value.code == "unknown_version"
    assert "v1" in str(caught.value)


async def test_a_hello_claiming_another_node_key_is_refused(service: NodeService) -> None:
    mine = hello_for(MALLORY)  # signed by ALICE below
    async with aiohttp.ClientSession() as http:
        client = PeerClient(http, ALICE, service_url(service), service.node.clock)
        with pytest.raises(PeerError) as caught:
            await client.hello(mine)
    assert caught.value.code == "bad_field"


async def test_a_client_refuses_a_node_whose_key_changed(service: NodeService) -> None:
    async with aiohttp.ClientSession() as http:
        client = PeerClient(
            http, ALICE, service_url(service), service.node.clock, pinned=MALLORY.public_key
        )
        with pytest.raises(PeerError) as caught:
            await client.hello(hello_for(ALICE))
    # Signed for the pinned (wrong) key, so the node itself refuses it as not meant for it.
    assert caught.value.code == AuthCode.WRONG_RECIPIENT.value


async def test_a_client_with_a_skewed_clock_is_told_it_is_stale(service: NodeService) -> None:
    skewed = ManualClock(service.node.clock.now_ms() - 5 * WINDOW)
    async with aiohttp.ClientSession() as http:
        client = PeerClient(http, ALICE, service_url(service), skewed)
        with pytest.raises(PeerError) as caught:
            await client.hello(hello_for(ALICE))
    assert caught.value.code == AuthCode.STALE.value
    assert "ms off" in str(caught.value)


async def test_concurrent_requests_with_fresh_nonces_all_pass(service: NodeService) -> None:
    async with aiohttp.ClientSession() as http:
        client = PeerClient(http, ALICE, service_url(service), service.node.clock)
        await client.hello(hello_for(ALICE))
        replies = await asyncio.gather(*(client.push([]) for _ in range(10)))
    assert all(reply.accepted == 0 for reply in replies)


async def test_a_newer_hello_with_fields_this_version_lacks_still_gets_unknown_version(
    service: NodeService, session: aiohttp.ClientSession
) -> None:
    future = {**msgpack.unpackb(hello_for(ALICE).encode()), "version": 2, "resume": True}
    body = encode(future)
    path = "/fed/v1/hello"
    status, error, reply, _ = await raw_post(
        session, service, path, body, headers_for(service, path, body, to=None)
    )
    assert (status, error) == (400, "unknown_version"), reply


async def test_a_client_refuses_a_peer_that_answers_with_another_version() -> None:
    async def hello(request: web.Request) -> web.Response:
        future = Hello(node=BOB.public_key, org=BOB.public_key, name="future", version=2)
        return web.Response(body=future.encode(), content_type="application/x-msgpack")

    async with (
        fake_peer([web.post("/fed/v1/hello", hello)]) as url,
        aiohttp.ClientSession() as http,
    ):
        client = PeerClient(http, ALICE, url, ManualClock(NOW))
        with pytest.raises(PeerError) as caught:
            await client.hello(hello_for(ALICE))
    assert caught.value.code == "unknown_version"
    assert client.pinned is None


async def test_a_refusal_is_held_against_a_node_only_if_it_signed_the_request(
    service: NodeService, session: aiohttp.ClientSession
) -> None:
    now = service.node.clock.now_ms()
    # Mallory names Alice's key on requests Alice never signed: bad signature, and stale.
    forged = headers_for(service, PUSH, EMPTY_PUSH, by=MALLORY)
    for headers in (
        {**forged, "Aid-Node": ALICE.public_key.hex()},
        {
            **headers_for(service, PUSH, EMPTY_PUSH, by=MALLORY, time_ms=now - 5 * WINDOW),
            "Aid-Node": ALICE.public_key.hex(),
        },
    ):
        status, _, _, _ = await raw_post(session, service, PUSH, EMPTY_PUSH, headers)
        assert status == 401
    # Invented keys cost nothing: a stream of them must not grow the inbound table.
    for _ in range(50):
        fake = {**forged, "Aid-Node": secrets.token_bytes(32).hex()}
        await raw_post(session, service, PUSH, EMPTY_PUSH, fake)
    # Mallory's own stale request carries her valid signature: that one is hers.
    mine = headers_for(service, PUSH, EMPTY_PUSH, by=MALLORY, time_ms=now - 5 * WINDOW)
    await raw_post(session, service, PUSH, EMPTY_PUSH, mine)
    await service.inbound.flush(service.node.store)
    states = await inbound_states(service.node.store)
    assert [(s.node_key, s.refused, s.last_refusal) for s in states] == [
        (MALLORY.public_key, 1, "stale")
    ]
    assert service.server.unauthenticated == {"bad_signature": 51, "stale": 1}


async def test_the_inbound_table_keeps_the_most_recently_seen_nodes(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "node.sqlite", clock=ManualClock(NOW))
    try:
        ledger = InboundLedger(max_rows=10)
        for round_number in range(3):
            for index in range(10):
                key = bytes([round_number, index]) * 16
                ledger.note(key, NOW + round_number * 1000 + index)
            await ledger.flush(store)
        states = await inbound_states(store)
    finally:
        await store.close()
    assert len(states) == 10
    assert {s.node_key[0] for s in states} == {2}  # the last round's nodes
