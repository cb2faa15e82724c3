"""The derived state: what the fold computes from a set of events (docs/protocol.md §6).

Nothing here is ever typed in by hand or sent between nodes; every value is a deterministic
function of the event set, so two replicas with the same events show the same records.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocol.codes import Ineffective
from protocol.envelope import hlc_millis
from protocol.records import Contact, Sealed

__all__ = [
    "Attestation",
    "EndorsementView",
    "IgnoredEvent",
    "LineState",
    "PledgeState",
    "ProfileView",
    "Progress",
    "RecordState",
    "RecordView",
    "Status",
    "Withdrawal",
    "progress",
]


class Progress(StrEnum):
    """How far pledges (or receipts) cover a line or a record."""

    NONE = "none"
    PARTIAL = "partial"
    COMPLETE = "complete"


class RecordState(StrEnum):
    """The time-independent state the fold computes."""

    OPEN = "open"
    WITHDRAWN = "withdrawn"
    FULFILLED = "fulfilled"
    VOID = "void"  # the creating event has no effect (e.g. its key was revoked as compromised)


class Status(StrEnum):
    """What a viewer sees at a given time: :class:`RecordState` plus expiry."""

    OPEN = "open"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    FULFILLED = "fulfilled"
    VOID = "void"


def progress(amount: int, target: int | None) -> Progress:
    """Coverage of ``target`` (None = unlimited, which is never complete) by ``amount``."""
    if amount <= 0:
        return Progress.NONE
    if target is not None and amount >= target:
        return Progress.COMPLETE
    return Progress.PARTIAL


@dataclass(frozen=True, slots=True, kw_only=True)
class LineState:
    """One line of a record with its running totals."""

    index: int
    item: str
    category: str
    unit: str
    qty: int | None  # None: unlimited
    pledged: int  # sum over pledges not cancelled
    delivered: int  # sum over deliveries
    received: int  # sum over receipts: the only thing that fulfils

    @property
    def unlimited(self) -> bool:
        return self.qty is None

    @property
    def remaining(self) -> int | None:
        """What is still missing (None for unlimited lines)."""
        return None if self.qty is None else max(0, self.qty - self.received)

    @property
    def unpledged(self) -> int | None:
        """What nobody has promised yet: what a donor should send at most."""
        return None if self.qty is None else max(0, self.qty - max(self.pledged, self.received))

    @property
    def pledge_status(self) -> Progress:
        return progress(self.pledged, self.qty)

    @property
    def fulfil_status(self) -> Progress:
        return progress(self.received, self.qty)


@dataclass(frozen=True, slots=True, kw_only=True)
class PledgeState:
    id: bytes
    org: bytes
    author: bytes
    hlc: int
    line: int
    qty: int
    cancelled: bool
    delivered: int
    received: int
    available_from: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attestation:
    """A ``verify`` event on a record. Whether it *counts* is the viewer's trust decision."""

    id: bytes
    org: bytes
    author: bytes
    hlc: int
    method: str
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoredEvent:
    """A stored event about this record that has no effect, and why."""

    id: bytes
    kind: str
    author: bytes
    hlc: int
    reason: Ineffective


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdrawal:
    id: bytes
    author: bytes
    hlc: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordView:
    """A need or offer as every replica with the same events sees it."""

    id: bytes
    kind: str  # "need" or "offer"
    org: bytes | None  # None when void
    author: bytes
    hlc: int
    title: str
    region: str
    urgency: str
    expires: int
    contact: Contact
    lines: tuple[LineState, ...]
    state: RecordState
    updated_hlc: int  # newest effective event about the record
    place: str | None = None
    coords: tuple[int, int] | None = None
    needed_by: int | None = None
    sensitive: bool = False
    detail: Sealed | None = None
    source: str | None = None
    transport: str | None = None
    note: str | None = None
    withdrawal: Withdrawal | None = None
    pledges: tuple[PledgeState, ...] = ()
    verifications: tuple[Attestation, ...] = ()
    ignored: tuple[IgnoredEvent, ...] = ()
    void_reason: Ineffective | None = None

    def status(self, now_ms: int) -> Status:
        """The status at ``now_ms``: void, withdrawn and fulfilled before expired."""
        if self.state is not RecordState.OPEN:
            return Status(self.state.value)
        return Status.EXPIRED if self.expires <= now_ms else Status.OPEN

    @property
    def pledge_status(self) -> Progress:
        return _combine(line.pledge_status for line in self.lines)

    @property
    def fulfil_status(self) -> Progress:
        return _combine(line.fulfil_status for line in self.lines)

    @property
    def updated_ms(self) -> int:
        return hlc_millis(self.updated_hlc)


def _combine(statuses: object) -> Progress:
    seen = set(statuses)  # type: ignore[call-overload]  # an iterable of Progress
    if seen == {Progress.COMPLETE}:
        return Progress.COMPLETE
    if seen <= {Progress.NONE}:
        return Progress.NONE
    return Progress.PARTIAL


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileView:
    """An org's newest effective self-description."""

    org: bytes
    name: str
    event_id: bytes
    author: bytes
    hlc: int
    regions: tuple[str, ...] = ()
    description: str | None = None
    contact: str | None = None
    org_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EndorsementView:
    """An ``endorse`` event as the trust layer consumes it.

    ``effective`` is False when the issuer could not endorse at that hlc (``reason``) or the
    endorsement was revoked (``revoked_by``). Expiry is the trust layer's business: it depends
    on the viewer's clock, not on the events.
    """

    id: bytes
    issuer: bytes | None  # the endorsing org (None if the author acts for no org)
    author: bytes
    subject: bytes  # the endorsed key
    subject_org: bytes  # the org that key belongs to
    name: str
    level: str
    max_depth: int
    expires: int
    hlc: int
    effective: bool
    reason: Ineffective | None = None
    revoked_by: bytes | None = None
