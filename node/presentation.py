"""The JSON shapes operators' scripts rely on: records, lines, pledges, history.

``aidnode list --json``, ``aidnode show --json`` and the local API (``/api/v1/records``) all
return these shapes; docs/operators.md documents them field by field, and they only ever grow
(new fields may appear; existing ones keep their name, type and meaning).

Conventions: event ids are 64 lowercase hex digits; keys are ``aid1…`` strings; times are Unix
milliseconds (``*_ms``); line numbers start at 1 (``"line": 1``), as everywhere the operator
sees them; an unlimited quantity is ``null`` with ``"unlimited": true``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from crypto import SealedError, SigningIdentity, encode_key, open_sealed
from node.storage import RecordSummary
from node.trust import VerifiedBy
from protocol import Event, Ineffective, Sealed, hlc_millis
from sync.identity import Identity
from sync.views import LineState, PledgeState, RecordView

__all__ = [
    "INEFFECTIVE_TEXT",
    "dumps",
    "history_json",
    "key_or_none",
    "line_json",
    "pledge_json",
    "record_json",
    "sealed_json",
    "summary_json",
]

# Why an event has no effect, in words (codes: protocol.codes.Ineffective).
INEFFECTIVE_TEXT: dict[Ineffective, str] = {
    Ineffective.NOT_AUTHORISED: "its author does not act for any group with this permission",
    Ineffective.NOT_RECORD_ORG: "only the group that posted the record may do this",
    Ineffective.NOT_PLEDGE_ORG: "only the group that made the pledge may do this",
    Ineffective.NOT_GIVER: "deliveries are recorded by the giving side of a pledge",
    Ineffective.NOT_RECEIVER: "receipts are recorded by the receiving side of a pledge",
    Ineffective.SELF_PLEDGE: "a group cannot pledge against its own record",
    Ineffective.SELF_VERIFY: "a group cannot verify its own record",
    Ineffective.UNKNOWN_LINE: "the record has no such line",
    Ineffective.LINES_MISMATCH: "the update's quantities do not match the record's lines",
    Ineffective.WRONG_TARGET: "it refers to an event of the wrong kind, or to a void pledge",
    Ineffective.KEY_REVOKED: "its author key was revoked",
    Ineffective.KEY_SUPERSEDED: "its author key had already been rotated away",
    Ineffective.DELEGATION_EXPIRED: "the author's delegation had expired",
    Ineffective.DELEGATION_REVOKED: "the author's delegation was revoked",
    Ineffective.OUT_OF_SCOPE: "the author's delegation does not cover this",
    Ineffective.DELEGATION_WIDENS: "a sub-delegation may not widen scope or extend expiry",
    Ineffective.BAD_PROOF: "the delegation's consent proof is not signed by the delegate",
    Ineffective.BAD_ROTATION: "the rotation does not match the committed next key",
    Ineffective.DUPLICITY: "two rotations fork this group's key chain",
    Ineffective.ORG_KEY: "a group's own key cannot be made a delegate",
    Ineffective.KEY_BOUND: "the key already acts for another group",
    Ineffective.TOO_DEEP: "the delegation chain is too long",
    Ineffective.NOT_ENTITLED: "its author may not revoke that",
}


def key_or_none(key: bytes | None) -> str | None:
    return None if key is None else encode_key(key)


def sealed_json(sealed: Sealed, opener: SigningIdentity | None) -> dict[str, Any]:
    """A sealed field: who can read it is not revealed, only how many can; ``text`` is filled
    in when this node is one of the recipients (and its key was available)."""
    text = None
    if opener is not None:
        try:
            text = open_sealed(sealed.box, sealed.slots, opener).decode("utf-8", "replace")
        except SealedError:
            text = None
    return {
        "sealed": True,
        "recipients": len(sealed.slots),
        "opened": text is not None,
        "text": text,
    }


def line_json(line: LineState) -> dict[str, Any]:
    data: dict[str, Any] = {
        "line": line.index + 1,
        "item": line.item,
        "category": line.category,
        "unit": line.unit,
        "qty": line.qty,
        "unlimited": line.qty is None,
        "pledged": line.pledged,
        "delivered": line.delivered,
        "received": line.received,
        "remaining": line.remaining,
        "unpledged": line.unpledged,
    }
    return data


def pledge_json(pledge: PledgeState, names: dict[bytes, str]) -> dict[str, Any]:
    return {
        "id": pledge.id.hex(),
        "org": encode_key(pledge.org),
        "org_name": names.get(pledge.org),
        "line": pledge.line + 1,
        "qty": pledge.qty,
        "cancelled": pledge.cancelled,
        "delivered": pledge.delivered,
        "received": pledge.received,
        "created_ms": hlc_millis(pledge.hlc),
        "available_from_ms": pledge.available_from,
        "note": pledge.note,
    }


def summary_json(summary: RecordSummary, names: dict[bytes, str]) -> dict[str, Any]:
    """One row of a listing (``aidnode list --json``, ``GET /api/v1/records``)."""
    return {
        "id": summary.id.hex(),
        "kind": summary.kind,
        "org": key_or_none(summary.org),
        "org_name": names.get(summary.org) if summary.org else None,
        "title": summary.title,
        "region": summary.region,
        "urgency": summary.urgency,
        "status": summary.status.value,
        "pledge_status": summary.pledge_status.value,
        "fulfil_status": summary.fulfil_status.value,
        "sensitive": summary.sensitive,
        "verified": bool(summary.verified_by),
        "verified_by": [encode_key(org) for org in summary.verified_by],
        "updated_ms": hlc_millis(summary.updated_hlc),
        "expires_ms": summary.expires,
        "needed_by_ms": summary.needed_by,
        "lines": [line_json(line) for line in summary.lines],
    }


def history_json(
    history: Iterable[Event], identity: Identity, names: dict[bytes, str], ignored: set[bytes]
) -> list[dict[str, Any]]:
    out = []
    for event in history:
        org = identity.org_of(event.author)
        out.append(
            {
                "id": event.id.hex(),
                "kind": event.kind,
                "author": encode_key(event.author),
                "org": encode_key(org),
                "org_name": names.get(org),
                "at_ms": hlc_millis(event.hlc),
                "hlc": event.hlc,
                "effective": event.id not in ignored,
            }
        )
    return out


def record_json(
    view: RecordView,
    history: list[Event],
    *,
    now_ms: int,
    identity: Identity,
    names: dict[bytes, str],
    verified_by: Sequence[VerifiedBy],
    opener: SigningIdentity | None,
) -> dict[str, Any]:
    """The full view of one record (``aidnode show --json``, ``GET /api/v1/records/ID``).

    ``verified_by`` are the attestations by orgs this node accepts as verifiers, with the
    trust path to each (:meth:`TrustKeeper.verified_by`): they make the record ``verified``
    here (another node may trust differently). Sealed fields are opened with ``opener`` when
    this node is a recipient.
    """
    verifiers = {v.attestation.org for v in verified_by}
    ignored_ids = {i.id for i in view.ignored}
    withdrawal = view.withdrawal
    return {
        "id": view.id.hex(),
        "kind": view.kind,
        "org": key_or_none(view.org),
        "org_name": names.get(view.org) if view.org else None,
        "author": encode_key(view.author),
        "title": view.title,
        "region": view.region,
        "place": view.place,
        "coords": list(view.coords) if view.coords else None,
        "urgency": view.urgency,
        "status": view.status(now_ms).value,
        "pledge_status": view.pledge_status.value,
        "fulfil_status": view.fulfil_status.value,
        "sensitive": view.sensitive,
        "created_ms": hlc_millis(view.hlc),
        "updated_ms": view.updated_ms,
        "expires_ms": view.expires,
        "needed_by_ms": view.needed_by,
        "contact": (
            {"public": view.contact.public}
            if view.contact.sealed is None
            else sealed_json(view.contact.sealed, opener)
        ),
        "detail": None if view.detail is None else sealed_json(view.detail, opener),
        "source": view.source,
        "transport": view.transport,
        "note": view.note,
        "lines": [line_json(line) for line in view.lines],
        "pledges": [pledge_json(p, names) for p in view.pledges],
        "verified": bool(verified_by),
        "verified_by": [
            {
                "org": encode_key(v.attestation.org),
                "org_name": names.get(v.attestation.org),
                "method": v.attestation.method,
                "path": [encode_key(org) for org in v.path],
                "path_names": [names.get(org) for org in v.path],
            }
            for v in verified_by
        ],
        "verifications": [
            {
                "id": a.id.hex(),
                "org": encode_key(a.org),
                "org_name": names.get(a.org),
                "method": a.method,
                "note": a.note,
                "at_ms": hlc_millis(a.hlc),
                "counts": a.org in verifiers,
            }
            for a in view.verifications
        ],
        "withdrawal": None
        if withdrawal is None
        else {
            "id": withdrawal.id.hex(),
            "reason": withdrawal.reason,
            "at_ms": hlc_millis(withdrawal.hlc),
        },
        "void_reason": None if view.void_reason is None else view.void_reason.value,
        "ignored": [
            {
                "id": i.id.hex(),
                "kind": i.kind,
                "author": encode_key(i.author),
                "at_ms": hlc_millis(i.hlc),
                "reason": i.reason.value,
                "reason_text": INEFFECTIVE_TEXT.get(i.reason, i.reason.value),
            }
            for i in view.ignored
        ],
        "history": history_json(history, identity, names, ignored_ids),
    }


def dumps(data: Any) -> str:
    """The one JSON rendering used on stdout and in API bodies (UTF-8, keys sorted)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
