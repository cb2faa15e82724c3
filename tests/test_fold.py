"""The fold: targeted rules per kind and per authorisation rule (docs/protocol.md §6)."""

from __future__ import annotations

import random

import pytest

from protocol import Event, Ineffective
from sync.fold import Ledger, fold
from sync.views import Progress, RecordState, RecordView, Status
from tests.builders import DAY_MS, START_MS, World


@pytest.fixture
def world() -> World:
    return World()


def view(events: list[Event], record: Event) -> RecordView:
    return fold(events).records[record.id]


def ignored_reasons(events: list[Event], record: Event) -> dict[bytes, Ineffective]:
    return {i.id: i.reason for i in view(events, record).ignored}


def test_a_need_alone_is_open_with_nothing_pledged(world: World) -> None:
    ward = world.org("ward")
    need = world.need(
        ward, [("N95 respirator", "medical.ppe", 1000), ("goggles", "medical.ppe", 50)]
    )
    record = view([need], need)
    assert record.org == ward.id
    assert record.state is RecordState.OPEN
    assert record.status(START_MS) is Status.OPEN
    assert [(line.qty, line.pledged, line.remaining) for line in record.lines] == [
        (1000, 0, 1000),
        (50, 0, 50),
    ]
    assert record.pledge_status is Progress.NONE
    assert record.fulfil_status is Progress.NONE


def test_the_whole_story_pledge_deliver_receive_fulfils(world: World) -> None:
    ward, convoy, verifier = world.org("ward"), world.org("convoy"), world.org("verifier")
    need = world.need(ward, [("N95 respirator", "medical.ppe", 1000)])
    verify = world.verify(verifier, need)
    pledge = world.pledge(convoy, need, qty=600)
    pledge2 = world.pledge(verifier, need, qty=400)
    sent = world.deliver(convoy, pledge, 600)
    got = world.receipt(ward, pledge, 600)
    events = [need, verify, pledge, pledge2, sent, got]
    record = view(events, need)
    line = record.lines[0]
    assert (line.pledged, line.delivered, line.received, line.remaining) == (1000, 600, 600, 400)
    assert line.pledge_status is Progress.COMPLETE
    assert line.fulfil_status is Progress.PARTIAL
    assert record.state is RecordState.OPEN
    assert [a.org for a in record.verifications] == [verifier.id]
    got2 = world.receipt(ward, pledge2, 400)
    record = view([*events, got2], need)
    assert record.state is RecordState.FULFILLED
    assert record.fulfil_status is Progress.COMPLETE
    assert record.status(START_MS + 30 * DAY_MS) is Status.FULFILLED  # fulfilled beats expired


def test_only_a_receipt_fulfils_deliveries_do_not(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward, [("rice (10 kg)", "food.groceries", 10)])
    pledge = world.pledge(convoy, need, qty=10)
    record = view([need, pledge, world.deliver(convoy, pledge, 10)], need)
    assert record.lines[0].delivered == 10
    assert record.state is RecordState.OPEN


def test_expiry_is_a_view_time_status(world: World) -> None:
    need = world.need(world.org("ward"), expires_in_days=2)
    record = view([need], need)
    assert record.status(START_MS + DAY_MS) is Status.OPEN
    assert record.status(START_MS + 2 * DAY_MS) is Status.EXPIRED


def test_updates_are_last_writer_wins_per_field_by_hlc_then_id(world: World) -> None:
    ward = world.org("ward")
    need = world.need(ward, title="masks")
    early = world.update(ward, need, title="masks, urgent", urgency="24h")
    late = world.update(ward, need, title="masks for ward 3")
    for order in ([need, early, late], [late, early, need], [early, need, late]):
        record = view(order, need)
        assert record.title == "masks for ward 3"  # the later update wins the title…
        assert record.urgency == "24h"  # …but only the earlier one set urgency


def test_equal_hlc_updates_are_decided_by_event_id(world: World) -> None:
    ward = world.org("ward")
    need = world.need(ward)
    same = world.tick()
    a = world.update(ward, need, title="title A", hlc=same)
    b = world.update(ward, need, title="title B", hlc=same)
    winner = max((a, b), key=lambda e: e.id)
    expected = "title A" if winner is a else "title B"
    assert view([need, a, b], need).title == expected
    assert view([need, b, a], need).title == expected


def test_update_can_change_quantities_but_not_the_number_of_lines(world: World) -> None:
    ward = world.org("ward")
    need = world.need(
        ward, [("N95 respirator", "medical.ppe", 1000), ("goggles", "medical.ppe", 50)]
    )
    more = world.update(ward, need, qtys=[2000, None])
    wrong = world.update(ward, need, qtys=[5])
    record = view([need, more, wrong], need)
    assert [line.qty for line in record.lines] == [2000, None]
    assert record.lines[1].unlimited and record.lines[1].remaining is None
    assert ignored_reasons([need, more, wrong], need) == {wrong.id: Ineffective.LINES_MISMATCH}


def test_only_the_records_org_may_update_or_withdraw(world: World) -> None:
    ward, stranger = world.org("ward"), world.org("stranger")
    need = world.need(ward, title="masks")
    hijack = world.update(stranger, need, title="send masks to me instead")
    withdraw = world.withdraw(stranger, need)
    events = [need, hijack, withdraw]
    record = view(events, need)
    assert record.title == "masks"
    assert record.state is RecordState.OPEN
    assert ignored_reasons(events, need) == {
        hijack.id: Ineffective.NOT_RECORD_ORG,
        withdraw.id: Ineffective.NOT_RECORD_ORG,
    }


def test_withdrawal_is_terminal_whatever_arrives_later(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    old_update = world.update(ward, need, title="older", hlc=need.hlc + 1)
    withdraw = world.withdraw(ward, need)
    pledge = world.pledge(convoy, need, qty=1000)
    got = world.receipt(ward, pledge, 1000)
    for tail in ([old_update], [pledge, got], [old_update, pledge, got]):
        record = view([need, withdraw, *tail], need)
        assert record.state is RecordState.WITHDRAWN
        assert record.withdrawal is not None and record.withdrawal.id == withdraw.id


def test_the_earliest_withdrawal_is_the_withdrawal(world: World) -> None:
    ward = world.org("ward")
    need = world.need(ward)
    first, second = world.withdraw(ward, need), world.withdraw(ward, need)
    withdrawal = view([need, second, first], need).withdrawal
    assert withdrawal is not None and withdrawal.id == first.id


def test_an_org_cannot_pledge_to_or_verify_its_own_record(world: World) -> None:
    ward = world.org("ward")
    need = world.need(ward)
    pledge, verify = world.pledge(ward, need), world.verify(ward, need)
    events = [need, pledge, verify]
    assert ignored_reasons(events, need) == {
        pledge.id: Ineffective.SELF_PLEDGE,
        verify.id: Ineffective.SELF_VERIFY,
    }
    assert view(events, need).verifications == ()


def test_pledge_against_a_missing_line_is_ignored(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    pledge = world.pledge(convoy, need, line=3)
    assert ignored_reasons([need, pledge], need) == {pledge.id: Ineffective.UNKNOWN_LINE}


def test_only_the_pledging_org_may_cancel(world: World) -> None:
    ward, convoy, mask = world.org("ward"), world.org("convoy"), world.org("masks")
    need = world.need(ward)
    pledge = world.pledge(convoy, need, qty=300)
    sabotage = world.cancel(mask, pledge)
    assert view([need, pledge, sabotage], need).lines[0].pledged == 300
    assert ignored_reasons([need, pledge, sabotage], need) == {
        sabotage.id: Ineffective.NOT_PLEDGE_ORG
    }
    honest = world.cancel(convoy, pledge)
    record = view([need, pledge, sabotage, honest], need)
    assert record.lines[0].pledged == 0
    assert record.pledges[0].cancelled


def test_deliveries_come_from_the_giver_and_receipts_from_the_receiver(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    pledge = world.pledge(convoy, need, qty=100)
    fake_receipt = world.receipt(convoy, pledge, 100)  # the giver cannot say it was received
    fake_delivery = world.deliver(ward, pledge, 100)  # the receiver did not send it
    events = [need, pledge, fake_receipt, fake_delivery]
    line = view(events, need).lines[0]
    assert (line.delivered, line.received) == (0, 0)
    assert ignored_reasons(events, need) == {
        fake_receipt.id: Ineffective.NOT_RECEIVER,
        fake_delivery.id: Ineffective.NOT_GIVER,
    }


def test_on_an_offer_the_roles_swap(world: World) -> None:
    sisters, ward = world.org("sisters relief"), world.org("ward")
    offer = world.offer(sisters, [("pad panties", "hygiene.menstrual", 5000)])
    claim = world.pledge(ward, offer, qty=2000)  # a claim on the offer
    sent = world.deliver(sisters, claim, 2000)  # the offering org sends
    got = world.receipt(ward, claim, 2000)  # the claimant receives
    line = view([offer, claim, sent, got], offer).lines[0]
    assert (line.pledged, line.delivered, line.received, line.remaining) == (2000, 2000, 2000, 3000)


def test_events_about_an_ignored_pledge_are_ignored_too(world: World) -> None:
    ward = world.org("ward")
    need = world.need(ward)
    self_pledge = world.pledge(ward, need)
    receipt = world.receipt(ward, self_pledge, 10)
    reasons = ignored_reasons([need, self_pledge, receipt], need)
    assert reasons[receipt.id] is Ineffective.WRONG_TARGET


def test_unlimited_lines_are_never_complete(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward, [("hot meals for medical staff", "food.groceries", None)])
    pledge = world.pledge(convoy, need, qty=500)
    record = view([need, pledge, world.receipt(ward, pledge, 500)], need)
    assert record.lines[0].pledge_status is Progress.PARTIAL
    assert record.lines[0].fulfil_status is Progress.PARTIAL
    assert record.state is RecordState.OPEN


def test_events_whose_ref_points_at_the_wrong_kind_belong_to_no_record(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    pledge = world.pledge(convoy, need)
    misdirected = world.pledge(convoy, pledge)  # a pledge "on" a pledge
    state = fold([need, pledge, misdirected])
    assert set(state.records) == {need.id}
    assert [p.id for p in state.records[need.id].pledges] == [pledge.id]


def test_unknown_kinds_are_ignored_by_the_fold(world: World) -> None:
    ward = world.org("ward")
    need = world.need(ward)
    future = world.sign("feedback", ward, {"stars": 5}, ref=need.id)
    assert fold([need, future]).records == fold([need]).records


def test_profiles_are_last_writer_wins_per_org(world: World) -> None:
    ward = world.org("ward")
    old, new = world.profile(ward, "Ward 3"), world.profile(ward, "Xiehe ward 3 support group")
    assert fold([new, old]).profiles[ward.id].name == "Xiehe ward 3 support group"


def test_fold_is_independent_of_order_and_duplicates(world: World) -> None:
    ward, convoy, verifier = world.org("ward"), world.org("convoy"), world.org("verifier")
    need = world.need(ward)
    pledge = world.pledge(convoy, need)
    events = [
        need,
        pledge,
        world.verify(verifier, need),
        world.deliver(convoy, pledge, 50),
        world.receipt(ward, pledge, 50),
        world.update(ward, need, title="changed"),
        world.endorse(ward, convoy),
    ]
    expected = fold(events)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = events + rng.sample(events, 3)
        rng.shuffle(shuffled)
        assert fold(shuffled) == expected


def test_ledger_apply_reports_what_changed_and_is_idempotent(world: World) -> None:
    ward, convoy = world.org("ward"), world.org("convoy")
    need = world.need(ward)
    pledge = world.pledge(convoy, need)
    ledger = Ledger()
    assert ledger.apply(pledge).records == set()  # waits for its record
    changes = ledger.apply(need)
    assert changes.new and changes.records == {need.id}
    assert ledger.records[need.id].lines[0].pledged == 100
    again = ledger.apply(need)
    assert not again.new and again.records == set()
    assert ledger.state() == fold([need, pledge])
