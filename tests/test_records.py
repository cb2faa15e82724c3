"""protocol/records.py: the body schemas of the record kinds (need, offer, update, withdraw,
pledge, cancel, deliver, receipt, verify, profile) and their nested values.

Each schema is tested three ways: hypothesis-generated valid bodies survive typed ⇄ map in
both directions; every field's limits are probed at the boundary; and every way a map can be
wrong (missing, unknown, mistyped, flag written as false) gets its reason code.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.canonical import decode, encode
from protocol.codes import Kind, ReasonCode
from protocol.errors import ProtocolError
from protocol.limits import MAX_AMOUNT, MAX_LINES, MAX_RECIPIENTS, MAX_SEALED_BYTES
from protocol.records import (
    MUTABLE_FIELDS,
    SEALED_SLOT_BYTES,
    URGENCY_RANK,
    CancelBody,
    Contact,
    DeliverBody,
    Line,
    LineQty,
    PledgeBody,
    ProfileBody,
    ReceiptBody,
    RecordBody,
    Sealed,
    UpdateBody,
    Urgency,
    VerifyBody,
    WithdrawBody,
)
from protocol.schema import Schema
from tests.strategies import bodies, body_maps, contacts, line_qtys, lines, sealed_values

# offer shares need's schema, so round trips run once for both (as need).
SCHEMA_KINDS = [
    Kind.NEED,
    Kind.UPDATE,
    Kind.WITHDRAW,
    Kind.PLEDGE,
    Kind.CANCEL,
    Kind.DELIVER,
    Kind.RECEIPT,
    Kind.VERIFY,
    Kind.PROFILE,
]
SCHEMA_OF: dict[Kind, type[Schema]] = {
    Kind.NEED: RecordBody,
    Kind.OFFER: RecordBody,
    Kind.UPDATE: UpdateBody,
    Kind.WITHDRAW: WithdrawBody,
    Kind.PLEDGE: PledgeBody,
    Kind.CANCEL: CancelBody,
    Kind.DELIVER: DeliverBody,
    Kind.RECEIPT: ReceiptBody,
    Kind.VERIFY: VerifyBody,
    Kind.PROFILE: ProfileBody,
}

SEALED_MAP = {"box": bytes(41), "slots": (bytes(SEALED_SLOT_BYTES),)}
LINE_MAP = {"item": "N95 respirator", "category": "medical.ppe", "unit": "pieces", "qty": 500}
NEED_MAP: dict[str, Any] = {
    "title": "Masks for ward 3",
    "lines": (LINE_MAP,),
    "region": "CN-HB-WH",
    "urgency": "24h",
    "expires": 1_700_000_000_000,
    "contact": {"public": "ward 3 nurses' station"},
}


def _code(build: Any, *args: Any, **kwargs: Any) -> ReasonCode:
    with pytest.raises(ProtocolError) as caught:
        build(*args, **kwargs)
    return caught.value.code


def _need(**changes: Any) -> dict[str, Any]:
    body = {**NEED_MAP, **changes}
    return {name: value for name, value in body.items() if value is not None}


# --- typed ⇄ map ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
@given(data=st.data())
def test_map_to_typed_to_map_is_identity(kind: Kind, data: st.DataObject) -> None:
    schema = SCHEMA_OF[kind]
    raw = data.draw(body_maps(kind))
    assert schema.to_map(schema.from_map(raw)) == raw
    assert encode(schema.from_map(raw).to_map()) == encode(raw)


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
@given(data=st.data())
def test_typed_to_map_to_typed_is_identity(kind: Kind, data: st.DataObject) -> None:
    body = data.draw(bodies(kind))
    schema = SCHEMA_OF[kind]
    assert type(body) is schema
    assert schema.from_map(body.to_map()) == body
    assert schema.from_map(decode(encode(body.to_map()))) == body


def test_to_map_leaves_unset_options_and_false_flags_out() -> None:
    line = Line(item="rice (10 kg)", category="food.groceries", unit="bags", qty=3)
    assert line.to_map() == {
        "item": "rice (10 kg)",
        "category": "food.groceries",
        "unit": "bags",
        "qty": 3,
    }
    assert Line(item="rice", category="food", unit="bags", unlimited=True).to_map() == {
        "item": "rice",
        "category": "food",
        "unit": "bags",
        "unlimited": True,
    }
    assert CancelBody().to_map() == {}


def test_to_map_gives_arrays_as_tuples_like_decode() -> None:
    body = RecordBody.from_map(NEED_MAP)
    assert type(body.to_map()["lines"]) is tuple
    assert body.to_map() == NEED_MAP


def test_from_map_does_not_mutate_its_argument() -> None:
    raw = _need(detail=SEALED_MAP)
    snapshot = dict(raw)
    RecordBody.from_map(raw)
    assert raw == snapshot
    assert type(raw["contact"]) is dict


# --- Sealed, Contact ------------------------------------------------------------------------


@given(sealed_values(max_box=MAX_SEALED_BYTES))
def test_sealed_values_build(value: Sealed) -> None:
    assert Sealed.from_map(value.to_map()) == value


@pytest.mark.parametrize(("size", "ok"), [(40, False), (41, True), (8192, True), (8193, False)])
def test_sealed_box_size(size: int, ok: bool) -> None:
    raw = {**SEALED_MAP, "box": bytes(size)}
    assert MAX_SEALED_BYTES == 8192
    if ok:
        Sealed.from_map(raw)
    else:
        assert _code(Sealed.from_map, raw) is ReasonCode.BAD_FIELD


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (16, True), (17, False)])
def test_sealed_slot_count(count: int, ok: bool) -> None:
    raw = {**SEALED_MAP, "slots": (bytes(SEALED_SLOT_BYTES),) * count}
    assert MAX_RECIPIENTS == 16
    if ok:
        Sealed.from_map(raw)
    else:
        assert _code(Sealed.from_map, raw) is ReasonCode.BAD_FIELD


@pytest.mark.parametrize(
    "changes",
    [
        {"slots": (bytes(79),)},
        {"slots": (bytes(81),)},
        {"slots": bytes(80)},
        {"slots": [bytes(80)]},
        {"box": "x" * 50},
        {"box": bytearray(50)},
    ],
    ids=["short-slot", "long-slot", "slots-not-array", "slots-list", "box-str", "box-bytearray"],
)
def test_sealed_refuses_wrong_shapes(changes: dict[str, Any]) -> None:
    assert _code(Sealed.from_map, {**SEALED_MAP, **changes}) is ReasonCode.BAD_FIELD


def test_sealed_fields_are_required_and_closed() -> None:
    assert _code(Sealed.from_map, {"box": bytes(41)}) is ReasonCode.MISSING_FIELD
    assert _code(Sealed.from_map, {**SEALED_MAP, "to": b"x"}) is ReasonCode.UNKNOWN_FIELD


@given(contacts())
def test_contacts_build(contact: Contact) -> None:
    assert (contact.public is None) != (contact.sealed is None)
    assert Contact.from_map(contact.to_map()) == contact


def test_contact_is_exactly_one_of_public_and_sealed() -> None:
    assert _code(Contact.from_map, {}) is ReasonCode.BAD_FIELD
    both = {"public": "call us", "sealed": SEALED_MAP}
    assert _code(Contact.from_map, both) is ReasonCode.BAD_FIELD
    assert Contact.from_map({"sealed": SEALED_MAP}).sealed == Sealed.from_map(SEALED_MAP)
    assert _code(Contact, sealed=SEALED_MAP) is ReasonCode.BAD_FIELD  # typed needs a Sealed


def test_contact_public_is_multiline_text_of_500_bytes() -> None:
    Contact(public="line one\nline two")
    Contact(public="x" * 500)
    assert _code(Contact, public="x" * 501) is ReasonCode.BAD_FIELD
    assert _code(Contact, public="tab\there") is ReasonCode.BAD_FIELD


# --- Line, LineQty --------------------------------------------------------------------------


@given(lines())
def test_lines_build(line: Line) -> None:
    assert (line.qty is None) == line.unlimited
    assert Line.from_map(line.to_map()) == line


@given(line_qtys())
def test_line_qtys_build(line: LineQty) -> None:
    assert LineQty.from_map(line.to_map()) == line


@pytest.mark.parametrize("schema", [Line, LineQty])
def test_qty_xor_unlimited(schema: type[Schema]) -> None:
    base = {key: LINE_MAP[key] for key in ("item", "category", "unit")} if schema is Line else {}
    schema.from_map({**base, "qty": 1})
    schema.from_map({**base, "qty": MAX_AMOUNT})
    schema.from_map({**base, "unlimited": True})
    for bad in (
        {},
        {"qty": 1, "unlimited": True},
        {"qty": 0},
        {"qty": MAX_AMOUNT + 1},
        {"qty": True},
        {"qty": "5"},
        {"unlimited": False},  # a flag is written only as true
        {"qty": 5, "unlimited": False},
        {"unlimited": 1},
    ):
        assert _code(schema.from_map, {**base, **bad}) is ReasonCode.BAD_FIELD, bad


@pytest.mark.parametrize("unlimited", [0, 1, None, "yes"])
def test_typed_flag_must_be_a_bool(unlimited: Any) -> None:
    # Without this, Line(qty=1, unlimited=0) built and to_map() wrote "unlimited": 0.
    assert _code(Line, item="a", category="a", unit="u", qty=1, unlimited=unlimited) is (
        ReasonCode.BAD_FIELD
    )
    assert _code(LineQty, qty=1, unlimited=unlimited) is ReasonCode.BAD_FIELD


@pytest.mark.parametrize(
    ("field", "limit"), [("item", 120), ("unit", 32)], ids=["item-120", "unit-32"]
)
def test_line_text_limits(field: str, limit: int) -> None:
    Line.from_map({**LINE_MAP, field: "x" * limit})
    assert _code(Line.from_map, {**LINE_MAP, field: "x" * (limit + 1)}) is ReasonCode.BAD_FIELD
    assert _code(Line.from_map, {**LINE_MAP, field: "a\nb"}) is ReasonCode.BAD_FIELD


def test_line_fields() -> None:
    assert _code(Line.from_map, {**LINE_MAP, "category": "PPE"}) is ReasonCode.BAD_FIELD
    missing = {key: value for key, value in LINE_MAP.items() if key != "unit"}
    assert _code(Line.from_map, missing) is ReasonCode.MISSING_FIELD
    assert _code(Line.from_map, {**LINE_MAP, "price": 3}) is ReasonCode.UNKNOWN_FIELD


# --- need / offer ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["title", "lines", "region", "urgency", "expires", "contact"])
def test_record_required_fields(field: str) -> None:
    raw = {key: value for key, value in NEED_MAP.items() if key != field}
    assert _code(RecordBody.from_map, raw) is ReasonCode.MISSING_FIELD


def test_record_unknown_field() -> None:
    assert _code(RecordBody.from_map, _need(status="open")) is ReasonCode.UNKNOWN_FIELD
    bad_line = {**LINE_MAP, "colour": "blue"}
    assert _code(RecordBody.from_map, _need(lines=(bad_line,))) is ReasonCode.UNKNOWN_FIELD
    bad_contact = {"public": "x", "phone": "y"}
    assert _code(RecordBody.from_map, _need(contact=bad_contact)) is ReasonCode.UNKNOWN_FIELD


def test_record_missing_nested_field() -> None:
    line = {key: value for key, value in LINE_MAP.items() if key != "item"}
    assert _code(RecordBody.from_map, _need(lines=(line,))) is ReasonCode.MISSING_FIELD


def test_record_line_count() -> None:
    RecordBody.from_map(_need(lines=(LINE_MAP,) * MAX_LINES))
    assert _code(RecordBody.from_map, _need(lines=())) is ReasonCode.BAD_FIELD
    assert _code(RecordBody.from_map, _need(lines=(LINE_MAP,) * 33)) is ReasonCode.TOO_LARGE
    typed = Line.from_map(LINE_MAP)
    assert _code(RecordBody.from_map, {**NEED_MAP, "lines": (typed,) * 33}) is (
        ReasonCode.TOO_LARGE
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "x" * 201},
        {"title": ""},
        {"title": "two\nlines"},
        {"lines": LINE_MAP},
        {"lines": ("line",)},
        {"region": "Wuhan"},
        {"urgency": "urgent"},
        {"expires": -1},
        {"expires": 2**53},
        {"contact": "call us"},
        {"place": "x" * 201},
        {"place": "a\nb"},
        {"coords": (9001, 0)},
        {"coords": (0, -18001)},
        {"coords": (0, 0, 0)},
        {"coords": (True, 0)},
        {"coords": 5},
        {"needed_by": 2**53},
        {"source": "x" * 501},
        {"transport": "truck"},
        {"note": "x" * 2001},
        {"note": "bell\x07"},
        {"detail": "secret"},
        {"detail": {"box": bytes(40), "slots": (bytes(80),)}},
        {"sensitive": False},
        {"sensitive": 1},
    ],
    ids=lambda changes: "-".join(changes),
)
def test_record_bad_fields(changes: dict[str, Any]) -> None:
    assert _code(RecordBody.from_map, _need(**changes)) is ReasonCode.BAD_FIELD


def test_record_limits_are_inclusive() -> None:
    RecordBody.from_map(
        _need(
            title="x" * 200,
            place="x" * 200,
            coords=(-9000, 18000),
            needed_by=2**53 - 1,
            source="x" * 500,
            transport="needed",
            note="x" * 2000,
        )
    )


def test_sensitive_record_needs_sealed_contact_and_detail() -> None:
    sealed_contact = {"sealed": SEALED_MAP}
    RecordBody.from_map(_need(sensitive=True, contact=sealed_contact, detail=SEALED_MAP))
    for changes in (
        {"sensitive": True, "detail": SEALED_MAP},
        {"sensitive": True, "contact": sealed_contact},
    ):
        assert _code(RecordBody.from_map, _need(**changes)) is ReasonCode.BAD_FIELD
    typed = RecordBody.from_map(NEED_MAP)
    assert _code(RecordBody, **{**_fields(typed), "sensitive": 1}) is ReasonCode.BAD_FIELD


def _fields(body: Schema) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.to_map()}


# --- update ---------------------------------------------------------------------------------


def test_update_changes_at_least_one_field() -> None:
    assert _code(UpdateBody.from_map, {}) is ReasonCode.BAD_FIELD
    assert _code(UpdateBody) is ReasonCode.BAD_FIELD


def test_update_fields_are_the_mutable_ones() -> None:
    import dataclasses

    assert tuple(f.name for f in dataclasses.fields(UpdateBody)) == MUTABLE_FIELDS
    assert set(MUTABLE_FIELDS) <= {f.name for f in dataclasses.fields(RecordBody)}
    assert _code(UpdateBody.from_map, {"sensitive": True}) is ReasonCode.UNKNOWN_FIELD


@pytest.mark.parametrize(
    "field",
    [name for name in MUTABLE_FIELDS if name != "lines"],
)
def test_update_each_field_alone(field: str) -> None:
    value = {**NEED_MAP, "detail": SEALED_MAP, "place": "Ward 3", "coords": (3059, 11430)}.get(
        field, {"needed_by": 1, "source": "hospital", "transport": "needed", "note": "n"}.get(field)
    )
    assert UpdateBody.from_map({field: value}).to_map() == {field: value}


def test_update_lines_are_quantities() -> None:
    update = UpdateBody.from_map({"lines": ({"qty": 4}, {"unlimited": True})})
    assert update.lines == (LineQty(qty=4), LineQty(unlimited=True))
    assert _code(UpdateBody.from_map, {"lines": ()}) is ReasonCode.BAD_FIELD
    assert _code(UpdateBody.from_map, {"lines": (LINE_MAP,)}) is ReasonCode.UNKNOWN_FIELD
    assert _code(UpdateBody.from_map, {"lines": ({"qty": 1},) * 33}) is ReasonCode.TOO_LARGE
    UpdateBody.from_map({"lines": ({"qty": 1},) * MAX_LINES})


@pytest.mark.parametrize(
    "changes",
    [{"title": ""}, {"region": "cn"}, {"urgency": "now"}, {"coords": (0,)}, {"contact": {}}],
    ids=lambda changes: "-".join(changes),
)
def test_update_checks_values_like_the_record(changes: dict[str, Any]) -> None:
    assert _code(UpdateBody.from_map, changes) is ReasonCode.BAD_FIELD


# --- the small kinds ------------------------------------------------------------------------


def test_withdraw_reason() -> None:
    WithdrawBody.from_map({"reason": "x" * 200})
    assert _code(WithdrawBody.from_map, {}) is ReasonCode.MISSING_FIELD
    assert _code(WithdrawBody.from_map, {"reason": "x" * 201}) is ReasonCode.BAD_FIELD


def test_pledge_fields() -> None:
    PledgeBody.from_map({"line": 0, "qty": 1})
    PledgeBody.from_map({"line": 31, "qty": MAX_AMOUNT, "available_from": 0, "note": "a\nb"})
    for bad in (
        {"line": 32, "qty": 1},
        {"line": -1, "qty": 1},
        {"line": False, "qty": 1},
        {"line": 0, "qty": 0},
        {"line": 0, "qty": 1, "available_from": -5},
        {"line": 0, "qty": 1, "note": "x" * 501},
    ):
        assert _code(PledgeBody.from_map, bad) is ReasonCode.BAD_FIELD, bad
    assert _code(PledgeBody.from_map, {"qty": 1}) is ReasonCode.MISSING_FIELD


def test_cancel_reason_is_optional() -> None:
    assert CancelBody.from_map({}) == CancelBody()
    CancelBody.from_map({"reason": "x" * 200})
    assert _code(CancelBody.from_map, {"reason": "x" * 201}) is ReasonCode.BAD_FIELD


@pytest.mark.parametrize("schema", [DeliverBody, ReceiptBody])
def test_deliver_and_receipt_fields(schema: type[Schema]) -> None:
    schema.from_map({"qty": 1, "note": "x" * 500})
    assert _code(schema.from_map, {}) is ReasonCode.MISSING_FIELD
    assert _code(schema.from_map, {"qty": 0}) is ReasonCode.BAD_FIELD
    assert _code(schema.from_map, {"qty": 1, "note": "x" * 501}) is ReasonCode.BAD_FIELD
    assert _code(schema.from_map, {"qty": 1, "line": 0}) is ReasonCode.UNKNOWN_FIELD


def test_verify_method() -> None:
    for method in ("phone", "visit", "document", "known_contact", "other"):
        VerifyBody.from_map({"method": method})
    assert _code(VerifyBody.from_map, {"method": "gut feeling"}) is ReasonCode.BAD_FIELD
    assert _code(VerifyBody.from_map, {"note": "ok"}) is ReasonCode.MISSING_FIELD


def test_profile_fields() -> None:
    ProfileBody.from_map(
        {
            "name": "x" * 100,
            "regions": tuple(f"CN-A{i:02}" for i in range(16)),
            "description": "x" * 2000,
            "contact": "x" * 500,
            "org_type": "x" * 64,
        }
    )
    for bad in (
        {"name": "x" * 101},
        {"regions": ()},
        {"regions": tuple(f"CN-A{i:02}" for i in range(17))},
        {"regions": ("CN-HB", "CN-GD")},  # unsorted
        {"regions": ("CN-HB", "CN-HB")},  # repeated
        {"regions": ("hubei",)},
        {"regions": "CN-HB"},
        {"description": "x" * 2001},
        {"contact": "x" * 501},
        {"org_type": "x" * 65},
        {"org_type": "a\nb"},
    ):
        assert _code(ProfileBody.from_map, {"name": "Sisters relief", **bad}) is (
            ReasonCode.BAD_FIELD
        ), bad


def test_urgency_rank_is_most_urgent_first() -> None:
    assert [u.value for u in sorted(Urgency, key=lambda u: URGENCY_RANK[u.value])] == [
        "24h",
        "3d",
        "1w",
        "any",
    ]
