"""Body schemas of the record kinds and what happens to records (docs/protocol.md §4.1–4.4).

``need`` and ``offer`` create a record (its id is the creating event's id); ``update``,
``withdraw``, ``pledge``, ``verify`` refer to a record; ``cancel``, ``deliver``, ``receipt``
refer to a pledge; ``profile`` describes the authoring org.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from crypto.sealed import BOX_OVERHEAD_BYTES, SEALED_SLOT_BYTES
from protocol.fields import (
    check_amount,
    check_bytes,
    check_category,
    check_choice,
    check_int,
    check_millis,
    check_region,
    check_text,
    fail,
)
from protocol.limits import MAX_LINES, MAX_RECIPIENTS, MAX_SEALED_BYTES
from protocol.schema import Schema, nested, nested_tuple

__all__ = [
    "CancelBody",
    "Contact",
    "DeliverBody",
    "Line",
    "LineQty",
    "PledgeBody",
    "ProfileBody",
    "ReceiptBody",
    "RecordBody",
    "Sealed",
    "Transport",
    "UpdateBody",
    "Urgency",
    "VerifyBody",
    "VerifyMethod",
    "WithdrawBody",
]

_MIN_BOX_BYTES = BOX_OVERHEAD_BYTES  # nonce + tag: a box must hold at least one byte more


class Urgency(StrEnum):
    """How soon a need must be met; also the sort order of listings (first = most urgent)."""

    WITHIN_24H = "24h"
    WITHIN_3D = "3d"
    WITHIN_WEEK = "1w"
    ANYTIME = "any"


URGENCY_RANK = {u.value: rank for rank, u in enumerate(Urgency)}


class Transport(StrEnum):
    NEEDED = "needed"  # the need's org cannot collect: someone must deliver
    PROVIDED = "provided"  # the offer includes delivery
    NOT_NEEDED = "not_needed"


class VerifyMethod(StrEnum):
    PHONE = "phone"
    VISIT = "visit"
    DOCUMENT = "document"
    KNOWN_CONTACT = "known_contact"
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sealed(Schema):
    """A value encrypted to up to 16 recipient orgs (see :mod:`crypto.sealed`).

    ``box`` is nonce ‖ XSalsa20-Poly1305 ciphertext under a random key; each ``slots`` entry is
    that key in a libsodium sealed box to one recipient's X25519 key. Slots are not labelled,
    so the field does not reveal who can read it.
    """

    box: bytes
    slots: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if type(self.box) is not bytes or not _MIN_BOX_BYTES < len(self.box) <= MAX_SEALED_BYTES:
            raise fail("sealed.box", f"must be {_MIN_BOX_BYTES + 1}…{MAX_SEALED_BYTES} bytes")
        if type(self.slots) is not tuple or not 1 <= len(self.slots) <= MAX_RECIPIENTS:
            raise fail("sealed.slots", f"must be 1…{MAX_RECIPIENTS} slots")
        for slot in self.slots:
            check_bytes("sealed.slots[]", slot, SEALED_SLOT_BYTES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact(Schema):
    """How to reach the record's org: exactly one of ``public`` text or a ``sealed`` value."""

    public: str | None = None
    sealed: Sealed | None = None

    _converters: ClassVar[dict[str, Any]] = {"sealed": nested(Sealed)}

    def __post_init__(self) -> None:
        if (self.public is None) == (self.sealed is None):
            raise fail("contact", "exactly one of public, sealed")
        if self.public is not None:
            check_text("contact.public", self.public, 500, multiline=True)
        elif not isinstance(self.sealed, Sealed):
            raise fail("contact.sealed", "must be a sealed value")


def _check_qty(name: str, qty: int | None, unlimited: bool) -> None:
    if type(unlimited) is not bool:
        raise fail(f"{name}.unlimited", "must be a boolean")
    if unlimited:
        if qty is not None:
            raise fail(name, "either qty or unlimited, not both")
    elif qty is None:
        raise fail(name, "needs qty or unlimited")
    else:
        check_amount(f"{name}.qty", qty)


@dataclass(frozen=True, slots=True, kw_only=True)
class Line(Schema):
    """One item of a need or offer: what, in which category and unit, how many (or unlimited)."""

    item: str
    category: str
    unit: str
    qty: int | None = None
    unlimited: bool = False

    def __post_init__(self) -> None:
        check_text("line.item", self.item, 120)
        check_category("line.category", self.category)
        check_text("line.unit", self.unit, 32)
        _check_qty("line", self.qty, self.unlimited)


@dataclass(frozen=True, slots=True, kw_only=True)
class LineQty(Schema):
    """A new quantity for one line, in an ``update`` (item, category and unit never change)."""

    qty: int | None = None
    unlimited: bool = False

    def __post_init__(self) -> None:
        _check_qty("lines[]", self.qty, self.unlimited)


def _check_coords(coords: Any) -> None:
    if type(coords) is not tuple or len(coords) != 2:
        raise fail("coords", "must be [latitude, longitude] in hundredths of a degree")
    check_int("coords.latitude", coords[0], -9000, 9000)
    check_int("coords.longitude", coords[1], -18000, 18000)


def _check_common_optional(body: RecordBody | UpdateBody) -> None:
    """The optional fields ``need``/``offer`` and ``update`` share."""
    if body.place is not None:
        check_text("place", body.place, 200)
    if body.coords is not None:
        _check_coords(body.coords)
    if body.needed_by is not None:
        check_millis("needed_by", body.needed_by)
    if body.source is not None:
        check_text("source", body.source, 500)
    if body.transport is not None:
        check_choice("transport", body.transport, Transport)
    if body.note is not None:
        check_text("note", body.note, 2000, multiline=True)
    if body.detail is not None and not isinstance(body.detail, Sealed):
        raise fail("detail", "must be a sealed value")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordBody(Schema):
    """Body of ``need`` and ``offer``. Coordinates are coarse by construction (0.01° ≈ 1 km)."""

    title: str
    lines: tuple[Line, ...]
    region: str
    urgency: str
    expires: int
    contact: Contact
    place: str | None = None
    coords: tuple[int, int] | None = None
    needed_by: int | None = None
    sensitive: bool = False
    detail: Sealed | None = None  # sealed free text and item detail, for recipients only
    source: str | None = None
    transport: str | None = None
    note: str | None = None

    _converters: ClassVar[dict[str, Any]] = {
        "lines": nested_tuple(Line, MAX_LINES),
        "contact": nested(Contact),
        "detail": nested(Sealed),
    }

    def __post_init__(self) -> None:
        check_text("title", self.title, 200)
        if type(self.lines) is not tuple or not 1 <= len(self.lines) <= MAX_LINES:
            raise fail("lines", f"must hold 1…{MAX_LINES} lines")
        for line in self.lines:
            if not isinstance(line, Line):
                raise fail("lines", "must hold lines")
        check_region("region", self.region)
        check_choice("urgency", self.urgency, Urgency)
        check_millis("expires", self.expires)
        if not isinstance(self.contact, Contact):
            raise fail("contact", "must be a contact")
        _check_common_optional(self)
        if type(self.sensitive) is not bool:
            raise fail("sensitive", "must be a boolean")
        if self.sensitive and (self.contact.sealed is None or self.detail is None):
            raise fail("sensitive", "a sensitive record needs a sealed contact and sealed detail")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateBody(Schema):
    """Body of ``update``: a non-empty subset of the mutable fields, each last-writer-wins."""

    title: str | None = None
    lines: tuple[LineQty, ...] | None = None
    region: str | None = None
    urgency: str | None = None
    expires: int | None = None
    contact: Contact | None = None
    place: str | None = None
    coords: tuple[int, int] | None = None
    needed_by: int | None = None
    detail: Sealed | None = None
    source: str | None = None
    transport: str | None = None
    note: str | None = None

    _converters: ClassVar[dict[str, Any]] = {
        "lines": nested_tuple(LineQty, MAX_LINES),
        "contact": nested(Contact),
        "detail": nested(Sealed),
    }

    def __post_init__(self) -> None:
        if all(getattr(self, name) is None for name in MUTABLE_FIELDS):
            raise fail("update", "must change at least one field")
        if self.title is not None:
            check_text("title", self.title, 200)
        if self.lines is not None:
            if type(self.lines) is not tuple or not 1 <= len(self.lines) <= MAX_LINES:
                raise fail("lines", f"must hold 1…{MAX_LINES} quantities")
            for line in self.lines:
                if not isinstance(line, LineQty):
                    raise fail("lines", "must hold quantities")
        if self.region is not None:
            check_region("region", self.region)
        if self.urgency is not None:
            check_choice("urgency", self.urgency, Urgency)
        if self.expires is not None:
            check_millis("expires", self.expires)
        if self.contact is not None and not isinstance(self.contact, Contact):
            raise fail("contact", "must be a contact")
        _check_common_optional(self)


MUTABLE_FIELDS: tuple[str, ...] = (
    "title", "lines", "region", "urgency", "expires", "contact", "place", "coords",
    "needed_by", "detail", "source", "transport", "note",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawBody(Schema):
    reason: str

    def __post_init__(self) -> None:
        check_text("reason", self.reason, 200)


@dataclass(frozen=True, slots=True, kw_only=True)
class PledgeBody(Schema):
    """A commitment against line ``line`` (0-based) of the referenced record."""

    line: int
    qty: int
    available_from: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        check_int("line", self.line, 0, MAX_LINES - 1)
        check_amount("qty", self.qty)
        if self.available_from is not None:
            check_millis("available_from", self.available_from)
        if self.note is not None:
            check_text("note", self.note, 500, multiline=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelBody(Schema):
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.reason is not None:
            check_text("reason", self.reason, 200)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverBody(Schema):
    """Goods sent against the referenced pledge."""

    qty: int
    note: str | None = None

    def __post_init__(self) -> None:
        check_amount("qty", self.qty)
        if self.note is not None:
            check_text("note", self.note, 500, multiline=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptBody(Schema):
    """Goods received against the referenced pledge: the only thing that fulfils a line."""

    qty: int
    note: str | None = None

    def __post_init__(self) -> None:
        check_amount("qty", self.qty)
        if self.note is not None:
            check_text("note", self.note, 500, multiline=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyBody(Schema):
    """An attestation that the referenced record is genuine, and how it was checked."""

    method: str
    note: str | None = None

    def __post_init__(self) -> None:
        check_choice("method", self.method, VerifyMethod)
        if self.note is not None:
            check_text("note", self.note, 500, multiline=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileBody(Schema):
    """What an org says about itself; the newest profile (by hlc, id) wins."""

    name: str
    regions: tuple[str, ...] | None = None
    description: str | None = None
    contact: str | None = None
    org_type: str | None = None

    def __post_init__(self) -> None:
        check_text("name", self.name, 100)
        if self.regions is not None:
            if type(self.regions) is not tuple or not 1 <= len(self.regions) <= 16:
                raise fail("regions", "must be an array of 1…16 region codes")
            for region in self.regions:
                check_region("regions[]", region)
            if list(self.regions) != sorted(set(self.regions)):
                raise fail("regions", "must be sorted and without repeats")
        if self.description is not None:
            check_text("description", self.description, 2000, multiline=True)
        if self.contact is not None:
            check_text("contact", self.contact, 500, multiline=True)
        if self.org_type is not None:
            check_text("org_type", self.org_type, 64)
