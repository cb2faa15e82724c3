"""The convergent fold: from a grow-only set of events to the derived state (docs/protocol.md §6).

The replicated state is the *set* of events; merging replicas is set union. Everything shown
to people is :func:`fold` of that set, a deterministic function, so it is commutative,
associative and idempotent in the events by construction. Two guarantees need care and are
property-tested (tests/test_fold.py):

* **Order independence** inside a record: every rule is a sum, a set, or a maximum/minimum by
  ``(hlc, id)`` (last-writer-wins per field; the earliest withdrawal is *the* withdrawal).
* **Monotone safety**: a withdrawal is terminal and a revocation voids what it voids, whatever
  events arrive later, even older ones.

Who may do what is read from :data:`protocol.kinds.KIND_SPECS` (roles and scopes) and
resolved through :mod:`sync.identity`; an event that fails is kept and listed in the record's
``ignored`` with its :class:`Ineffective` reason, never dropped.

:class:`Ledger` is the incremental form: ``apply`` folds one event, re-folding only the
records it can change (and, for identity events, the records touched by keys whose resolution
changed). ``Ledger.state()`` equals ``fold(events)`` for the same events, always.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

from protocol.codes import Ineffective, Kind
from protocol.envelope import Event
from protocol.kinds import KIND_SPECS, Role
from protocol.records import (
    DeliverBody,
    PledgeBody,
    ProfileBody,
    ReceiptBody,
    RecordBody,
    UpdateBody,
    VerifyBody,
    WithdrawBody,
)
from protocol.trust_bodies import EndorseBody, Scope
from sync.identity import IDENTITY_KINDS, Acting, Identity, build_identity
from sync.views import (
    Attestation,
    EndorsementView,
    IgnoredEvent,
    LineState,
    PledgeState,
    ProfileView,
    RecordState,
    RecordView,
    Withdrawal,
)

__all__ = [
    "ON_PLEDGE",
    "ON_RECORD",
    "RECORD_KINDS",
    "Changes",
    "DerivedState",
    "Ledger",
    "Placeable",
    "endorsement_view",
    "fold",
    "fold_record",
    "profiles_of",
    "record_of",
]

RECORD_KINDS = frozenset({Kind.NEED, Kind.OFFER})
ON_RECORD = frozenset({Kind.UPDATE, Kind.WITHDRAW, Kind.PLEDGE, Kind.VERIFY})
ON_PLEDGE = frozenset({Kind.CANCEL, Kind.DELIVER, Kind.RECEIPT})
_SELF_CODE: dict[str, Ineffective] = {
    Kind.PLEDGE: Ineffective.SELF_PLEDGE,
    Kind.VERIFY: Ineffective.SELF_VERIFY,
}


# One predicate per role of the kind table (protocol/kinds.py), over (the org the author acts
# for, the record's kind, the record's org, the pledge's org), and the code when it fails.
_RolePredicate = Callable[[bytes, str, bytes, bytes | None], bool]
_ROLE_RULES: dict[Role, tuple[_RolePredicate, Ineffective]] = {
    Role.RECORD_ORG: (
        lambda actor, kind, record, pledge: actor == record, Ineffective.NOT_RECORD_ORG
    ),
    Role.NOT_RECORD_ORG: (
        lambda actor, kind, record, pledge: actor != record, Ineffective.NOT_AUTHORISED
    ),
    Role.PLEDGE_ORG: (
        lambda actor, kind, record, pledge: actor == pledge, Ineffective.NOT_PLEDGE_ORG
    ),
    # The giving side of a pledge: the pledger on a need, the offering org on an offer.
    Role.GIVER: (
        lambda actor, kind, record, pledge: actor == (pledge if kind == Kind.NEED else record),
        Ineffective.NOT_GIVER,
    ),
    # The receiving side: the needing org on a need, the claiming (pledging) org on an offer.
    Role.RECEIVER: (
        lambda actor, kind, record, pledge: actor == (record if kind == Kind.NEED else pledge),
        Ineffective.NOT_RECEIVER,
    ),
}  # fmt: skip
_SORT_KEY = attrgetter("hlc", "id")


def _authorise(
    event: Event, identity: Identity, record_kind: str, record_org: bytes, pledge_org: bytes | None
) -> Acting | Ineffective:
    spec = KIND_SPECS[event.kind]
    acting = identity.resolve(event.author, event.hlc, spec.scope)
    if isinstance(acting, Ineffective):
        return acting
    allowed, code = _ROLE_RULES[spec.role]
    if not allowed(acting.org, record_kind, record_org, pledge_org):
        return _SELF_CODE.get(event.kind, code) if spec.role is Role.NOT_RECORD_ORG else code
    return acting


class _PledgeTally:
    """Mutable running totals of one pledge while a record is folded."""

    __slots__ = ("cancelled", "delivered", "event", "org", "received")

    def __init__(self, event: Event, org: bytes) -> None:
        self.event, self.org = event, org
        self.cancelled, self.delivered, self.received = False, 0, 0


_LWW_FIELDS = (
    "title", "region", "urgency", "expires", "contact", "place", "coords", "needed_by",
    "detail", "source", "transport", "note",
)  # fmt: skip


def fold_record(create: Event, related: Iterable[Event], identity: Identity) -> RecordView:
    """The view of the record ``create`` given every stored event about it.

    ``related`` holds the events whose ref is the record (update, withdraw, pledge, verify)
    and those whose ref is a pledge on it (cancel, deliver, receipt), in any order. Pure and
    deterministic: the result depends only on the *set* of events and ``identity``.
    """
    body = create.body
    assert isinstance(body, RecordBody)
    acting = identity.resolve(create.author, create.hlc, Scope.POST)
    fields: dict[str, Any] = {name: getattr(body, name) for name in _LWW_FIELDS}
    quantities: tuple[int | None, ...] = tuple(
        None if line.unlimited else line.qty for line in body.lines
    )
    if isinstance(acting, Ineffective):
        return RecordView(
            id=create.id, kind=create.kind, org=None, author=create.author, hlc=create.hlc,
            lines=_lines(body, quantities, (), {}), state=RecordState.VOID,
            updated_hlc=create.hlc, sensitive=body.sensitive, void_reason=acting, **fields,
        )  # fmt: skip
    org = acting.org
    kind = create.kind
    line_count = len(body.lines)
    ignored: list[IgnoredEvent] = []
    versions: dict[str, tuple[int, bytes]] = {}  # field -> (hlc, id) of the value it holds
    create_key = (create.hlc, create.id)
    quantities_key = create_key
    withdrawal: Withdrawal | None = None
    pledges: dict[bytes, _PledgeTally] = {}
    attestations: list[Attestation] = []
    on_pledges: list[Event] = []
    updated = create.hlc

    def ignore(event: Event, reason: Ineffective) -> None:
        ignored.append(
            IgnoredEvent(
                id=event.id, kind=event.kind, author=event.author, hlc=event.hlc, reason=reason
            )
        )

    # Events on the record first (in (hlc, id) order), so every pledge is known before the
    # events about pledges.
    for event in sorted(related, key=_SORT_KEY):
        if event.kind in ON_PLEDGE:
            on_pledges.append(event)
            continue
        if event.kind not in ON_RECORD:
            continue
        result = _authorise(event, identity, kind, org, None)
        if isinstance(result, Ineffective):
            ignore(event, result)
            continue
        ebody = event.body
        if isinstance(ebody, UpdateBody):
            if ebody.lines is not None and len(ebody.lines) != line_count:
                ignore(event, Ineffective.LINES_MISMATCH)
                continue
            key = (event.hlc, event.id)
            for name in _LWW_FIELDS:
                value = getattr(ebody, name)
                if value is not None and key > versions.get(name, create_key):
                    fields[name] = value
                    versions[name] = key
            if ebody.lines is not None and key > quantities_key:
                quantities = tuple(None if q.unlimited else q.qty for q in ebody.lines)
                quantities_key = key
        elif isinstance(ebody, WithdrawBody):
            if withdrawal is None:  # events are sorted: the first is the earliest
                withdrawal = Withdrawal(
                    id=event.id, author=event.author, hlc=event.hlc, reason=ebody.reason
                )
        elif isinstance(ebody, PledgeBody):
            if ebody.line >= line_count:
                ignore(event, Ineffective.UNKNOWN_LINE)
                continue
            pledges[event.id] = _PledgeTally(event, result.org)
        elif isinstance(ebody, VerifyBody):
            attestations.append(
                Attestation(
                    id=event.id, org=result.org, author=event.author, hlc=event.hlc,
                    method=ebody.method, note=ebody.note,
                )
            )  # fmt: skip
        if event.hlc > updated:
            updated = event.hlc

    for event in on_pledges:
        tally = pledges.get(event.ref or b"")
        if tally is None:  # the pledge itself has no effect
            ignore(event, Ineffective.WRONG_TARGET)
            continue
        result = _authorise(event, identity, kind, org, tally.org)
        if isinstance(result, Ineffective):
            ignore(event, result)
            continue
        ebody = event.body
        if isinstance(ebody, DeliverBody):
            tally.delivered += ebody.qty
        elif isinstance(ebody, ReceiptBody):
            tally.received += ebody.qty
        else:
            tally.cancelled = True
        if event.hlc > updated:
            updated = event.hlc

    pledge_states = tuple(_pledge_state(tally) for tally in pledges.values())
    lines = _lines(body, quantities, pledge_states, pledges)
    if withdrawal is not None:
        state = RecordState.WITHDRAWN
    elif all(line.qty is not None and line.received >= line.qty for line in lines):
        state = RecordState.FULFILLED
    else:
        state = RecordState.OPEN
    if len(ignored) > 1:
        ignored.sort(key=_SORT_KEY)
    return RecordView(
        id=create.id, kind=kind, org=org, author=create.author, hlc=create.hlc,
        lines=lines, state=state, updated_hlc=updated, sensitive=body.sensitive,
        withdrawal=withdrawal, pledges=pledge_states, verifications=tuple(attestations),
        ignored=tuple(ignored), **fields,
    )  # fmt: skip


def _lines(
    body: RecordBody,
    quantities: tuple[int | None, ...],
    pledge_states: tuple[PledgeState, ...],
    tallies: dict[bytes, _PledgeTally],
) -> tuple[LineState, ...]:
    """Each line with its totals, in one pass over the pledges."""
    count = len(body.lines)
    pledged, delivered, received = [0] * count, [0] * count, [0] * count
    for pledge in pledge_states:
        if not pledge.cancelled:
            pledged[pledge.line] += pledge.qty
        delivered[pledge.line] += pledge.delivered
        received[pledge.line] += pledge.received
    return tuple(
        LineState(
            index=i, item=line.item, category=line.category, unit=line.unit,
            qty=quantities[i], pledged=pledged[i], delivered=delivered[i], received=received[i],
        )
        for i, line in enumerate(body.lines)
    )  # fmt: skip


def _pledge_state(tally: _PledgeTally) -> PledgeState:
    event = tally.event
    body = event.body
    assert isinstance(body, PledgeBody)
    return PledgeState(
        id=event.id, org=tally.org, author=event.author, hlc=event.hlc, line=body.line,
        qty=body.qty, cancelled=tally.cancelled, delivered=tally.delivered,
        received=tally.received, available_from=body.available_from, note=body.note,
    )  # fmt: skip


def endorsement_view(
    event: Event, identity: Identity, revocations: Iterable[Event]
) -> EndorsementView:
    """How an ``endorse`` event stands: who issued it, and whether it was revoked by an
    entitled revoker (a key acting for the issuing org with the ``endorse`` scope)."""
    body = event.body
    assert isinstance(body, EndorseBody)
    acting = identity.resolve(event.author, event.hlc, Scope.ENDORSE)
    issuer = None if isinstance(acting, Ineffective) else acting.org
    revoked_by = None
    if issuer is not None:
        for revoke in sorted(revocations, key=lambda e: e.sort_key):
            by = identity.resolve(revoke.author, revoke.hlc, Scope.ENDORSE)
            if isinstance(by, Acting) and by.org == issuer:
                revoked_by = revoke.id
                break
    return EndorsementView(
        id=event.id, issuer=issuer, author=event.author, subject=body.subject,
        subject_org=identity.org_of(body.subject), name=body.name, level=body.level,
        max_depth=body.max_depth, expires=body.expires, hlc=event.hlc,
        effective=issuer is not None and revoked_by is None,
        reason=acting if isinstance(acting, Ineffective) else None, revoked_by=revoked_by,
    )  # fmt: skip


def profiles_of(events: Iterable[Event], identity: Identity) -> dict[bytes, ProfileView]:
    """Each org's newest effective profile by (hlc, id)."""
    best: dict[bytes, Event] = {}
    for event in events:
        acting = identity.resolve(event.author, event.hlc, Scope.POST)
        if isinstance(acting, Ineffective):
            continue
        current = best.get(acting.org)
        if current is None or event.sort_key > current.sort_key:
            best[acting.org] = event
    views = {}
    for org, event in best.items():
        body = event.body
        assert isinstance(body, ProfileBody)
        views[org] = ProfileView(
            org=org, name=body.name, event_id=event.id, author=event.author, hlc=event.hlc,
            regions=body.regions or (), description=body.description, contact=body.contact,
            org_type=body.org_type,
        )  # fmt: skip
    return views


@dataclass(frozen=True, slots=True)
class DerivedState:
    """Everything the fold derives, in comparable form (tests compare these for equality)."""

    records: Mapping[bytes, RecordView]
    profiles: Mapping[bytes, ProfileView]
    endorsements: Mapping[bytes, EndorsementView]
    identity: Mapping[bytes, tuple[object, ...]]  # Identity.facts()
    identity_ineffective: Mapping[bytes, Ineffective]


class Placeable(Protocol):
    """What :func:`record_of` needs to know of an event (an :class:`Event`, or a database row)."""

    @property
    def id(self) -> bytes: ...
    @property
    def kind(self) -> str: ...
    @property
    def ref(self) -> bytes | None: ...


def record_of(
    event: Placeable, events: Mapping[bytes, Placeable]
) -> bytes | tuple[str, bytes] | None:
    """The record an event belongs to; ``("wait", id)`` if an event on the way is missing;
    None if it belongs to no record (not a record kind, or its ref points at the wrong kind)."""
    if event.kind in RECORD_KINDS:
        return event.id
    if event.kind in ON_PLEDGE:
        assert event.ref is not None
        pledge = events.get(event.ref)
        if pledge is None:
            return ("wait", event.ref)
        if pledge.kind != Kind.PLEDGE:
            return None
        event = pledge
    if event.kind in ON_RECORD:
        assert event.ref is not None
        record = events.get(event.ref)
        if record is None:
            return ("wait", event.ref)
        return record.id if record.kind in RECORD_KINDS else None
    return None


def fold(events: Iterable[Event]) -> DerivedState:
    """The derived state of an event set, computed from scratch. Order and duplicates in
    ``events`` do not matter."""
    by_id = {event.id: event for event in events}
    identity = build_identity(by_id.values())
    related: dict[bytes, list[Event]] = defaultdict(list)
    for event in by_id.values():
        place = record_of(event, by_id)
        if isinstance(place, bytes) and place != event.id:
            related[place].append(event)
    records = {
        event.id: fold_record(event, related.get(event.id, ()), identity)
        for event in by_id.values()
        if event.kind in RECORD_KINDS
    }
    revocations: dict[bytes, list[Event]] = defaultdict(list)
    for event in by_id.values():
        if event.kind == Kind.REVOKE and event.ref is not None:
            revocations[event.ref].append(event)
    endorsements = {
        event.id: endorsement_view(event, identity, revocations.get(event.id, ()))
        for event in by_id.values()
        if event.kind == Kind.ENDORSE
    }
    profiles = profiles_of((e for e in by_id.values() if e.kind == Kind.PROFILE), identity)
    return DerivedState(records, profiles, endorsements, identity.facts(), identity.ineffective)


@dataclass(slots=True)
class Changes:
    """What one :meth:`Ledger.apply` changed (for the store and for pushing to viewers)."""

    new: bool = False  # False: the event was already known
    records: set[bytes] = field(default_factory=set)
    profiles: bool = False
    endorsements: set[bytes] = field(default_factory=set)
    identity: bool = False


class Ledger:
    """The incremental fold over an in-memory event set (the reference for node/'s store)."""

    def __init__(self) -> None:
        self.events: dict[bytes, Event] = {}
        self.identity = build_identity(())
        self.records: dict[bytes, RecordView] = {}
        self.profiles: dict[bytes, ProfileView] = {}
        self.endorsements: dict[bytes, EndorsementView] = {}
        self._record_events: dict[bytes, set[bytes]] = defaultdict(set)
        self._waiting: dict[bytes, set[bytes]] = defaultdict(set)
        self._author_records: dict[bytes, set[bytes]] = defaultdict(set)
        self._revocations: dict[bytes, list[Event]] = defaultdict(list)

    def apply(self, event: Event) -> Changes:
        """Fold one event in. Idempotent: applying a known event changes nothing."""
        changes = Changes()
        if event.id in self.events:
            return changes
        changes.new = True
        self.events[event.id] = event
        self._place(event, changes)
        for waiting_id in sorted(self._waiting.pop(event.id, ())):
            self._place(self.events[waiting_id], changes)
        if event.kind == Kind.REVOKE and event.ref is not None:
            self._revocations[event.ref].append(event)
        if event.kind in IDENTITY_KINDS:
            self._rebuild_identity(changes)
        elif event.kind == Kind.ENDORSE:
            self._refresh_endorsement(event.id, changes)
        if event.kind == Kind.PROFILE:
            changes.profiles = True
        for record_id in changes.records:
            self._refold(record_id)
        if changes.profiles:
            profile_events = (e for e in self.events.values() if e.kind == Kind.PROFILE)
            self.profiles = profiles_of(profile_events, self.identity)
        return changes

    def state(self) -> DerivedState:
        return DerivedState(
            dict(self.records),
            dict(self.profiles),
            dict(self.endorsements),
            self.identity.facts(),
            self.identity.ineffective,
        )

    def _place(self, event: Event, changes: Changes) -> None:
        place = record_of(event, self.events)
        if isinstance(place, tuple):
            self._waiting[place[1]].add(event.id)
        elif place is not None:
            self._record_events[place].add(event.id)
            self._author_records[event.author].add(place)
            changes.records.add(place)

    def _refold(self, record_id: bytes) -> None:
        create = self.events[record_id]
        related = (self.events[i] for i in self._record_events[record_id] if i != record_id)
        self.records[record_id] = fold_record(create, related, self.identity)

    def _rebuild_identity(self, changes: Changes) -> None:
        before = self.identity.facts()
        self.identity = build_identity(e for e in self.events.values() if e.kind in IDENTITY_KINDS)
        after = self.identity.facts()
        changed_keys = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        changes.identity = True
        for key in changed_keys:
            changes.records |= self._author_records.get(key, set())
        if changed_keys:
            changes.profiles = True
        for endorse_id in [i for i, e in self.events.items() if e.kind == Kind.ENDORSE]:
            self._refresh_endorsement(endorse_id, changes)

    def _refresh_endorsement(self, endorse_id: bytes, changes: Changes) -> None:
        view = endorsement_view(
            self.events[endorse_id], self.identity, self._revocations.get(endorse_id, ())
        )
        if self.endorsements.get(endorse_id) != view:
            self.endorsements[endorse_id] = view
            changes.endorsements.add(endorse_id)
