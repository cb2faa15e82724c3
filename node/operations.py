"""What an operator does to records, as checked operations shared by the CLI and the local API.

Each operation finds what it refers to (ids or unique prefixes), checks that it would take
effect — the group may act on that record or pledge, the record is open, a pledge does not
exceed what is still unpledged — and only then signs and stores one event through
:meth:`Node.publish`, the same path as every other event. A running node pushes it to its
peers at once (same process) or within a second (another process, see ``Store.catch_up``).

Refusals raise :class:`RefusedError` with a stable ``code`` (the API's error code) and a
sentence saying what to do instead; malformed input raises :class:`~node.inputs.InputError`.
Nothing is stored when either is raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crypto import AidError, seal
from node.inputs import InputError, LineSpec
from node.lookup import find_event
from node.presentation import INEFFECTIVE_TEXT
from node.runtime import Node, Published
from node.storage import OutcomeStatus
from protocol import (
    CancelBody,
    Contact,
    DeliverBody,
    EndorseBody,
    Event,
    Kind,
    LineQty,
    PledgeBody,
    ProtocolError,
    ReceiptBody,
    RecordBody,
    Sealed,
    UpdateBody,
    VerifyBody,
    WithdrawBody,
)
from protocol.records import MUTABLE_FIELDS
from sync.views import PledgeState, RecordView, Status

__all__ = [
    "ContactSpec",
    "Done",
    "RecordDraft",
    "RefusedError",
    "cancel",
    "deliver",
    "endorse",
    "load_record",
    "pledge",
    "post_record",
    "receive",
    "record_body",
    "update_record",
    "verify",
    "withdraw",
]

RECORD_KINDS = (Kind.NEED.value, Kind.OFFER.value)


class RefusedError(AidError):
    """The request is well-formed but would have no effect, or would do harm (over-pledging).

    ``code`` is stable (docs/operators.md lists them); the message says what to do instead.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Done:
    """One event signed and stored, and anything the operator should know about it."""

    event: Event
    record: bytes | None
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer to every command or API call that signs one statement."""
        return {
            "id": self.event.id.hex(),
            "kind": self.event.kind,
            "record": self.record.hex() if self.record else None,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactSpec:
    """How to reach the group: ``text`` is public, or sealed to ``sealed_to`` (org keys) plus
    the posting group itself."""

    text: str
    sealed_to: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordDraft:
    """A need or offer as typed, before it is signed."""

    kind: str
    title: str
    lines: tuple[LineSpec, ...]
    region: str
    urgency: str
    expires_ms: int
    contact: ContactSpec
    sensitive: bool = False
    detail: str | None = None
    place: str | None = None
    needed_by_ms: int | None = None
    source: str | None = None
    transport: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- helpers --------------------------------------------------------------------------------


def _recipients(node: Node, orgs: Sequence[bytes]) -> list[bytes]:
    """The keys to seal to: each named org's *current* key (it may have rotated) and ours."""
    identity = node.store.identity
    keys: list[bytes] = []
    for org in [*orgs, node.org]:
        chain = identity.chains.get(identity.org_of(org))
        key = node.signer.public_key if org == node.org else (chain.keys[-1] if chain else org)
        if key not in keys:
            keys.append(key)
    return keys


def _seal(node: Node, text: str, orgs: Sequence[bytes], field_name: str) -> Sealed:
    try:
        box, slots = seal(text.encode("utf-8"), _recipients(node, orgs))
    except AidError as exc:
        raise InputError(field_name, str(exc)) from None
    return Sealed(box=box, slots=slots)


def _contact(node: Node, spec: ContactSpec) -> Contact:
    if spec.sealed_to:
        return Contact(sealed=_seal(node, spec.text, spec.sealed_to, "contact"))
    return Contact(public=spec.text)


def _schema_error(exc: ProtocolError) -> InputError:
    name, _, why = exc.detail.partition(": ")
    return InputError(name if why else "record", why or exc.detail)


async def _publish(
    node: Node, kind: str, body: Any, ref: bytes | None, record: bytes | None
) -> Done:
    published: Published = await node.publish(kind, body, ref)
    outcome = published.outcome
    warnings: list[str] = []
    if outcome.status is OutcomeStatus.REJECTED:  # sign_event checks first: a bug if reached
        raise RefusedError("rejected", f"the event was rejected: {outcome.code}: {outcome.detail}")
    if outcome.status is OutcomeStatus.QUARANTINED:
        warnings.append("stored in quarantine: this node does not accept its own key yet")
    if record is not None:
        loaded = await node.store.record(record)
        if loaded is not None:
            for ignored in loaded[0].ignored:
                if ignored.id == published.event.id:
                    raise RefusedError(
                        "no_effect",
                        f"stored as {published.event.id.hex()[:12]}, but it has no effect: "
                        f"{INEFFECTIVE_TEXT.get(ignored.reason, ignored.reason.value)}",
                    )
    return Done(published.event, record, tuple(warnings))


async def load_record(node: Node, text: str) -> tuple[RecordView, list[Event]]:
    """The record (need or offer) with id or prefix ``text``, and its history."""
    found = await find_event(node.store, text, RECORD_KINDS)
    loaded = await node.store.record(found.id)
    if loaded is None:  # listed a moment ago, purged since
        raise RefusedError("not_found", f"record {text} is no longer stored")
    return loaded


async def _load_pledge(node: Node, text: str) -> tuple[RecordView, PledgeState]:
    found = await find_event(node.store, text, (Kind.PLEDGE.value,))
    if found.record is None:
        raise RefusedError(
            "waiting", f"pledge {text}: its record has not reached this node yet; sync first"
        )
    loaded = await node.store.record(found.record)
    if loaded is None:
        raise RefusedError("not_found", f"the record of pledge {text} is no longer stored")
    view = loaded[0]
    for state in view.pledges:
        if state.id == found.id:
            return view, state
    reason = next((i.reason.value for i in view.ignored if i.id == found.id), "unknown")
    raise RefusedError("no_effect", f"pledge {found.id.hex()[:12]} has no effect ({reason})")


def _require_open(view: RecordView, now_ms: int, doing: str) -> None:
    status = view.status(now_ms)
    if status is not Status.OPEN:
        raise RefusedError("not_open", f"cannot {doing}: the {view.kind} is {status.value}")


def _line_index(view: RecordView, number: int) -> int:
    if not 1 <= number <= len(view.lines):
        raise InputError(
            "line", f"the {view.kind} has lines 1…{len(view.lines)}, there is no line {number}"
        )
    return number - 1


# -- records ----------------------------------------------------------------------------------


def record_body(node: Node, draft: RecordDraft) -> RecordBody:
    """The signed body of a draft: contact and detail sealed as asked. :class:`InputError` if
    it breaks a rule (a sensitive record needs sealed contact and sealed detail)."""
    if draft.sensitive and not draft.contact.sealed_to:
        raise InputError(
            "sensitive",
            "a sensitive record needs a sealed contact: name the groups that may read it "
            "(--contact-sealed-to KEY)",
        )
    if draft.sensitive and not draft.detail:
        raise InputError("sensitive", "a sensitive record needs a sealed detail (--detail TEXT)")
    if draft.detail and not draft.contact.sealed_to:
        raise InputError(
            "detail", "detail is sealed to the contact's recipients: add --contact-sealed-to KEY"
        )
    detail = _seal(node, draft.detail, draft.contact.sealed_to, "detail") if draft.detail else None
    try:
        return RecordBody(
            title=draft.title,
            lines=tuple(spec.to_line() for spec in draft.lines),
            region=draft.region,
            urgency=draft.urgency,
            expires=draft.expires_ms,
            contact=_contact(node, draft.contact),
            place=draft.place,
            needed_by=draft.needed_by_ms,
            sensitive=draft.sensitive,
            detail=detail,
            source=draft.source,
            transport=draft.transport,
            note=draft.note,
        )
    except ProtocolError as exc:
        raise _schema_error(exc) from None


async def post_record(node: Node, draft: RecordDraft) -> Done:
    """Sign and store a new need or offer."""
    if draft.kind not in RECORD_KINDS:
        raise InputError("kind", "must be need or offer")
    if draft.expires_ms <= node.clock.now_ms():
        raise InputError("expires", "must be in the future")
    body = record_body(node, draft)
    done = await _publish(node, draft.kind, body, None, None)
    return Done(done.event, done.event.id, done.warnings)


async def update_record(
    node: Node,
    text: str,
    changes: dict[str, Any],
    *,
    line_qtys: Sequence[tuple[int, int | None]] = (),
    contact: ContactSpec | None = None,
    detail: str | None = None,
) -> Done:
    """Change fields of one of this group's open records (last writer wins, per field).

    ``changes`` maps field names of ``update`` (title, urgency, region, expires, needed_by,
    place, note, source, transport) to new values; ``line_qtys`` sets new quantities by line
    number (other lines keep theirs).
    """
    view, _ = await load_record(node, text)
    if view.org != node.org:
        raise RefusedError(
            "not_your_record", f"only the group that posted the {view.kind} may update it"
        )
    if view.withdrawal is not None:
        raise RefusedError("not_open", f"the {view.kind} was withdrawn; post a new one instead")
    fields = {k: v for k, v in changes.items() if v is not None}
    unknown = set(fields) - set(MUTABLE_FIELDS)
    if unknown:
        raise InputError("update", f"cannot change {', '.join(sorted(unknown))}")
    if line_qtys:
        quantities = [line.qty for line in view.lines]
        for number, qty in line_qtys:
            quantities[_line_index(view, number)] = qty
        fields["lines"] = tuple(LineQty(qty=q, unlimited=q is None) for q in quantities)
    if contact is not None:
        fields["contact"] = _contact(node, contact)
    if detail is not None:
        sealed_to = contact.sealed_to if contact is not None else ()
        if not sealed_to:
            raise InputError("detail", "a new detail is sealed: give --contact-sealed-to KEY too")
        fields["detail"] = _seal(node, detail, sealed_to, "detail")
    if not fields:
        raise InputError("update", "nothing to change: give at least one new value")
    try:
        body = UpdateBody(**fields)
    except ProtocolError as exc:
        raise _schema_error(exc) from None
    return await _publish(node, Kind.UPDATE, body, view.id, view.id)


async def withdraw(node: Node, text: str, reason: str) -> Done:
    view, _ = await load_record(node, text)
    if view.org != node.org:
        raise RefusedError(
            "not_your_record", f"only the group that posted the {view.kind} may withdraw it"
        )
    if view.withdrawal is not None:
        raise RefusedError("not_open", f"the {view.kind} is already withdrawn")
    try:
        body = WithdrawBody(reason=reason)
    except ProtocolError as exc:
        raise _schema_error(exc) from None
    return await _publish(node, Kind.WITHDRAW, body, view.id, view.id)


# -- pledges ----------------------------------------------------------------------------------


async def pledge(
    node: Node,
    text: str,
    line_number: int,
    qty: int,
    *,
    note: str | None = None,
    available_from_ms: int | None = None,
    over: bool = False,
) -> Done:
    """Commit to give (against a need) or to take (against an offer) ``qty`` of one line.

    Refuses (``over_pledge``) a quantity above what nobody has pledged yet, unless ``over``:
    over-pledging is how donors ended up sending far too much in 2020.
    """
    view, _ = await load_record(node, text)
    if view.org == node.org:
        raise RefusedError("own_record", f"a group cannot pledge against its own {view.kind}")
    _require_open(view, node.clock.now_ms(), "pledge")
    line = view.lines[_line_index(view, line_number)]
    warnings: list[str] = []
    if line.unpledged is not None and qty > line.unpledged and not over:
        raise RefusedError(
            "over_pledge",
            f"line {line_number} ({line.item}) has {line.unpledged} {line.unit} nobody has "
            f"pledged yet ({line.qty} asked, {line.pledged} pledged, {line.received} received); "
            f"pledge at most {line.unpledged}, or pass --over to pledge {qty} anyway",
        )
    if line.unpledged is not None and qty > line.unpledged:
        warnings.append(f"over-pledged: only {line.unpledged} {line.unit} were unpledged")
    try:
        body = PledgeBody(line=line.index, qty=qty, note=note, available_from=available_from_ms)
    except ProtocolError as exc:
        raise _schema_error(exc) from None
    done = await _publish(node, Kind.PLEDGE, body, view.id, view.id)
    return Done(done.event, view.id, done.warnings + tuple(warnings))


def _giver(view: RecordView, state: PledgeState) -> bytes | None:
    return state.org if view.kind == Kind.NEED else view.org


def _receiver(view: RecordView, state: PledgeState) -> bytes | None:
    return view.org if view.kind == Kind.NEED else state.org


async def deliver(node: Node, text: str, qty: int, note: str | None = None) -> Done:
    """Record goods sent against a pledge (by the giving side)."""
    view, state = await _load_pledge(node, text)
    if _giver(view, state) != node.org:
        raise RefusedError(
            "not_giver", "deliveries are recorded by the giving side of the pledge, not by you"
        )
    if state.cancelled:
        raise RefusedError("cancelled", "the pledge was cancelled")
    try:
        body = DeliverBody(qty=qty, note=note)
    except ProtocolError as exc:
        raise _schema_error(exc) from None
    return await _publish(node, Kind.DELIVER, body, state.id, view.id)


async def receive(node: Node, text: str, qty: int, note: str | None = None) -> Done:
    """Record goods received against a pledge (by the receiving side): this fulfils lines."""
    view, state = await _load_pledge(node, text)
    if _receiver(view, state) != node.org:
        raise RefusedError(
            "not_receiver", "receipts are recorded by the receiving side of the pledge, not by you"
        )
    warnings = []
    if state.received + qty > state.qty:
        warnings.append(f"received {state.received + qty} in all against a pledge of {state.qty}")
    try:
        body = ReceiptBody(qty=qty, note=note)
    except ProtocolError as exc:
        raise _schema_error(exc) from None
    done = await _publish(node, Kind.RECEIPT, body, state.id, view.id)
    return Done(done.event, view.id, done.warnings + tuple(warnings))


async def cancel(node: Node, text: str, reason: str | None = None) -> Done:
    """Withdraw one of this group's pledges."""
    view, state = await _load_pledge(node, text)
    if state.org != node.org:
        raise RefusedError("not_your_pledge", "only the group that made a pledge may cancel it")
    if state.cancelled:
        raise RefusedError("cancelled", "the pledge is already cancelled")
    try:
        body = CancelBody(reason=reason)
    except ProtocolError as exc:
        raise _schema_error(exc) from None
    return await _publish(node, Kind.CANCEL, body, state.id, view.id)


async def verify(node: Node, text: str, method: str, note: str | None = None) -> Done:
    """Attest that a record is genuine and how it was checked."""
    view, _ = await load_record(node, text)
    if view.org == node.org:
        raise RefusedError("own_record", f"a group cannot verify its own {view.kind}")
    try:
        body = VerifyBody(method=method, note=note)
    except ProtocolError as exc:
        raise _schema_error(exc) from None
    return await _publish(node, Kind.VERIFY, body, view.id, view.id)


# -- trust ------------------------------------------------------------------------------------


async def endorse(
    node: Node, subject: bytes, name: str, level: str, max_depth: int, expires_ms: int
) -> Done:
    """Introduce another group (its key) as ``member`` or ``verifier``."""
    if subject == node.org or subject == node.signer.public_key:
        raise RefusedError("own_key", "a group does not endorse itself: it trusts itself already")
    try:
        EndorseBody(
            subject=subject, name=name, level=level, max_depth=max_depth, expires=expires_ms
        )
    except ProtocolError as exc:
        raise _schema_error(exc) from None
    published = await node.endorse(subject, name, level, max_depth=max_depth, expires_ms=expires_ms)
    return Done(published.event, None)
