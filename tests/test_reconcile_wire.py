"""The reconciliation wire format: canonical round trips and a strict parser for hostile bytes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from sync.reconcile_wire import (
    INFINITY,
    MIN_FRAME_BYTES,
    Bound,
    Defer,
    Entry,
    Fingerprint,
    IdList,
    Ids,
    MessageWriter,
    Query,
    Reply,
    ShortIdList,
    Skip,
    encode_query,
    encode_reply,
    parse_query,
    parse_reply,
    query_header,
)

SALT = bytes(range(16))
LIMIT = 1 << 20

ids32 = st.binary(min_size=32, max_size=32)
hlcs = st.integers(0, 2**64 - 1) | st.integers(0, 50) | st.sampled_from([2**60, 2**63, 1 << 40])


@st.composite
def bounds(draw: st.DrawFn, count: int) -> list[Bound]:
    """``count`` strictly increasing finite bounds, then infinity."""
    keys = draw(st.lists(st.tuples(hlcs, ids32), min_size=count + 1, max_size=count + 1))
    keys = sorted(set(keys) | {(0, bytes(32))})
    made: list[Bound] = []
    for below, above in itertools.pairwise(keys):
        made.append(Bound.between(below, above))
    return [*made[:count], INFINITY]


@st.composite
def entries(draw: st.DrawFn, query: bool) -> tuple[Entry, ...]:
    count = draw(st.integers(0, 6))
    uppers = draw(bounds(count))
    out: list[Entry] = []
    for index, upper in enumerate(uppers):
        last = index == len(uppers) - 1
        choices = ["fingerprint", *(["list", "short"] if query else ["ids"])]
        if not out or not isinstance(out[-1], Skip):
            choices.append("skip")
        if last and not query:
            choices.append("defer")
        kind = draw(st.sampled_from(choices))
        if kind == "skip":
            out.append(Skip(upper=upper))
        elif kind == "defer":
            out.append(Defer())
        elif kind == "fingerprint":
            out.append(
                Fingerprint(upper=upper, fingerprint=draw(st.binary(min_size=8, max_size=8)))
            )
        elif kind == "short":
            hashes = draw(st.lists(st.binary(min_size=4, max_size=4), min_size=1, max_size=5))
            out.append(ShortIdList(upper=upper, hashes=tuple(hashes)))
        elif kind == "list":
            hashes = draw(st.lists(st.binary(min_size=8, max_size=8), max_size=5))
            out.append(IdList(upper=upper, hashes=tuple(hashes)))
        else:
            ids = draw(st.lists(ids32, max_size=3))
            lacks = draw(st.lists(st.booleans(), max_size=19))
            out.append(Ids(upper=upper, ids=tuple(ids), lacks=tuple(lacks)))
    return tuple(out)


@given(entries(query=True), st.integers(MIN_FRAME_BYTES, 2**64 - 1))
def test_queries_round_trip_exactly(ranges: tuple[Entry, ...], reply_limit: int) -> None:
    query = Query(salt=SALT, reply_limit=reply_limit, entries=ranges)
    data = encode_query(query)
    assert parse_query(data, max_bytes=LIMIT) == query


@given(entries(query=False))
def test_replies_round_trip_exactly(ranges: tuple[Entry, ...]) -> None:
    reply = Reply(entries=ranges)
    data = encode_reply(reply)
    assert parse_reply(data, max_bytes=LIMIT) == reply


@given(entries(query=False), st.data())
def test_every_truncation_and_every_extension_is_rejected(
    ranges: tuple[Entry, ...], data: st.DataObject
) -> None:
    encoded = encode_reply(Reply(entries=ranges))
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(ProtocolError):
        parse_reply(encoded[:cut], max_bytes=LIMIT)
    extra = data.draw(st.binary(min_size=1, max_size=4))
    with pytest.raises(ProtocolError, match="after the last range"):
        parse_reply(encoded + extra, max_bytes=LIMIT)


@given(st.binary(max_size=300))
@example(b"\x11" + SALT + b"\x80\x04" + b"\xf8")  # minimal valid query: one SKIP to infinity
@example(b"\x12\x00\x00\xf8")
def test_garbage_raises_protocol_error_only(data: bytes) -> None:
    for parse in (parse_query, parse_reply):
        try:
            message = parse(data, max_bytes=LIMIT)
        except ProtocolError as error:
            assert isinstance(error.code, ReasonCode)
        else:
            again = encode_query(message) if isinstance(message, Query) else encode_reply(message)
            assert again == data  # whatever is accepted is canonical


@given(st.binary(min_size=1, max_size=64), st.integers(0, 255))
def test_mutated_valid_messages_raise_protocol_error_only(noise: bytes, at: int) -> None:
    base = encode_reply(
        Reply(
            entries=(
                Fingerprint(upper=Bound(hlc=5 << 20), fingerprint=b"f" * 8),
                Ids(upper=Bound(hlc=9 << 20, prefix=b"\x07"), ids=(b"i" * 32,), lacks=(True,)),
                Skip(upper=INFINITY),
            )
        )
    )
    position = at % len(base)
    mutated = base[:position] + noise + base[position + len(noise) :]
    try:
        reply = parse_reply(mutated, max_bytes=LIMIT)
    except ProtocolError:
        return
    assert encode_reply(reply) == mutated


def _reply(*raw: bytes) -> bytes:
    return b"\x12" + b"".join(raw)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ReasonCode.MALFORMED),
        (b"\x22\xfc", ReasonCode.UNKNOWN_VERSION),  # version 2
        (b"\x11\xfc", ReasonCode.MALFORMED),  # a query where a reply was expected
        (_reply(b"\xfd"), ReasonCode.MALFORMED),  # mode 5 is undefined
        (_reply(b"\xfa"), ReasonCode.MALFORMED),  # ID_LIST is query-only
        (_reply(b"\x00\x80\x00\xf8"), ReasonCode.NON_CANONICAL),  # varint 0 in two bytes
        (_reply(b"\x00\x01\x00\x01\xf8"), ReasonCode.NON_CANONICAL),  # two skips in a row
        (_reply(b"\x00\x10\xf8"), ReasonCode.NON_CANONICAL),  # hlc 16 must use shift 4
        (_reply(b"\x08\x01\x09\x00" + b"f" * 8 + b"\xf8"), ReasonCode.MALFORMED),  # equal bounds
        (_reply(b"\x80\x01\x02\x05\x00\xf8"), ReasonCode.NON_CANONICAL),  # prefix ends in 0
        (_reply(b"\x80\x01\x00\xf8"), ReasonCode.MALFORMED),  # prefix of length 0
        (_reply(b"\xc0\x01\xf8"), ReasonCode.MALFORMED),  # bound code 24 is undefined
        (_reply(b"\x78" + b"\xff" * 10 + b"\x01"), ReasonCode.MALFORMED),  # varint > 10 bytes
        (_reply(b"\x78\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02"), ReasonCode.MALFORMED),
        (_reply(b"\xfb\x00\x03\x09"), ReasonCode.NON_CANONICAL),  # bitfield padding set
        (_reply(b"\xfb\xff\xff\x03"), ReasonCode.MALFORMED),  # more ids than bytes
        (_reply(b"\x01\x01" + b"f" * 8), ReasonCode.MALFORMED),  # ends before infinity
        (b"\x11" + SALT + b"\x01\xf8", ReasonCode.MALFORMED),  # reply limit below minimum
        (b"\x11" + SALT + b"\x80\x04\xfd\x00", ReasonCode.NON_CANONICAL),  # empty short list
        (b"\x11" + SALT + b"\x80\x04\xfb\x00\x00", ReasonCode.MALFORMED),  # IDS in a query
    ],
)
def test_specific_violations_have_specific_codes(data: bytes, code: ReasonCode) -> None:
    parse = parse_query if data[:1] == b"\x11" else parse_reply
    with pytest.raises(ProtocolError) as raised:
        parse(data, max_bytes=LIMIT)
    assert raised.value.code is code


def test_oversized_messages_are_refused_before_parsing() -> None:
    data = encode_reply(Reply(entries=(Ids(upper=INFINITY, ids=(b"x" * 32,) * 40),)))
    with pytest.raises(ProtocolError) as raised:
        parse_reply(data, max_bytes=len(data) - 1)
    assert raised.value.code is ReasonCode.TOO_LARGE
    assert parse_reply(data, max_bytes=len(data)).entries[0] == Ids(
        upper=INFINITY, ids=(b"x" * 32,) * 40
    )


@given(st.tuples(hlcs, ids32), st.tuples(hlcs, ids32))
def test_bound_between_separates_neighbours(
    first: tuple[int, bytes], second: tuple[int, bytes]
) -> None:
    if first == second:
        return
    below, above = sorted((first, second))
    bound = Bound.between(below, above)
    assert below < bound.key <= above
    if below[0] < above[0]:
        assert bound.prefix == b""  # an hlc alone separates them
        # no hlc with more trailing zeros lies in the gap
        step = (bound.hlc & -bound.hlc) << 1 if bound.hlc else 1
        assert (bound.hlc // step) * step <= below[0] or bound.hlc == 0


def test_bounds_cost_two_bytes_for_millisecond_hlcs() -> None:
    # Events 30 s apart at a 2023 timestamp: a bound between two of them has ~28 trailing
    # zero bits, so against the previous bound its head and delta take two bytes, where the
    # raw hlc delta would take five.
    times = [1_700_000_000_000 + 30_000 * n for n in range(3)]
    events = [((ms << 16) | n, bytes([n + 1]) * 32) for n, ms in enumerate(times)]
    writer = MessageWriter(b"")
    writer.add(Skip(upper=Bound.between(events[0], events[1])))
    size = writer.add(Fingerprint(upper=Bound.between(events[1], events[2]), fingerprint=b"f" * 8))
    assert size == 2 + 8


def test_values_refuse_to_be_invalid() -> None:
    with pytest.raises(ValueError, match="prefix"):
        Bound(hlc=1, prefix=b"\x01\x00")
    with pytest.raises(ValueError, match="infinity"):
        Bound(hlc=2**64, prefix=b"\x01")
    with pytest.raises(ValueError, match="last range"):
        Reply(entries=(Skip(upper=Bound(hlc=1)),))
    with pytest.raises(ValueError, match="not allowed"):
        Query(salt=SALT, reply_limit=MIN_FRAME_BYTES, entries=(Defer(),))
    with pytest.raises(ValueError, match="merged"):
        Reply(entries=(Skip(upper=Bound(hlc=1)), Skip(upper=INFINITY)))
    with pytest.raises(ValueError, match="short id list"):
        ShortIdList(upper=INFINITY, hashes=())
    with pytest.raises(ValueError, match="salt"):
        Query(salt=b"short", reply_limit=MIN_FRAME_BYTES, entries=(Skip(upper=INFINITY),))
    assert query_header(SALT, MIN_FRAME_BYTES)[:1] == b"\x11"
