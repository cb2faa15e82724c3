"""bench/workload.py: deterministic, valid, causally ordered, and in the stated proportions."""

from __future__ import annotations

import collections

import pytest

from bench.workload import build_workload, org_identity
from protocol.envelope import decode_event
from protocol.kinds import KIND_SPECS

WORK = build_workload(records=300, orgs=12, seed=3)


def test_same_arguments_same_bytes() -> None:
    again = build_workload(records=300, orgs=12, seed=3)
    assert [event.wire for event in again.events] == [event.wire for event in WORK.events]
    other = build_workload(records=300, orgs=12, seed=4)
    assert other.events[0].wire != WORK.events[0].wire
    assert org_identity(3, 0).public_key != org_identity(4, 0).public_key


def test_every_event_decodes_at_now() -> None:
    for event in WORK.events:
        assert decode_event(event.wire, now_ms=WORK.now_ms) == event


def test_events_are_ordered_and_refs_point_backwards() -> None:
    seen: dict[bytes, str] = {}
    for before, after in zip(WORK.events, WORK.events[1:], strict=False):
        assert before.sort_key < after.sort_key
    for event in WORK.events:
        if event.ref is not None:
            assert event.ref in seen, event  # the target came earlier
            assert seen[event.ref] in KIND_SPECS[event.kind].targets, event
        seen[event.id] = event.kind


def test_mix_per_record() -> None:
    counts = collections.Counter(event.kind for event in WORK.events)
    records = counts["need"] + counts["offer"]
    assert records == 300
    for kind, per_record in {
        "update": 0.3,
        "pledge": 1.5,
        "deliver": 1.0,
        "receipt": 1.0,
        "verify": 0.5,
    }.items():
        assert counts[kind] / records == pytest.approx(per_record, rel=0.25), kind
    assert counts["incept"] == counts["profile"] == 12
    assert 12 <= counts["endorse"] <= 24


def test_roles_follow_the_kind_table() -> None:
    by_id = {event.id: event for event in WORK.events}
    for event in WORK.events:
        if event.kind in ("update", "verify", "pledge"):
            record = by_id[event.ref or b""]
            assert (event.author == record.author) == (event.kind == "update")
        if event.kind in ("deliver", "receipt"):
            pledge = by_id[event.ref or b""]
            record = by_id[pledge.ref or b""]
            giver = pledge.author if record.kind == "need" else record.author
            receiver = record.author if record.kind == "need" else pledge.author
            assert event.author == (giver if event.kind == "deliver" else receiver)


def test_too_few_orgs_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        build_workload(records=1, orgs=2)
