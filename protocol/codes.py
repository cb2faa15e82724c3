"""Stable codes: event kinds, rejection reasons, and reasons an accepted event has no effect.

Values are part of the protocol (they appear on the wire, in HTTP error bodies and in the
database) and never change meaning; docs/protocol.md §7 lists them normatively.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Ineffective", "Kind", "ReasonCode"]


class Kind(StrEnum):
    """The event kinds of protocol version 1 (docs/protocol.md §4). Others are opaque."""

    NEED = "need"
    OFFER = "offer"
    UPDATE = "update"
    WITHDRAW = "withdraw"
    PLEDGE = "pledge"
    CANCEL = "cancel"
    DELIVER = "deliver"
    RECEIPT = "receipt"
    VERIFY = "verify"
    ENDORSE = "endorse"
    REVOKE = "revoke"
    DELEGATE = "delegate"
    INCEPT = "incept"
    ROTATE = "rotate"
    PROFILE = "profile"


class ReasonCode(StrEnum):
    """Why an event or message was rejected. A rejected event is never stored."""

    MALFORMED = "malformed"  # not msgpack, or not the envelope's shape
    NON_CANONICAL = "non_canonical"  # decodes, but its bytes are not the canonical encoding
    TOO_LARGE = "too_large"  # over a size or count limit
    UNKNOWN_VERSION = "unknown_version"  # envelope version is not 1
    FUTURE_TIMESTAMP = "future_timestamp"  # hlc more than 10 minutes ahead of the receiver
    BAD_SIGNATURE = "bad_signature"  # signature does not verify for the author key
    BAD_FIELD = "bad_field"  # a field has the wrong type, range or format
    MISSING_FIELD = "missing_field"  # a required body field is absent
    UNKNOWN_FIELD = "unknown_field"  # a known kind's body has a field the kind does not define
    BAD_REFERENCE = "bad_reference"  # ref present where forbidden, or absent where required


class Ineffective(StrEnum):
    """Why a stored, valid event has no effect on the derived state (the fold).

    Such events are kept and relayed (another replica with more events may see them take
    effect, e.g. once a missing delegation arrives); the record views list them with the code.
    """

    NOT_AUTHORISED = "not_authorised"  # the author does not act for any org with this scope
    NOT_RECORD_ORG = "not_record_org"  # only the record's org may do this
    NOT_PLEDGE_ORG = "not_pledge_org"  # only the pledging org may do this
    NOT_GIVER = "not_giver"  # deliveries are made by the giving side of a pledge
    NOT_RECEIVER = "not_receiver"  # receipts are made by the receiving side of a pledge
    SELF_PLEDGE = "self_pledge"  # an org cannot pledge against its own record
    SELF_VERIFY = "self_verify"  # an org cannot verify its own record
    UNKNOWN_LINE = "unknown_line"  # pledge line index outside the record's lines
    LINES_MISMATCH = "lines_mismatch"  # update's lines do not match the record's line count
    WRONG_TARGET = "wrong_target"  # ref points at an event of the wrong kind
    KEY_REVOKED = "key_revoked"  # author key revoked (compromised, or retired before this hlc)
    KEY_SUPERSEDED = "key_superseded"  # author key rotated away before this hlc
    DELEGATION_EXPIRED = "delegation_expired"  # delegate acted after its delegation expired
    DELEGATION_REVOKED = "delegation_revoked"  # delegation revoked before this hlc
    OUT_OF_SCOPE = "out_of_scope"  # delegate acted outside its scopes
    DELEGATION_WIDENS = "delegation_widens"  # sub-delegation widens scope or extends expiry
    BAD_PROOF = "bad_proof"  # delegation proof not signed by the delegate key
    BAD_ROTATION = "bad_rotation"  # rotation does not match the committed next-key digest
    DUPLICITY = "duplicity"  # two establishment events fork the org's key chain
    ORG_KEY = "org_key"  # delegation to a key that is itself an org's key
    KEY_BOUND = "key_bound"  # delegation to a key already acting for another org
    TOO_DEEP = "too_deep"  # sub-delegation chain longer than 3
    NOT_ENTITLED = "not_entitled"  # revocation by someone not entitled to revoke the target
