"""Suggestions pair needs with offers by category, item, region and urgency, never
suggesting more than is still unpledged."""

from __future__ import annotations

from node.match import suggest
from node.storage import RecordSummary
from sync.views import LineState, Progress, Status

WARD, CONVOY, SHENZHEN, SISTERS = (bytes([n]) * 32 for n in range(1, 5))


def line(item: str, category: str, qty: int | None, pledged: int = 0) -> LineState:
    return LineState(
        index=0, item=item, category=category, unit="pieces", qty=qty, pledged=pledged,
        delivered=0, received=0,
    )  # fmt: skip


def record(
    kind: str, org: bytes, region: str, *lines: LineState, urgency: str = "3d",
    verified: bool = False, number: int = 0,
) -> RecordSummary:  # fmt: skip
    return RecordSummary(
        id=bytes([number]) * 32, kind=kind, org=org, title=f"{kind} {number}", region=region,
        urgency=urgency, expires=0, needed_by=None, status=Status.OPEN,
        pledge_status=Progress.NONE, fulfil_status=Progress.NONE, updated_hlc=number,
        sensitive=False, verified_by=(CONVOY,) if verified else (),
        lines=tuple(
            LineState(**{**{f: getattr(ln, f) for f in LineState.__slots__}, "index": i})
            for i, ln in enumerate(lines)
        ),
    )  # fmt: skip


def test_same_item_nearby_and_urgent_first() -> None:
    need = record("need", WARD, "CN-HB-WH", line("N95 respirator", "medical.ppe", 2000, 500),
                  urgency="24h", verified=True, number=1)  # fmt: skip
    near = record("offer", SISTERS, "CN-HB", line("N95 respirator", "medical.ppe", 600), number=2)
    far = record(
        "offer", SHENZHEN, "CN-GD-SZ", line("N95 respirator", "medical.ppe", None), number=3
    )
    other = record(
        "offer", SHENZHEN, "CN-HB-WH", line("surgical mask", "medical.ppe", 10_000), number=4
    )
    found = suggest([need], [far, other, near])
    assert [s.offer.id for s in found] == [near.id, far.id, other.id]
    assert found[0].qty == 600  # the offer has 600; the need still lacks 1,500
    assert found[1].qty == 1500  # an unlimited offer: what the need still lacks
    assert "need verified" in found[0].reasons and "urgent (24h)" in found[0].reasons


def test_nothing_across_categories_own_records_or_covered_lines() -> None:
    covered = record(
        "need", WARD, "CN-HB-WH", line("rice (10 kg)", "food.groceries", 40, 40), number=1
    )
    wrong = record(
        "need", WARD, "CN-HB-WH", line("sanitary pads", "hygiene.menstrual", 100), number=2
    )
    own = record("need", SISTERS, "CN-HB", line("rice (10 kg)", "food.groceries", 10), number=3)
    offer = record("offer", SISTERS, "CN-HB", line("rice (10 kg)", "food.groceries", 50), number=4)
    assert suggest([covered, wrong, own], [offer]) == []


def test_a_category_and_its_subcategory_fit() -> None:
    need = record("need", WARD, "CN-HB-WH", line("face shield", "medical.ppe", 50), number=1)
    offer = record("offer", CONVOY, "CN-HB-WH", line("protective kit", "medical", 20), number=2)
    [found] = suggest([need], [offer])
    assert found.qty == 20 and found.reasons[0] == "same category"
