"""What an event is: kinds, bodies, canonical encoding, validation, limits and reason codes.

Pure: no I/O, no asyncio. See docs/protocol.md for the normative specification.
"""

from protocol.canonical import decode, encode
from protocol.codes import Ineffective, Kind, ReasonCode
from protocol.envelope import (
    EVENT_DOMAIN,
    Event,
    OpaqueBody,
    decode_event,
    decode_stored,
    event_id,
    hlc_millis,
    sign_event,
)
from protocol.errors import ProtocolError
from protocol.kinds import KIND_SPECS, KindSpec, Ref, Role
from protocol.records import (
    CancelBody,
    Contact,
    DeliverBody,
    Line,
    LineQty,
    PledgeBody,
    ProfileBody,
    ReceiptBody,
    RecordBody,
    Sealed,
    Transport,
    UpdateBody,
    Urgency,
    VerifyBody,
    VerifyMethod,
    WithdrawBody,
)
from protocol.schema import Schema
from protocol.trust_bodies import (
    DELEGATION_DOMAIN,
    DelegateBody,
    EndorseBody,
    InceptBody,
    Level,
    RevokeBody,
    RevokeReason,
    RotateBody,
    Scope,
    delegation_message,
)

__all__ = [
    "DELEGATION_DOMAIN",
    "EVENT_DOMAIN",
    "KIND_SPECS",
    "CancelBody",
    "Contact",
    "DelegateBody",
    "DeliverBody",
    "EndorseBody",
    "Event",
    "InceptBody",
    "Ineffective",
    "Kind",
    "KindSpec",
    "Level",
    "Line",
    "LineQty",
    "OpaqueBody",
    "PledgeBody",
    "ProfileBody",
    "ProtocolError",
    "ReasonCode",
    "ReceiptBody",
    "RecordBody",
    "Ref",
    "RevokeBody",
    "RevokeReason",
    "Role",
    "RotateBody",
    "Schema",
    "Scope",
    "Sealed",
    "Transport",
    "UpdateBody",
    "Urgency",
    "VerifyBody",
    "VerifyMethod",
    "WithdrawBody",
    "decode",
    "decode_event",
    "decode_stored",
    "delegation_message",
    "encode",
    "event_id",
    "hlc_millis",
    "sign_event",
]
