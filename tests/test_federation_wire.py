"""The bodies of federation v1 (protocol/federation.py): exact round trips, strict refusals,
and no input, however hostile, escaping as anything but :class:`ProtocolError` -- then the
same inputs thrown at a node served in-process, which must answer each with a 4xx and a code
and keep serving.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.signing import SigningIdentity
from node.clock import SystemClock
from node.federation.client import PeerClient
from node.service import NodeService
from protocol import ProtocolError, ReasonCode, encode
from protocol.federation import (
    MAX_BATCH_EVENTS,
    MAX_FETCH_IDS,
    FetchReply,
    FetchRequest,
    Hello,
    PushReply,
    PushRequest,
    StreamFrame,
    sign_request,
)
from sync.fingerprint_index import FingerprintIndex
from sync.reconcile import Initiator, respond
from tests.builders import World
from tests.federation_harness import hello_for, service_in_process, service_url

STRANGER = SigningIdentity(bytes([7]) * 32)
KEY = bytes(range(32))
ID = bytes(32)
DECODERS: list[Callable[[bytes], object]] = [
    Hello.decode,
    FetchRequest.decode,
    FetchReply.decode,
    PushRequest.decode,
    PushReply.decode,
    StreamFrame.decode,
]


def refusal(decoder: Callable[[bytes], object], body: bytes) -> ReasonCode:
    with pytest.raises(ProtocolError) as caught:
        decoder(body)
    return caught.value.code


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        Hello(node=KEY, org=ID, name="Ward 3 support group"),
        Hello(node=KEY, org=ID, name="n", features=(), max_body_bytes=1024, max_batch_events=1),
        FetchRequest((ID, KEY)),
        FetchRequest(()),
        FetchReply((b"\x92\xc4\x01a\xc4\x01b",), ((ID, 12345),)),
        PushRequest((b"wire",)),
        PushReply(1, 2, 3, 4, ("bad_signature", "malformed")),
        StreamFrame((b"one", b"two")),
    ],
)
def test_bodies_round_trip_exactly(message: Any) -> None:
    body = message.encode()
    assert type(message).decode(body) == message
    assert type(message).decode(body).encode() == body


def test_push_reply_codes_are_sorted_and_unique_on_the_wire() -> None:
    reply = PushReply(0, 0, 3, 0, ("malformed", "bad_signature", "malformed"))
    assert PushReply.decode(reply.encode()).codes == ("bad_signature", "malformed")


# -- strict refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", ReasonCode.MALFORMED),
        (b"\xc1", ReasonCode.MALFORMED),  # never used in msgpack
        (encode([1, 2]), ReasonCode.MALFORMED),  # not a map
        (encode({"zzz": 1}), ReasonCode.UNKNOWN_FIELD),
        (encode({}), ReasonCode.MISSING_FIELD),
        (b"\x81\xa2ab\xcc\x01", ReasonCode.NON_CANONICAL),  # 1 as uint8: not shortest form
    ],
)
def test_every_body_refuses_what_is_not_its_shape(
    decoder: Callable[[bytes], object], body: bytes, code: ReasonCode
) -> None:
    assert refusal(decoder, body) is code


def test_id_lists_are_bounded_and_typed() -> None:
    assert refusal(FetchRequest.decode, FetchRequest((ID,) * (MAX_FETCH_IDS + 1)).encode()) is (
        ReasonCode.TOO_LARGE
    )
    assert refusal(FetchRequest.decode, encode({"ids": [b"short"]})) is ReasonCode.BAD_FIELD
    assert refusal(FetchRequest.decode, encode({"ids": b"x" * 32})) is ReasonCode.BAD_FIELD
    assert refusal(FetchRequest.decode, encode({"ids": ["a" * 32]})) is ReasonCode.BAD_FIELD
    batch = PushRequest((b"w",) * (MAX_BATCH_EVENTS + 1)).encode()
    assert refusal(PushRequest.decode, batch) is ReasonCode.TOO_LARGE
    assert refusal(StreamFrame.decode, encode({"events": [1]})) is ReasonCode.BAD_FIELD


def test_fetch_reply_tombstones_are_id_and_hlc() -> None:
    for gone in ([[ID]], [[ID, -1]], [[ID, "1"]], [[b"x", 1]], [ID], [[ID, 1, 2]]):
        body = encode({"events": [], "gone": gone})
        assert refusal(FetchReply.decode, body) is ReasonCode.BAD_FIELD


def test_hello_fields_are_checked() -> None:
    good = msgpack.unpackb(Hello(node=KEY, org=ID, name="x").encode())
    for name, value in [
        ("node", b"short"),
        ("org", "text"),
        ("name", ""),
        ("name", "x" * 101),
        ("max_body_bytes", 10),
        ("max_batch_events", 0),
        ("features", ["x"] * 65),
        ("version", "1"),
    ]:
        assert refusal(Hello.decode, encode({**good, name: value})) is ReasonCode.BAD_FIELD


def test_push_reply_counts_are_bounded() -> None:
    good = msgpack.unpackb(PushReply(1, 0, 0, 0).encode())
    for value in (-1, MAX_BATCH_EVENTS + 1, "1", True):
        assert refusal(PushReply.decode, encode({**good, "accepted": value})) is (
            ReasonCode.BAD_FIELD
        )


# -- nothing escapes ----------------------------------------------------------------------------

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(["events", "ids", "gone", "node", "x"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_protocol_errors(body: bytes) -> None:
    for decoder in DECODERS:
        with contextlib.suppress(ProtocolError):
            decoder(body)


@given(plain)
def test_random_msgpack_values_raise_only_protocol_errors(value: Any) -> None:
    body = msgpack.packb(value, use_bin_type=True)
    for decoder in DECODERS:
        with contextlib.suppress(ProtocolError):
            decoder(body)


def test_hostile_msgpack_headers_are_refused_without_allocating() -> None:
    # An array claiming 2**32 - 1 items in five bytes; maps and strings likewise; deep nesting.
    for body in (b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff"):
        for decoder in DECODERS:
            assert refusal(decoder, body) is ReasonCode.MALFORMED
    deep = b"\x91" * 100_000 + b"\xc0"
    for decoder in DECODERS:
        refusal(decoder, deep)


@given(st.binary(max_size=400))
def test_a_reconcile_responder_raises_only_protocol_errors(body: bytes) -> None:
    index = FingerprintIndex.from_sorted((hlc, hlc.to_bytes(32, "big")) for hlc in range(50))
    with contextlib.suppress(ProtocolError):
        respond(index, body)


# -- the same through a node ----------------------------------------------------------------------


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[NodeService]:
    async with service_in_process(tmp_path) as running:
        yield running


GARBAGE = [
    b"",
    b"\x00",
    b"\xc1\xc1",
    encode([1, 2, 3]),
    encode({"events": [b"\x00" * 40]}),
    b"\x91" * 50_000 + b"\xc0",
    b"\xdd\xff\xff\xff\xff",
    secrets.token_bytes(4096),
]
PATHS = ["/fed/v1/hello", "/fed/v1/reconcile", "/fed/v1/events/fetch", "/fed/v1/events/push"]


async def test_garbage_bodies_get_400_with_a_code_and_the_node_keeps_serving(
    service: NodeService,
) -> None:
    me = SigningIdentity(secrets.token_bytes(32))
    async with aiohttp.ClientSession() as http:
        for path in PATHS:
            for body in GARBAGE:
                headers = sign_request(
                    me,
                    "POST",
                    path,
                    body,
                    to=service.hello.node,
                    time_ms=SystemClock().now_ms(),
                    nonce=secrets.token_bytes(16),
                ).as_headers()
                url = service_url(service) + path
                async with http.post(url, data=body, headers=headers) as reply:
                    payload = await reply.read()
                    if path == "/fed/v1/events/push" and reply.status == 200:
                        # A well-formed batch of invalid events: each one refused, none stored.
                        assert PushReply.decode(payload).rejected == 1
                        continue
                    assert reply.status == 400, (path, body[:20], payload)
                    code = reply.headers["Aid-Error"]
                    assert code in {c.value for c in ReasonCode}, code
                    assert msgpack.unpackb(payload)["code"] == code
        client = PeerClient(http, me, service_url(service), SystemClock())
        assert await client.hello(hello_for(me)) == service.hello
    assert await service.node.store.event_count() == 2  # the node's own incept and profile


async def test_forged_events_are_refused_each_with_its_code(service: NodeService) -> None:
    world = World(SystemClock().now_ms())
    ward, mallory = world.org("ward"), world.org("mallory")
    need = world.need(ward)
    bad_signature = bytearray(need.wire)
    bad_signature[-1] ^= 0xFF
    # Mallory signs a need claiming ward as author: the signature is Mallory's, not ward's.
    claimed = world.need(mallory)
    payload = msgpack.unpackb(claimed.payload)
    payload[2] = ward.id
    wrong_author = encode([encode(payload), claimed.sig])
    future = world.need(ward, hlc=(SystemClock().now_ms() + 3_600_000) << 16)
    async with aiohttp.ClientSession() as http:
        client = PeerClient(http, mallory.key, service_url(service), SystemClock())
        await client.hello(hello_for(mallory.key))
        reply = await client.push([bytes(bad_signature), wrong_author, future.wire, b"\x00"])
    assert (reply.accepted, reply.rejected) == (0, 4)
    assert set(reply.codes) == {"bad_signature", "future_timestamp", "malformed"}
    assert await service.node.store.event_count() == 2


async def test_a_fetch_answers_each_id_once(service: NodeService) -> None:
    [incept, *_] = await service.node.store.all_events()
    async with aiohttp.ClientSession() as http:
        client = PeerClient(http, STRANGER, service_url(service), SystemClock())
        reply = await client.fetch([incept.id] * MAX_FETCH_IDS)
    # Asking for one id a thousand times must not make the node send it a thousand times.
    assert reply.events == (incept.wire,)


async def test_a_reconcile_session_against_a_node_served_in_process(
    service: NodeService,
) -> None:
    index = FingerprintIndex.from_sorted([])
    initiator = Initiator(index)
    async with aiohttp.ClientSession() as http:
        client = PeerClient(http, STRANGER, service_url(service), SystemClock())
        message: bytes | None = initiator.initial_message()
        while message is not None:
            message = initiator.receive(await client.reconcile(message))
    events = await service.node.store.all_events()
    assert initiator.need_ids == {e.id for e in events}
    assert initiator.have_ids == frozenset()
