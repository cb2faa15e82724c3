"""Suggest which offers could meet which needs (``aidnode match``).

A suggestion pairs one line of an open need with one line of an open offer of another group
in the same category (or one inside the other: ``medical`` and ``medical.ppe``), both with
something left (nobody has pledged it yet, or unlimited). Suggestions are ranked by, in order
of weight: how alike the items are, how close the regions are, how urgent the need is, and
whether a verifier this node trusts has attested the need. The quantity suggested is what is
still unpledged on both sides, so following the suggestion never over-pledges.

Pure: a function of the record summaries it is given, so it is tested without a node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from node.storage import RecordSummary
from sync.views import LineState

__all__ = ["Suggestion", "suggest"]

_URGENCY_SCORE = {"24h": 1.5, "3d": 1.0, "1w": 0.5, "any": 0.0}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Suggestion:
    need: RecordSummary
    need_line: LineState
    offer: RecordSummary
    offer_line: LineState
    qty: int | None  # None: both sides unlimited, agree on an amount
    score: float
    reasons: tuple[str, ...]


def _category_fits(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _item_score(a: str, b: str) -> tuple[float, str]:
    if a.casefold() == b.casefold():
        return 3.0, "same item"
    words_a, words_b = set(_WORD.findall(a.casefold())), set(_WORD.findall(b.casefold()))
    shared = words_a & words_b
    if shared:
        return 1.0 + len(shared) / max(len(words_a), len(words_b)), "similar item"
    return 0.0, "same category"


def _region_score(need: str, offer: str) -> tuple[float, str]:
    if need == offer or need.startswith(offer + "-"):
        return 2.0, "same region"
    need_parts, offer_parts = need.split("-"), offer.split("-")
    shared = 0
    for x, y in zip(need_parts, offer_parts, strict=False):
        if x != y:
            break
        shared += 1
    if shared >= 2:
        return 1.0, "neighbouring region"
    if shared == 1:
        return 0.3, "same country"
    return 0.0, "far away"


def _left(line: LineState) -> int | None:
    """What is still open on a line: its unpledged quantity (None: unlimited)."""
    return line.unpledged


def suggest(
    needs: Iterable[RecordSummary], offers: Iterable[RecordSummary], *, limit: int = 20
) -> list[Suggestion]:
    """The best ``limit`` need-line/offer-line pairs, best first (ties: oldest need first)."""
    offer_lines = [
        (offer, line)
        for offer in offers
        for line in offer.lines
        if _left(line) is None or (_left(line) or 0) > 0
    ]
    found: list[Suggestion] = []
    for need in needs:
        for need_line in need.lines:
            wanted = _left(need_line)
            if wanted is not None and wanted <= 0:
                continue
            for offer, offer_line in offer_lines:
                if offer.org == need.org or not _category_fits(
                    need_line.category, offer_line.category
                ):
                    continue
                item, item_why = _item_score(need_line.item, offer_line.item)
                region, region_why = _region_score(need.region, offer.region)
                score = item + region + _URGENCY_SCORE.get(need.urgency, 0.0)
                reasons = [item_why, region_why]
                if need.verified_by:
                    score += 1.0
                    reasons.append("need verified")
                if need.urgency in ("24h", "3d"):
                    reasons.append(f"urgent ({need.urgency})")
                available = _left(offer_line)
                qty = (
                    available
                    if wanted is None
                    else wanted
                    if available is None
                    else min(wanted, available)
                )
                found.append(
                    Suggestion(
                        need=need, need_line=need_line, offer=offer, offer_line=offer_line,
                        qty=qty, score=round(score, 2), reasons=tuple(reasons),
                    )
                )  # fmt: skip
    found.sort(key=lambda s: (-s.score, s.need.updated_hlc, s.need.id, s.offer.id))
    return found[:limit]
