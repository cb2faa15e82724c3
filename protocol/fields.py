"""Field validators shared by the body schemas (docs/protocol.md §3).

Each returns nothing and raises :class:`ProtocolError` with code ``bad_field`` naming the field.
They check exact types (``type(x) is int``: a bool is not a quantity) because decoded values
come straight from the wire.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Any

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from protocol.limits import MAX_AMOUNT, MAX_MILLIS

__all__ = [
    "check_amount",
    "check_bytes",
    "check_category",
    "check_choice",
    "check_int",
    "check_millis",
    "check_region",
    "check_text",
    "check_true",
    "fail",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_REGION = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3}){0,3}")
_CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,23}(?:\.[a-z][a-z0-9_]{0,23}){0,3}")


def fail(name: str, why: str) -> ProtocolError:
    """The error for field ``name``; callers ``raise fail(...)`` so control flow stays visible."""
    return ProtocolError(ReasonCode.BAD_FIELD, f"{name}: {why}")


def check_text(name: str, value: Any, max_bytes: int, *, multiline: bool = False) -> None:
    """A non-empty NFC string of at most ``max_bytes`` UTF-8 bytes without control characters
    (``multiline`` allows line feeds)."""
    if type(value) is not str:
        raise fail(name, "must be a string")
    length = len(value)
    if not length:
        raise fail(name, "must not be empty")
    if length > max_bytes:
        raise fail(name, f"longer than {max_bytes} bytes")
    if value.isascii():
        # One byte per character and always NFC. Among ASCII characters exactly the C0
        # controls and DEL are not printable, so the regex is needed only for those.
        if not value.isprintable() and (
            (_CONTROL_BUT_NEWLINE if multiline else _CONTROL).search(value)
        ):
            raise fail(name, "contains control characters")
        return
    if (_CONTROL_BUT_NEWLINE if multiline else _CONTROL).search(value):
        raise fail(name, "contains control characters")
    try:
        size = len(value.encode())
    except UnicodeEncodeError:  # lone surrogates: a Python str, but not Unicode text
        raise fail(name, "not valid Unicode") from None
    if size > max_bytes:
        raise fail(name, f"longer than {max_bytes} bytes")
    if not unicodedata.is_normalized("NFC", value):
        raise fail(name, "not in Unicode NFC")


def check_int(name: str, value: Any, low: int, high: int) -> None:
    """An integer (not a bool) with ``low <= value <= high``."""
    if type(value) is not int:
        raise fail(name, "must be an integer")
    if not low <= value <= high:
        raise fail(name, f"must be between {low} and {high}")


def check_amount(name: str, value: Any) -> None:
    """A quantity: an integer from 1 to MAX_AMOUNT (whole units; no fractions on the wire)."""
    if type(value) is not int or not 1 <= value <= MAX_AMOUNT:  # check_int, inlined: hot
        check_int(name, value, 1, MAX_AMOUNT)


def check_millis(name: str, value: Any) -> None:
    """A timestamp in Unix milliseconds, 0 … 2^53-1."""
    if type(value) is not int or not 0 <= value <= MAX_MILLIS:  # check_int, inlined: hot
        check_int(name, value, 0, MAX_MILLIS)


def check_bytes(name: str, value: Any, size: int) -> None:
    """A binary string of exactly ``size`` bytes."""
    if type(value) is not bytes or len(value) != size:
        raise fail(name, f"must be {size} bytes")


def check_true(name: str, value: Any) -> None:
    """A flag: present only as ``true`` (absence means false, so there is one encoding)."""
    if value is not True:
        raise fail(name, "a flag is either absent or true")


def check_choice(name: str, value: Any, choices: type[StrEnum]) -> None:
    """One of the string values of ``choices``."""
    if type(value) is not str or value not in choices._value2member_map_:
        allowed = ", ".join(c.value for c in choices)
        raise fail(name, f"must be one of {allowed}")


def check_region(name: str, value: Any) -> None:
    """An ISO 3166-2 style code with up to three sub-levels, e.g. ``CN-HB-WH``."""
    if type(value) is not str or len(value) > 16 or not _REGION.fullmatch(value):
        raise fail(name, "must be a region code like CN-HB-WH")


def check_category(name: str, value: Any) -> None:
    """A dotted HXL-style category code, e.g. ``medical.ppe``."""
    if type(value) is not str or len(value) > 64 or not _CATEGORY.fullmatch(value):
        raise fail(name, "must be a category code like medical.ppe")
