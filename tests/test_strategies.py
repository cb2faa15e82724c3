"""tests/strategies.py: the shared strategies produce what they promise, so other modules'
tests (the fold's, the store's) can rely on them."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from protocol.codes import Kind
from protocol.envelope import Event, OpaqueBody, decode_event, hlc_millis
from protocol.fields import check_category, check_region, check_text
from protocol.kinds import KIND_SPECS, Ref
from protocol.records import PledgeBody
from tests.strategies import (
    EARLIEST_MS,
    IDENTITIES,
    LATEST_MS,
    NOW_MS,
    categories,
    events,
    hlcs,
    identities,
    kind_events,
    regions,
    texts,
    unknown_events,
)

ORG = IDENTITIES[2]
RECORD = bytes(range(32))


@given(st.integers(1, 300), st.booleans(), st.data())
def test_texts_pass_check_text(max_bytes: int, multiline: bool, data: st.DataObject) -> None:
    text = data.draw(texts(max_bytes, multiline=multiline))
    check_text("t", text, max_bytes, multiline=multiline)
    assert unicodedata.is_normalized("NFC", text)


@given(regions(), categories())
def test_codes_pass_their_checks(region: str, category: str) -> None:
    check_region("r", region)
    check_category("c", category)


@given(hlcs(min_ms=1000, max_ms=2000))
def test_hlcs_are_in_range(hlc: int) -> None:
    assert 1000 <= hlc_millis(hlc) <= 2000


@given(events())
def test_events_decode_at_now(event: Event) -> None:
    assert decode_event(event.wire, now_ms=NOW_MS) == event
    assert EARLIEST_MS <= hlc_millis(event.hlc) <= LATEST_MS
    assert event.author in {identity.public_key for identity in IDENTITIES}
    spec = KIND_SPECS[event.kind]
    if spec.ref is Ref.NONE:
        assert event.ref is None


@given(
    kind_events(
        Kind.PLEDGE,
        authors=st.just(ORG),
        hlc=st.just(12345 << 16),
        refs=st.just(RECORD),
        body=st.just(PledgeBody(line=1, qty=7)),
    )
)
def test_kind_events_follow_every_control(event: Event) -> None:
    assert event.kind == "pledge"
    assert event.author == ORG.public_key
    assert event.hlc == 12345 << 16
    assert event.ref == RECORD
    assert event.body == PledgeBody(line=1, qty=7)


@given(events(st.sampled_from([Kind.NEED, Kind.ENDORSE]), authors=identities(2)))
def test_events_take_kinds_and_authors(event: Event) -> None:
    assert event.kind in ("need", "endorse")
    assert event.author in (IDENTITIES[0].public_key, IDENTITIES[1].public_key)


@given(unknown_events())
def test_unknown_events_are_opaque(event: Event) -> None:
    assert event.kind not in KIND_SPECS
    assert isinstance(event.body, OpaqueBody)
