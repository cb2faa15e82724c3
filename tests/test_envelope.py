"""protocol/envelope.py: sign → wire → decode for every kind, and every reason code.

Each ReasonCode is triggered here by at least one crafted event, and the order of checks
(cheap ones before the signature) is pinned: an event wrong in two ways reports the first.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.signing import SigningIdentity
from protocol.canonical import decode, encode
from protocol.codes import Kind, ReasonCode
from protocol.envelope import (
    EVENT_DOMAIN,
    Event,
    OpaqueBody,
    _split_wire,
    decode_event,
    decode_stored,
    event_id,
    hlc_millis,
    sign_event,
)
from protocol.errors import ProtocolError
from protocol.kinds import KIND_SPECS, Ref
from protocol.limits import MAX_CLOCK_AHEAD_MS, MAX_EVENT_BYTES, MAX_LINES
from protocol.records import Contact, Line, PledgeBody, RecordBody
from protocol.trust_bodies import RevokeBody
from tests.strategies import (
    IDENTITIES,
    NOW_MS,
    kind_events,
    payload_of,
    signed_wire,
    unknown_events,
)

ALICE, BOB = IDENTITIES[0], IDENTITIES[1]
HLC = 1_700_000_000_000 << 16
RECORD_ID = bytes(range(32))
LINE = {"item": "N95 respirator", "category": "medical.ppe", "unit": "pieces", "qty": 500}
NEED = {
    "title": "N95 masks for ward 3",
    "lines": (LINE,),
    "region": "CN-HB-WH",
    "urgency": "24h",
    "expires": 1_700_000_000_000 + 7 * 86_400_000,
    "contact": {"public": "ward 3 nurses' station"},
}
MINIMAL_BODY: dict[Kind, dict[str, Any]] = {
    Kind.NEED: NEED,
    Kind.OFFER: NEED,
    Kind.UPDATE: {"title": "N95 masks, ward 3"},
    Kind.WITHDRAW: {"reason": "met elsewhere"},
    Kind.PLEDGE: {"line": 0, "qty": 100},
    Kind.CANCEL: {},
    Kind.DELIVER: {"qty": 100},
    Kind.RECEIPT: {"qty": 100},
    Kind.VERIFY: {"method": "phone"},
    Kind.ENDORSE: {
        "subject": BOB.public_key,
        "name": "Sisters relief",
        "level": "member",
        "max_depth": 1,
        "expires": 1_800_000_000_000,
    },
    Kind.REVOKE: {"reason": "retired"},
    Kind.DELEGATE: {
        "key": BOB.public_key,
        "scopes": ("post",),
        "expires": 1_800_000_000_000,
        "proof": bytes(64),
    },
    Kind.INCEPT: {"next": bytes(32)},
    Kind.ROTATE: {"org": ALICE.public_key, "prior": ALICE.public_key, "next": bytes(32)},
    Kind.PROFILE: {"name": "Xiehe Hospital ward 3 support group"},
}


def _ref_for(kind: Kind) -> bytes | None:
    return None if KIND_SPECS[kind].ref is Ref.NONE else RECORD_ID


_DEFAULT: Any = object()


def _wire(
    kind: Any = "need",
    body: Any = _DEFAULT,
    *,
    author: Any = None,
    hlc: Any = HLC,
    ref: Any = None,
    version: Any = 1,
    identity: SigningIdentity = ALICE,
) -> bytes:
    """A validly signed wire event with arbitrary (possibly invalid) field values."""
    payload = payload_of(
        kind,
        identity.public_key if author is None else author,
        hlc,
        ref,
        NEED if body is _DEFAULT else body,
        version=version,
    )
    return signed_wire(identity, payload)


def _code(wire: Any, now_ms: int = NOW_MS) -> ReasonCode:
    with pytest.raises(ProtocolError) as caught:
        decode_event(wire, now_ms=now_ms)
    return caught.value.code


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=40)
@given(data=st.data())
def test_every_kind_round_trips(kind: Kind, data: st.DataObject) -> None:
    event = data.draw(kind_events(kind))
    decoded = decode_event(event.wire, now_ms=NOW_MS)
    assert decoded.id == event.id == event_id(event.payload)
    assert (decoded.kind, decoded.author, decoded.hlc, decoded.ref) == (
        event.kind,
        event.author,
        event.hlc,
        event.ref,
    )
    assert decoded.body == event.body
    assert type(decoded.body) is KIND_SPECS[kind].body
    assert (decoded.payload, decoded.sig, decoded.wire) == (event.payload, event.sig, event.wire)
    assert decoded.known
    stored = decode_stored(event.payload, event.sig)
    assert stored.body == event.body
    assert stored.id == event.id


@pytest.mark.parametrize("kind", list(Kind))
def test_minimal_event_of_every_kind(kind: Kind) -> None:
    event = sign_event(ALICE, kind, HLC, MINIMAL_BODY[kind], ref=_ref_for(kind))
    assert decode_event(event.wire, now_ms=NOW_MS).body == event.body
    typed = KIND_SPECS[kind].body.from_map(MINIMAL_BODY[kind])
    assert sign_event(ALICE, kind, HLC, typed, ref=_ref_for(kind)).payload == event.payload


@given(unknown_events())
def test_unknown_kinds_are_kept_opaque_and_byte_identical(event: Event) -> None:
    decoded = decode_event(event.wire, now_ms=NOW_MS)
    assert not decoded.known
    assert isinstance(decoded.body, OpaqueBody)
    assert decoded.wire == event.wire
    again = encode(
        [1, decoded.kind, decoded.author, decoded.hlc, decoded.ref, decoded.body.to_map()]
    )
    assert again == event.payload
    assert decode_stored(event.payload, event.sig).id == event.id


def test_payload_layout() -> None:
    event = sign_event(ALICE, "pledge", HLC, {"line": 0, "qty": 5}, ref=RECORD_ID)
    assert decode(event.payload) == (
        1,
        "pledge",
        ALICE.public_key,
        HLC,
        RECORD_ID,
        event.body.to_map(),
    )
    assert decode(event.wire) == (event.payload, event.sig)
    assert event.sig == ALICE.sign(EVENT_DOMAIN, event.payload)
    assert EVENT_DOMAIN == b"aidnode/v1\x00"


def test_events_compare_and_hash_by_id() -> None:
    first = sign_event(ALICE, "pledge", HLC, {"line": 0, "qty": 5}, ref=RECORD_ID)
    same = decode_event(first.wire, now_ms=NOW_MS)
    other = sign_event(ALICE, "pledge", HLC + 1, {"line": 0, "qty": 5}, ref=RECORD_ID)
    assert first == same and hash(first) == hash(same)
    assert first != other and len({first, same, other}) == 2
    assert first != first.id
    assert first.sort_key == (HLC, first.id)
    assert sorted([other, first], key=lambda event: event.sort_key) == [first, other]
    assert "pledge" in repr(first) and first.id.hex()[:12] in repr(first)


def test_hlc_millis_is_the_top_48_bits() -> None:
    assert hlc_millis(HLC) == 1_700_000_000_000
    assert hlc_millis(HLC | 0xFFFF) == 1_700_000_000_000
    assert hlc_millis((5 << 16) + (1 << 16)) == 6


# --- malformed, non_canonical, too_large ----------------------------------------------------


@pytest.mark.parametrize(
    "wire",
    [
        "not bytes",
        bytearray(_wire()),
        b"",
        b"\xc1",
        encode({"payload": b"x"}),
        encode([b"x"]),
        encode([b"x", b"y", b"z"]),
        encode(["payload as str", bytes(64)]),
        encode([None, bytes(64)]),
        encode([encode({"v": 1}), bytes(64)]),  # payload not an array
        encode([encode([]), bytes(64)]),  # empty payload
        encode([encode([1, "need", bytes(32), 0, None]), bytes(64)]),  # five fields
        encode([encode([1, "need", bytes(32), 0, None, {}, 7]), bytes(64)]),  # seven
        encode([b"\xc1", bytes(64)]),  # payload not msgpack
        _wire()[:-1],
        _wire() + b"\x00",
    ],
    ids=lambda wire: repr(wire)[:30],
)
def test_malformed(wire: Any) -> None:
    assert _code(wire) is ReasonCode.MALFORMED


def test_non_canonical_payload_and_wire() -> None:
    canonical = payload_of("need", ALICE.public_key, HLC, None, NEED)
    hlc_bytes = encode(HLC)
    wide_hlc = canonical.replace(hlc_bytes, b"\xd3" + hlc_bytes[1:])  # int64 not uint64
    assert wide_hlc != canonical
    assert _code(signed_wire(ALICE, wide_hlc)) is ReasonCode.NON_CANONICAL

    body = encode(NEED)
    unsorted = bytes([body[0]]) + body[1:].replace(
        b"\xa5title", b"\xa5TITLE"
    )  # "TITLE" < "contact"
    assert _code(signed_wire(ALICE, canonical.replace(body, unsorted))) is ReasonCode.NON_CANONICAL

    wire = _wire()
    size = len(canonical)
    assert wire.startswith(b"\x92\xc4" + bytes([size]))
    bin16 = b"\x92\xc5" + size.to_bytes(2, "big") + wire[3:]  # payload under a bin16 header
    assert _code(bin16) is ReasonCode.NON_CANONICAL


def test_float_in_a_body_is_non_canonical() -> None:
    payload = payload_of("deliver", ALICE.public_key, HLC, RECORD_ID, {"qty": 7})
    as_float = b"\x81\xa3qty\xcb" + struct.pack(">d", 7.0)  # {"qty": 7.0}
    payload = payload.replace(encode({"qty": 7}), as_float)
    assert _code(signed_wire(ALICE, payload)) is ReasonCode.NON_CANONICAL


def _padded(size: int) -> tuple[dict[str, Any], int]:
    """An opaque body whose event's wire form is exactly ``size`` bytes, and the pad length."""
    for pad in range(size - 200, size):
        wire = _wire("note", {"pad": bytes(pad)})
        if len(wire) == size:
            return {"pad": bytes(pad)}, pad
    raise AssertionError(f"no pad gives {size} bytes")


def test_size_limit_is_16_kib_of_wire_inclusive() -> None:
    body, pad = _padded(MAX_EVENT_BYTES)
    event = sign_event(ALICE, "note", HLC, body)
    assert len(event.wire) == MAX_EVENT_BYTES == 16384
    assert decode_event(event.wire, now_ms=NOW_MS) == event
    too_big = {"pad": bytes(pad + 1)}
    assert _code(_wire("note", too_big)) is ReasonCode.TOO_LARGE
    with pytest.raises(ProtocolError) as caught:
        sign_event(ALICE, "note", HLC, too_big)
    assert caught.value.code is ReasonCode.TOO_LARGE


def test_size_is_checked_before_anything_else() -> None:
    assert _code(b"\xc1" * (MAX_EVENT_BYTES + 1)) is ReasonCode.TOO_LARGE
    assert _code(b"\xc1" * MAX_EVENT_BYTES) is ReasonCode.MALFORMED


def test_more_than_32_lines_is_too_large() -> None:
    sign_event(ALICE, "need", HLC, {**NEED, "lines": (LINE,) * MAX_LINES})
    assert _code(_wire(body={**NEED, "lines": (LINE,) * (MAX_LINES + 1)})) is ReasonCode.TOO_LARGE


def test_nesting_past_max_nest_in_an_opaque_body_is_too_large() -> None:
    seven: Any = 0
    for _ in range(6):
        seven = (seven,)
    sign_event(ALICE, "note", HLC, {"deep": seven})  # payload → body → 7 levels: depth 8
    payload = payload_of("note", ALICE.public_key, HLC, None, {"deep": seven})
    deeper = payload.replace(encode(seven), b"\x91" + encode(seven))
    assert _code(signed_wire(ALICE, deeper)) is ReasonCode.TOO_LARGE


# --- version, clock, signature --------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 2, 255, -1, True, "1", b"\x01", None])
def test_unknown_version(version: Any) -> None:
    assert _code(_wire(version=version)) is ReasonCode.UNKNOWN_VERSION


def test_unknown_version_is_checked_before_the_shape() -> None:
    # A future version may have a different envelope: it is unknown, not malformed.
    for payload in (encode([2]), encode([2, "need"]), encode([2, 1, 2, 3, 4, 5, 6, 7])):
        assert _code(signed_wire(ALICE, payload)) is ReasonCode.UNKNOWN_VERSION


def test_hlc_at_most_ten_minutes_ahead_is_accepted() -> None:
    now = 1_700_000_000_000
    limit = (now + MAX_CLOCK_AHEAD_MS) << 16
    assert MAX_CLOCK_AHEAD_MS == 600_000
    for hlc in (now << 16, limit, limit | 0xFFFF):
        event = sign_event(ALICE, "deliver", hlc, {"qty": 1}, ref=RECORD_ID)
        assert decode_event(event.wire, now_ms=now).hlc == hlc
    late = sign_event(ALICE, "deliver", limit + (1 << 16), {"qty": 1}, ref=RECORD_ID)
    assert _code(late.wire, now_ms=now) is ReasonCode.FUTURE_TIMESTAMP
    assert decode_event(late.wire, now_ms=now + 1) == late  # a millisecond later it is fine


@given(st.integers(0, 64 * 8 - 1))
def test_any_flipped_bit_in_the_signature_is_bad(bit: int) -> None:
    event = sign_event(ALICE, "pledge", HLC, {"line": 0, "qty": 5}, ref=RECORD_ID)
    sig = bytearray(event.sig)
    sig[bit // 8] ^= 1 << (bit % 8)
    assert _code(encode([event.payload, bytes(sig)])) is ReasonCode.BAD_SIGNATURE


def test_flipped_bit_in_the_payload_is_bad() -> None:
    event = sign_event(ALICE, "need", HLC, NEED)
    at = event.payload.index(b"N95 masks")
    payload = event.payload[:at] + b"O" + event.payload[at + 1 :]  # "N" ^ 1 == "O"
    assert decode_stored(payload, event.sig).body.to_map()["title"] == "O95 masks for ward 3"
    assert _code(encode([payload, event.sig])) is ReasonCode.BAD_SIGNATURE


def test_signature_by_another_author_is_bad() -> None:
    event = sign_event(ALICE, "need", HLC, NEED)
    claimed = payload_of("need", BOB.public_key, HLC, None, NEED)
    assert _code(encode([claimed, event.sig])) is ReasonCode.BAD_SIGNATURE
    by_bob = BOB.sign(EVENT_DOMAIN, event.payload)
    assert _code(encode([event.payload, by_bob])) is ReasonCode.BAD_SIGNATURE


def test_signature_without_the_domain_is_bad() -> None:
    import nacl.signing

    event = sign_event(ALICE, "need", HLC, NEED)
    bare = nacl.signing.SigningKey(ALICE.seed).sign(event.payload).signature
    assert _code(encode([event.payload, bare])) is ReasonCode.BAD_SIGNATURE
    other_domain = ALICE.sign(b"aidnode/v1/peer\0", event.payload)
    assert _code(encode([event.payload, other_domain])) is ReasonCode.BAD_SIGNATURE


@pytest.mark.parametrize("sig", [bytes(63), bytes(65), b"", "s" * 64, None, 0])
def test_signature_of_the_wrong_shape_is_bad(sig: Any) -> None:
    event = sign_event(ALICE, "need", HLC, NEED)
    assert _code(encode([event.payload, sig])) is ReasonCode.BAD_SIGNATURE


def test_author_that_is_not_a_curve_point_is_bad_signature() -> None:
    payload = payload_of("need", b"\xff" * 32, HLC, None, NEED)
    assert _code(encode([payload, ALICE.sign(EVENT_DOMAIN, payload)])) is ReasonCode.BAD_SIGNATURE


# --- envelope fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "Need"},
        {"kind": ""},
        {"kind": "x" * 33},
        {"kind": "9lives"},
        {"kind": "need-v2"},
        {"kind": 5},
        {"kind": None},
        {"kind": b"need"},
        {"author": bytes(31)},
        {"author": bytes(33)},
        {"author": "a" * 32},
        {"hlc": -1},
        {"hlc": True},
        {"hlc": "1"},
        {"hlc": None},
        {"ref": bytes(31), "kind": "pledge", "body": {"line": 0, "qty": 1}},
        {"ref": b"", "kind": "pledge", "body": {"line": 0, "qty": 1}},
        {"ref": "r" * 32, "kind": "pledge", "body": {"line": 0, "qty": 1}},
        {"body": ()},
        {"body": None},
        {"body": b"{}"},
    ],
    ids=lambda changes: "-".join(f"{k}={v!r}"[:24] for k, v in changes.items()),
)
def test_bad_envelope_fields(changes: dict[str, Any]) -> None:
    assert _code(_wire(**changes)) is ReasonCode.BAD_FIELD


def test_longest_kind_name_is_32_characters() -> None:
    event = sign_event(ALICE, "x" * 32, HLC, {})
    assert decode_event(event.wire, now_ms=NOW_MS).kind == "x" * 32


def test_hlc_is_an_unsigned_64_bit_integer() -> None:
    biggest = 2**64 - 1
    event = sign_event(ALICE, "deliver", biggest, {"qty": 1}, ref=RECORD_ID)
    assert decode_stored(event.payload, event.sig).hlc == biggest
    assert _code(event.wire) is ReasonCode.FUTURE_TIMESTAMP
    assert sign_event(ALICE, "deliver", 0, {"qty": 1}, ref=RECORD_ID).hlc == 0


# --- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**NEED, "title": "Cafe\u0301"}, ReasonCode.BAD_FIELD),  # not NFC
        ({**NEED, "lines": ({**LINE, "qty": True},)}, ReasonCode.BAD_FIELD),  # bool for int
        ({**NEED, "lines": ({**LINE, "qty": 0},)}, ReasonCode.BAD_FIELD),
        ({**NEED, "lines": ({**LINE, "unlimited": False},)}, ReasonCode.BAD_FIELD),  # flag
        ({**NEED, "sensitive": False}, ReasonCode.BAD_FIELD),  # flag written as false
        ({**NEED, "title": b"N95 masks"}, ReasonCode.BAD_FIELD),  # bin where str expected
        ({**NEED, "expires": "tomorrow"}, ReasonCode.BAD_FIELD),
        ({**NEED, "place": None}, ReasonCode.BAD_FIELD),  # nil: absent is the only "unset"
        ({k: v for k, v in NEED.items() if k != "title"}, ReasonCode.MISSING_FIELD),
        ({**NEED, "status": "open"}, ReasonCode.UNKNOWN_FIELD),
        ({**NEED, "lines": ({**LINE, "price": 1},)}, ReasonCode.UNKNOWN_FIELD),
    ],
    ids=[
        "non-nfc",
        "bool-qty",
        "zero-qty",
        "false-flag",
        "false-sensitive",
        "bin-title",
        "str-expires",
        "nil-place",
        "missing-title",
        "unknown-field",
        "unknown-nested",
    ],
)
def test_known_body_refusals(body: dict[str, Any], code: ReasonCode) -> None:
    assert _code(_wire("need", body)) is code


def test_key_field_as_str_is_bad_field() -> None:
    body = {**MINIMAL_BODY[Kind.INCEPT], "next": "0" * 32}
    assert _code(_wire("incept", body)) is ReasonCode.BAD_FIELD


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"a": None}, ReasonCode.BAD_FIELD),
        ({"a": (1, None)}, ReasonCode.BAD_FIELD),
        ({"a": "e\u0301"}, ReasonCode.NON_CANONICAL),
        ({"e\u0301": 1}, ReasonCode.NON_CANONICAL),
    ],
    ids=["nil", "nested-nil", "non-nfc-value", "non-nfc-key"],
)
def test_opaque_body_refusals(body: dict[str, Any], code: ReasonCode) -> None:
    assert _code(_wire("future_kind", body)) is code


# --- references -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [kind for kind in Kind if KIND_SPECS[kind].ref is Ref.NONE])
def test_ref_where_forbidden(kind: Kind) -> None:
    assert _code(_wire(kind.value, MINIMAL_BODY[kind], ref=RECORD_ID)) is ReasonCode.BAD_REFERENCE
    with pytest.raises(ProtocolError):
        sign_event(ALICE, kind, HLC, MINIMAL_BODY[kind], ref=RECORD_ID)


@pytest.mark.parametrize("kind", [kind for kind in Kind if KIND_SPECS[kind].ref is Ref.REQUIRED])
def test_ref_where_required(kind: Kind) -> None:
    assert _code(_wire(kind.value, MINIMAL_BODY[kind], ref=None)) is ReasonCode.BAD_REFERENCE


def test_revoke_has_exactly_one_of_ref_and_key() -> None:
    of_event = sign_event(ALICE, "revoke", HLC, {"reason": "retired"}, ref=RECORD_ID)
    assert isinstance(of_event.body, RevokeBody) and of_event.body.key is None
    of_key = sign_event(ALICE, "revoke", HLC, {"reason": "compromised", "key": BOB.public_key})
    assert of_key.ref is None
    both = {"reason": "compromised", "key": BOB.public_key}
    assert _code(_wire("revoke", both, ref=RECORD_ID)) is ReasonCode.BAD_REFERENCE
    assert _code(_wire("revoke", {"reason": "retired"})) is ReasonCode.BAD_REFERENCE


def test_opaque_kinds_may_have_a_ref_or_not() -> None:
    for ref in (None, RECORD_ID):
        assert decode_event(_wire("future_kind", {}, ref=ref), now_ms=NOW_MS).ref == ref


# --- order of checks ------------------------------------------------------------------------


def test_cheap_checks_come_before_the_signature() -> None:
    now = 1_700_000_000_000
    future = (now + MAX_CLOCK_AHEAD_MS + 1) << 16
    forged = BOB.sign(EVENT_DOMAIN, b"unrelated")

    def forge(**changes: Any) -> bytes:
        wire = _wire(**changes)
        return encode([decode(wire)[0], forged])

    assert _code(forge(version=2), now) is ReasonCode.UNKNOWN_VERSION
    assert _code(forge(kind="Need"), now) is ReasonCode.BAD_FIELD
    assert _code(forge(body={"title": "x"}), now) is ReasonCode.MISSING_FIELD
    assert _code(forge(ref=RECORD_ID), now) is ReasonCode.BAD_REFERENCE
    assert _code(forge(hlc=future), now) is ReasonCode.FUTURE_TIMESTAMP
    assert _code(forge(), now) is ReasonCode.BAD_SIGNATURE


def test_body_is_checked_before_the_ref_rule() -> None:
    assert _code(_wire("pledge", {"qty": 1}, ref=None)) is ReasonCode.MISSING_FIELD


# --- decode_stored, sign_event --------------------------------------------------------------


def test_decode_stored_skips_clock_and_signature_but_parses() -> None:
    event = sign_event(ALICE, "deliver", 2**64 - 1, {"qty": 1}, ref=RECORD_ID)
    assert decode_stored(event.payload, bytes(64)).hlc == 2**64 - 1
    with pytest.raises(ProtocolError) as caught:
        decode_stored(event.payload[:-1], event.sig)
    assert caught.value.code is ReasonCode.MALFORMED
    with pytest.raises(ProtocolError) as caught:
        decode_stored(event.payload, bytes(10))
    assert caught.value.code is ReasonCode.BAD_SIGNATURE


def test_sign_event_refuses_what_a_verifier_would_refuse() -> None:
    with pytest.raises(ProtocolError) as caught:
        sign_event(ALICE, "need", HLC, PledgeBody(line=0, qty=1))
    assert caught.value.code is ReasonCode.UNKNOWN_FIELD
    with pytest.raises(ProtocolError) as caught:
        sign_event(ALICE, "pledge", HLC, {"line": 0, "qty": 1})
    assert caught.value.code is ReasonCode.BAD_REFERENCE
    with pytest.raises(ProtocolError) as caught:
        sign_event(ALICE, "need", HLC, {**NEED, "coords": (1.5, 2.5)})
    assert caught.value.code is ReasonCode.BAD_FIELD


def test_typed_and_map_bodies_sign_identically() -> None:
    typed = RecordBody(
        title=NEED["title"],
        lines=(Line(**LINE),),
        region="CN-HB-WH",
        urgency="24h",
        expires=NEED["expires"],
        contact=Contact(public="ward 3 nurses' station"),
    )
    assert sign_event(ALICE, "need", HLC, typed) == sign_event(ALICE, "need", HLC, NEED)


# --- the wire fast path ---------------------------------------------------------------------


def _reference_split(wire: bytes) -> tuple[Any, Any]:
    """What _split_wire must agree with: the generic canonical decoder."""
    outer = decode(wire)
    if type(outer) is not tuple or len(outer) != 2 or type(outer[0]) is not bytes:
        raise ProtocolError(ReasonCode.MALFORMED, "wire form is [payload, sig]")
    return outer[0], outer[1]


def _outcome(split: Any, wire: bytes) -> Any:
    try:
        return split(wire)
    except ProtocolError as error:
        return error.code


@given(st.binary(max_size=700), st.binary(max_size=70) | st.just(bytes(64)))
def test_wire_fast_path_splits_canonical_wires(payload: bytes, sig: bytes) -> None:
    wire = encode([payload, sig])
    assert _split_wire(wire) == (payload, sig)


@given(
    st.binary(max_size=700),
    st.binary(min_size=64, max_size=64),
    st.lists(st.tuples(st.integers(0, 7), st.integers(0, 255)), max_size=3),
)
def test_wire_fast_path_agrees_with_decode_on_damaged_headers(
    payload: bytes, sig: bytes, damage: list[tuple[int, int]]
) -> None:
    wire = bytearray(encode([payload, sig]))
    for offset, value in damage:  # the bytes the fast path reads: headers at both ends
        index = offset if offset < 4 else len(wire) - 66 + (offset - 4)
        wire[index] = value
    assert _outcome(_split_wire, bytes(wire)) == _outcome(_reference_split, bytes(wire))
