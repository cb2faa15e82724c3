"""What operators type, turned into protocol values: lines, quantities, durations, dates, keys.

Shared by the CLI and the local API, so ``--line "N95 respirator:medical.ppe:1000:pieces"`` and
``{"lines": [{"item": …}]}`` are checked by the same rules and refused with the same words.
Every parser raises :class:`InputError` naming the field; the CLI turns it into a usage error
(exit 2), the API into ``400 bad_input``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from crypto import AidError, KeyMaterialError, decode_key
from protocol import Line, ProtocolError
from protocol.limits import MAX_AMOUNT

__all__ = [
    "DAY_MS",
    "InputError",
    "LineSpec",
    "parse_duration_ms",
    "parse_key",
    "parse_line",
    "parse_line_qty",
    "parse_quantity",
    "parse_since",
    "parse_when",
]

DAY_MS = 86_400_000
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_DURATION = re.compile(r"(\d{1,6})\s*([mhdw])")
UNLIMITED = "unlimited"


class InputError(AidError):
    """Input an operator (or an API client) gave is not well-formed. ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def parse_quantity(field: str, text: Any, *, allow_unlimited: bool = False) -> int | None:
    """A whole positive quantity (1 … 1 000 000 000), or None for ``unlimited`` if allowed."""
    if allow_unlimited and isinstance(text, str) and text.strip().lower() == UNLIMITED:
        return None
    if isinstance(text, bool):
        raise InputError(field, "must be a whole number")
    if isinstance(text, int):
        value = text
    else:
        raw = str(text).strip()
        if not re.fullmatch(r"[+-]?\d+", raw):
            hint = " or 'unlimited'" if allow_unlimited else ""
            raise InputError(field, f"{text!r} is not a whole number{hint}")
        value = int(raw)
    if not 1 <= value <= MAX_AMOUNT:
        raise InputError(field, f"must be between 1 and {MAX_AMOUNT:,}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One line as typed: ``ITEM:CATEGORY:QTY:UNIT`` (QTY may be ``unlimited``)."""

    item: str
    category: str
    qty: int | None
    unit: str

    def to_line(self) -> Line:
        """The protocol line; :class:`InputError` if a field breaks the protocol's rules."""
        try:
            return Line(
                item=self.item,
                category=self.category,
                unit=self.unit,
                qty=self.qty,
                unlimited=self.qty is None,
            )
        except ProtocolError as exc:
            raise InputError("line", exc.detail) from None


def parse_line(text: str) -> LineSpec:
    """``ITEM:CATEGORY:QTY:UNIT``, e.g. ``N95 respirator:medical.ppe:1000:pieces``.

    The item may itself contain colons (the last three fields are split off from the right).
    """
    parts = text.rsplit(":", 3)
    if len(parts) != 4 or not all(p.strip() for p in parts):
        raise InputError(
            "line",
            f"{text!r} is not ITEM:CATEGORY:QTY:UNIT "
            "(e.g. 'N95 respirator:medical.ppe:1000:pieces' or 'rice (10 kg):food:unlimited:bags')",
        )
    item, category, qty, unit = (p.strip() for p in parts)
    spec = LineSpec(item, category, parse_quantity("line qty", qty, allow_unlimited=True), unit)
    spec.to_line()  # refuse a bad category or over-long item now, naming the line
    return spec


def parse_line_qty(text: str) -> tuple[int, int | None]:
    """``N=QTY`` for ``update --line-qty``: line number N (from 1) gets quantity QTY."""
    number, sep, qty = text.partition("=")
    if not sep or not number.strip().isdigit() or int(number) < 1:
        raise InputError("line-qty", f"{text!r} is not N=QTY (e.g. 2=500 or 1=unlimited)")
    return int(number), parse_quantity("line-qty", qty, allow_unlimited=True)


def parse_duration_ms(field: str, text: str) -> int:
    """``90m``, ``36h``, ``14d``, ``2w`` or combinations (``1d12h``), in milliseconds."""
    raw = text.strip().lower().replace(" ", "")
    total, position = 0, 0
    for match in _DURATION.finditer(raw):
        if match.start() != position:
            break
        total += int(match[1]) * _UNIT_MS[match[2]]
        position = match.end()
    if not raw or position != len(raw) or total <= 0:
        raise InputError(field, f"{text!r} is not a duration like 90m, 36h, 14d or 2w")
    return total


def parse_when(field: str, text: str, now_ms: int) -> int:
    """A moment: a duration from now (``14d``), a date (``2020-02-20``, end of that day UTC)
    or an ISO date-time (``2020-02-20T18:00``, UTC unless it names a zone), in Unix ms."""
    raw = text.strip()
    if raw and raw[0].isdigit() and raw[-1].lower() in _UNIT_MS:
        return now_ms + parse_duration_ms(field, raw)
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise InputError(
            field, f"{text!r} is not a duration (14d) or a date (2020-02-20)"
        ) from None
    return int(moment.timestamp() * 1000)


def parse_since(field: str, text: str, now_ms: int) -> int:
    """A moment in the past: a duration ago (``7d``) or a date, in Unix ms."""
    raw = text.strip()
    if raw and raw[0].isdigit() and raw[-1].lower() in _UNIT_MS:
        return now_ms - parse_duration_ms(field, raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(field, f"{text!r} is not a duration (7d) or a date (2020-02-20)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_key(field: str, text: str) -> bytes:
    """A public key as operators pass it around: ``aid1…`` (or 64 hex digits)."""
    try:
        return decode_key(text)
    except KeyMaterialError as exc:
        raise InputError(
            field, f"{exc} (keys look like aid1…, as `aidnode id` prints them)"
        ) from None
