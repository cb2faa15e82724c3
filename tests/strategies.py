"""Hypothesis strategies for protocol values, shared by every test that needs events.

Three layers, each built on the one before:

* plain values the canonical codec accepts (:func:`plain_values`) and texts, codes and
  numbers each body field accepts (:func:`texts`, :func:`regions`, :func:`categories`, …);
* valid typed bodies of every kind (:func:`bodies`, :data:`BODY_STRATEGIES`, one strategy
  per body schema, e.g. :func:`record_bodies`);
* valid signed events (:func:`events`, :func:`kind_events`, :func:`unknown_events`) whose
  authors, hlc values and refs the caller controls by passing strategies, so the fold's and
  the store's tests can build histories over a few known orgs and records.

Authors come from a fixed pool of identities with seeds ``bytes([i]) * 32`` (:data:`IDENTITIES`),
so failures reproduce and keys are recognisable in output. Every event drawn here decodes with
``decode_event(event.wire, now_ms=NOW_MS)``.

The raw helpers at the end (:func:`signed_wire`, :func:`payload_of`) build wire bytes that
skip our own encoder's checks, for tests that need to send a node something invalid.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from crypto.signing import SigningIdentity
from protocol.canonical import decode, encode
from protocol.codes import Kind
from protocol.envelope import EVENT_DOMAIN, Event, sign_event
from protocol.errors import ProtocolError
from protocol.kinds import KIND_SPECS, Ref
from protocol.limits import (
    MAX_AMOUNT,
    MAX_LINES,
    MAX_MILLIS,
    MAX_NEST,
    MAX_RECIPIENTS,
    VERSION,
)
from protocol.records import (
    SEALED_SLOT_BYTES,
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
    MAX_ENDORSE_DEPTH,
    DelegateBody,
    EndorseBody,
    InceptBody,
    Level,
    RevokeBody,
    RevokeReason,
    RotateBody,
    Scope,
)

__all__ = [
    "BODY_STRATEGIES",
    "EARLIEST_MS",
    "IDENTITIES",
    "LATEST_MS",
    "MAX_INT",
    "MIN_INT",
    "NOW_MS",
    "amounts",
    "bodies",
    "body_maps",
    "cancel_bodies",
    "categories",
    "contacts",
    "delegate_bodies",
    "deliver_bodies",
    "endorse_bodies",
    "event_ids",
    "events",
    "hlcs",
    "identities",
    "incept_bodies",
    "keys32",
    "kind_events",
    "kind_names",
    "line_qtys",
    "lines",
    "millis",
    "nfc_strings",
    "payload_of",
    "plain_scalars",
    "plain_values",
    "pledge_bodies",
    "profile_bodies",
    "receipt_bodies",
    "record_bodies",
    "regions",
    "revoke_bodies",
    "rotate_bodies",
    "sealed_values",
    "signed_wire",
    "texts",
    "unknown_events",
    "update_bodies",
    "verify_bodies",
    "withdraw_bodies",
]

MIN_INT = -(2**63)  # msgpack's integer range
MAX_INT = 2**64 - 1
EARLIEST_MS = 1_577_836_800_000  # 2020-01-01, the lockdowns this is for
LATEST_MS = 1_893_456_000_000  # 2030-01-01
NOW_MS = LATEST_MS  # a receiver clock at which every drawn event is acceptable

IDENTITIES: tuple[SigningIdentity, ...] = tuple(
    SigningIdentity(bytes([i]) * 32) for i in range(1, 17)
)

# check_text forbids C0 controls and DEL (a line feed only in multiline fields); C1 controls
# and everything else in Unicode (except surrogates, which are not UTF-8) are allowed.
_C0_AND_DEL = "".join(chr(c) for c in range(0x20)) + "\x7f"


# --- plain values ---------------------------------------------------------------------------


def _nfc_fit(text: str, max_bytes: int) -> str:
    """``text`` in NFC, cut to at most ``max_bytes`` UTF-8 bytes."""
    text = unicodedata.normalize("NFC", text)
    data = text.encode()
    if len(data) > max_bytes:
        text = unicodedata.normalize("NFC", data[:max_bytes].decode(errors="ignore"))
    while len(text.encode()) > max_bytes:  # NFC can lengthen a cut string (rarely)
        text = unicodedata.normalize("NFC", text[:-1])
    return text


def texts(max_bytes: int, *, multiline: bool = False) -> st.SearchStrategy[str]:
    """Non-empty NFC strings of at most ``max_bytes`` UTF-8 bytes that ``check_text`` accepts."""
    forbidden = _C0_AND_DEL.replace("\n", "") if multiline else _C0_AND_DEL
    alphabet = st.characters(codec="utf-8", exclude_characters=forbidden)
    return (
        st.text(alphabet, min_size=1, max_size=max_bytes)
        .map(lambda text: _nfc_fit(text, max_bytes))
        .filter(bool)
    )


def nfc_strings() -> st.SearchStrategy[str]:
    """Any NFC string, control characters included (what the codec itself carries)."""
    return st.text(st.characters(codec="utf-8")).map(lambda t: unicodedata.normalize("NFC", t))


def plain_scalars(*, nil: bool = True) -> st.SearchStrategy[Any]:
    """Scalars the canonical codec encodes: msgpack-range ints, NFC str, bytes, bool, and
    nil unless ``nil`` is false (bodies may not hold nil)."""
    scalars = st.one_of(
        st.integers(MIN_INT, MAX_INT),
        nfc_strings(),
        st.binary(),
        st.booleans(),
    )
    return scalars | st.none() if nil else scalars


def plain_values(
    max_depth: int = MAX_NEST, *, nil: bool = True, max_items: int = 4
) -> st.SearchStrategy[Any]:
    """Values :func:`protocol.canonical.encode` accepts, as :func:`decode` returns them
    (arrays as tuples, maps as dicts with str keys), nested at most ``max_depth`` deep."""
    scalars = plain_scalars(nil=nil)
    if max_depth == 0:
        return scalars
    inner = st.deferred(lambda: plain_values(max_depth - 1, nil=nil, max_items=max_items))
    return st.one_of(
        scalars,
        st.lists(inner, max_size=max_items).map(tuple),
        st.dictionaries(nfc_strings(), inner, max_size=max_items),
    )


# --- field values ---------------------------------------------------------------------------


def amounts() -> st.SearchStrategy[int]:
    return st.integers(1, MAX_AMOUNT)


def millis() -> st.SearchStrategy[int]:
    return st.integers(0, MAX_MILLIS)


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"


def regions() -> st.SearchStrategy[str]:
    """Region codes ``[A-Z]{2}(-[A-Z0-9]{1,3}){0,3}``, e.g. ``CN-HB-WH``."""
    return st.builds(
        lambda country, parts: "-".join([country, *parts]),
        st.text(_UPPER, min_size=2, max_size=2),
        st.lists(st.text(_UPPER + _DIGITS, min_size=1, max_size=3), max_size=3),
    )


def categories() -> st.SearchStrategy[str]:
    """Category codes: one to four dotted parts ``[a-z][a-z0-9_]{0,23}``, 64 bytes at most."""
    part = st.builds(
        lambda first, rest: first + rest,
        st.sampled_from(_LOWER),
        st.text(_LOWER + _DIGITS + "_", max_size=23),
    )
    return st.lists(part, min_size=1, max_size=4).map(".".join).filter(lambda c: len(c) <= 64)


def keys32() -> st.SearchStrategy[bytes]:
    return st.binary(min_size=32, max_size=32)


def event_ids() -> st.SearchStrategy[bytes]:
    """Arbitrary 32-byte event ids (for refs whose target does not matter)."""
    return keys32()


def kind_names() -> st.SearchStrategy[str]:
    """Well-formed kind names (``[a-z][a-z0-9_]{0,31}``) this version does not know."""
    return st.builds(
        lambda first, rest: first + rest,
        st.sampled_from(_LOWER),
        st.text(_LOWER + _DIGITS + "_", max_size=31),
    ).filter(lambda kind: kind not in KIND_SPECS)


def _choice(enum: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([member.value for member in enum])


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# --- record bodies --------------------------------------------------------------------------


def sealed_values(
    *, max_box: int = 512, max_slots: int = MAX_RECIPIENTS
) -> st.SearchStrategy[Sealed]:
    """Sealed values (structurally valid; the bytes are not real ciphertext). ``max_box``
    keeps events well under 16 KiB; the limits themselves are tested in test_records."""
    return st.builds(
        Sealed,
        box=st.binary(min_size=41, max_size=max_box),
        slots=st.lists(
            st.binary(min_size=SEALED_SLOT_BYTES, max_size=SEALED_SLOT_BYTES),
            min_size=1,
            max_size=max_slots,
        ).map(tuple),
    )


def contacts(*, sealed: bool | None = None) -> st.SearchStrategy[Contact]:
    """Contacts: public text or a sealed value (``sealed`` forces one or the other)."""
    public = st.builds(Contact, public=texts(500, multiline=True))
    hidden = st.builds(Contact, sealed=sealed_values(max_slots=4))
    if sealed is None:
        return public | hidden
    return hidden if sealed else public


def lines() -> st.SearchStrategy[Line]:
    common = {"item": texts(120), "category": categories(), "unit": texts(32)}
    return st.builds(Line, qty=amounts(), **common) | st.builds(
        Line, unlimited=st.just(True), **common
    )


def line_qtys() -> st.SearchStrategy[LineQty]:
    return st.builds(LineQty, qty=amounts()) | st.just(LineQty(unlimited=True))


def _coords() -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(-9000, 9000), st.integers(-18000, 18000))


def _record_options() -> dict[str, st.SearchStrategy[Any]]:
    """Values of the optional fields shared by need/offer and update."""
    return {
        "place": texts(200),
        "coords": _coords(),
        "needed_by": millis(),
        "source": texts(500),
        "transport": _choice(Transport),
        "note": texts(2000, multiline=True),
    }


@st.composite
def record_bodies(draw: st.DrawFn, max_lines: int = 8) -> RecordBody:
    """Bodies of ``need``/``offer``; a ``sensitive`` one has a sealed contact and detail."""
    sensitive = draw(st.booleans())
    detail = sealed_values(max_slots=4)
    options = {name: draw(_optional(value)) for name, value in _record_options().items()}
    return RecordBody(
        title=draw(texts(200)),
        lines=tuple(draw(st.lists(lines(), min_size=1, max_size=min(max_lines, MAX_LINES)))),
        region=draw(regions()),
        urgency=draw(_choice(Urgency)),
        expires=draw(millis()),
        contact=draw(contacts(sealed=True if sensitive else None)),
        sensitive=sensitive,
        detail=draw(detail if sensitive else _optional(detail)),
        **options,
    )


@st.composite
def update_bodies(draw: st.DrawFn) -> UpdateBody:
    """Bodies of ``update``: a non-empty subset of the mutable fields."""
    candidates: dict[str, st.SearchStrategy[Any]] = {
        "title": texts(200),
        "lines": st.lists(line_qtys(), min_size=1, max_size=8).map(tuple),
        "region": regions(),
        "urgency": _choice(Urgency),
        "expires": millis(),
        "contact": contacts(),
        "detail": sealed_values(max_slots=4),
        **_record_options(),
    }
    chosen = draw(st.sets(st.sampled_from(sorted(candidates)), min_size=1))
    return UpdateBody(**{name: draw(candidates[name]) for name in sorted(chosen)})


def withdraw_bodies() -> st.SearchStrategy[WithdrawBody]:
    return st.builds(WithdrawBody, reason=texts(200))


def pledge_bodies() -> st.SearchStrategy[PledgeBody]:
    return st.builds(
        PledgeBody,
        line=st.integers(0, MAX_LINES - 1),
        qty=amounts(),
        available_from=_optional(millis()),
        note=_optional(texts(500, multiline=True)),
    )


def cancel_bodies() -> st.SearchStrategy[CancelBody]:
    return st.builds(CancelBody, reason=_optional(texts(200)))


def deliver_bodies() -> st.SearchStrategy[DeliverBody]:
    return st.builds(DeliverBody, qty=amounts(), note=_optional(texts(500, multiline=True)))


def receipt_bodies() -> st.SearchStrategy[ReceiptBody]:
    return st.builds(ReceiptBody, qty=amounts(), note=_optional(texts(500, multiline=True)))


def verify_bodies() -> st.SearchStrategy[VerifyBody]:
    return st.builds(
        VerifyBody, method=_choice(VerifyMethod), note=_optional(texts(500, multiline=True))
    )


def profile_bodies() -> st.SearchStrategy[ProfileBody]:
    return st.builds(
        ProfileBody,
        name=texts(100),
        regions=_optional(
            st.lists(regions(), min_size=1, max_size=16, unique=True).map(
                lambda codes: tuple(sorted(codes))
            )
        ),
        description=_optional(texts(2000, multiline=True)),
        contact=_optional(texts(500, multiline=True)),
        org_type=_optional(texts(64)),
    )


# --- trust bodies ---------------------------------------------------------------------------


def endorse_bodies() -> st.SearchStrategy[EndorseBody]:
    return st.builds(
        EndorseBody,
        subject=keys32(),
        name=texts(100),
        level=_choice(Level),
        max_depth=st.integers(0, MAX_ENDORSE_DEPTH),
        expires=millis(),
    )


def revoke_bodies(*, with_key: bool | None = None) -> st.SearchStrategy[RevokeBody]:
    """Revocations; ``with_key`` True: of a key (no ref), False: of an event (ref), None: both."""
    key = {True: keys32(), False: st.none(), None: _optional(keys32())}[with_key]
    return st.builds(RevokeBody, reason=_choice(RevokeReason), key=key)


def delegate_bodies() -> st.SearchStrategy[DelegateBody]:
    """Delegations. ``proof`` is 64 arbitrary bytes: its meaning is the identity layer's."""
    return st.builds(
        DelegateBody,
        key=keys32(),
        scopes=st.lists(_choice(Scope), min_size=1, unique=True).map(
            lambda scopes: tuple(sorted(scopes))
        ),
        expires=millis(),
        proof=st.binary(min_size=64, max_size=64),
        name=_optional(texts(100)),
    )


def incept_bodies() -> st.SearchStrategy[InceptBody]:
    return st.builds(InceptBody, next=keys32())


def rotate_bodies() -> st.SearchStrategy[RotateBody]:
    return st.builds(RotateBody, org=keys32(), prior=keys32(), next=keys32())


BODY_STRATEGIES: dict[Kind, st.SearchStrategy[Schema]] = {
    Kind.NEED: record_bodies(),
    Kind.OFFER: record_bodies(),
    Kind.UPDATE: update_bodies(),
    Kind.WITHDRAW: withdraw_bodies(),
    Kind.PLEDGE: pledge_bodies(),
    Kind.CANCEL: cancel_bodies(),
    Kind.DELIVER: deliver_bodies(),
    Kind.RECEIPT: receipt_bodies(),
    Kind.VERIFY: verify_bodies(),
    Kind.ENDORSE: endorse_bodies(),
    Kind.REVOKE: revoke_bodies(),
    Kind.DELEGATE: delegate_bodies(),
    Kind.INCEPT: incept_bodies(),
    Kind.ROTATE: rotate_bodies(),
    Kind.PROFILE: profile_bodies(),
}


def bodies(kind: Kind | str) -> st.SearchStrategy[Schema]:
    """Valid typed bodies of ``kind``."""
    return BODY_STRATEGIES[Kind(kind)]


def body_maps(kind: Kind | str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid bodies of ``kind`` as maps shaped like decoded ones (arrays as tuples)."""
    return bodies(kind).map(lambda body: decode(encode(body.to_map())))


# --- events ---------------------------------------------------------------------------------


def identities(count: int = len(IDENTITIES)) -> st.SearchStrategy[SigningIdentity]:
    """One of the first ``count`` fixed identities."""
    return st.sampled_from(IDENTITIES[:count])


def hlcs(min_ms: int = EARLIEST_MS, max_ms: int = LATEST_MS) -> st.SearchStrategy[int]:
    """Hybrid logical clock values: Unix ms in the top 48 bits, a 16-bit counter below."""
    return st.builds(
        lambda ms, counter: ms << 16 | counter,
        st.integers(min_ms, max_ms),
        st.integers(0, 0xFFFF),
    )


def _sign_or_reject(
    identity: SigningIdentity, kind: str, hlc: int, body: Any, ref: bytes | None
) -> Event:
    try:
        return sign_event(identity, kind, hlc, body, ref)
    except ProtocolError:
        # Only the 16 KiB limit can refuse a valid body; rare with these sizes.
        reject()


@st.composite
def kind_events(
    draw: st.DrawFn,
    kind: Kind | str,
    *,
    authors: st.SearchStrategy[SigningIdentity] | None = None,
    hlc: st.SearchStrategy[int] | None = None,
    refs: st.SearchStrategy[bytes] | None = None,
    body: st.SearchStrategy[Schema] | None = None,
) -> Event:
    """A valid signed event of ``kind``. ``authors``, ``hlc``, ``refs`` and ``body`` default to
    any fixed identity, any hlc in 2020–2030, any 32-byte id and any valid body. A ref is drawn
    only where the kind has one (a ``revoke`` of a key has none)."""
    spec = KIND_SPECS[Kind(kind)]
    author = draw(authors if authors is not None else identities())
    stamp = draw(hlc if hlc is not None else hlcs())
    value = draw(body if body is not None else bodies(kind))
    needs_ref = spec.ref is Ref.REQUIRED or (
        spec.ref is Ref.EITHER and isinstance(value, RevokeBody) and value.key is None
    )
    ref = draw(refs if refs is not None else event_ids()) if needs_ref else None
    return _sign_or_reject(author, spec.kind.value, stamp, value, ref)


def events(
    kinds: st.SearchStrategy[Kind] | None = None,
    *,
    authors: st.SearchStrategy[SigningIdentity] | None = None,
    hlc: st.SearchStrategy[int] | None = None,
    refs: st.SearchStrategy[bytes] | None = None,
) -> st.SearchStrategy[Event]:
    """Valid signed events of the drawn kinds (default: every kind of version 1)."""
    kinds = kinds if kinds is not None else st.sampled_from(list(Kind))
    return kinds.flatmap(lambda kind: kind_events(kind, authors=authors, hlc=hlc, refs=refs))


@st.composite
def unknown_events(
    draw: st.DrawFn,
    *,
    authors: st.SearchStrategy[SigningIdentity] | None = None,
    hlc: st.SearchStrategy[int] | None = None,
) -> Event:
    """Valid events of kinds from a future version: any name, any plain body, maybe a ref."""
    values = plain_values(MAX_NEST - 2, nil=False, max_items=3)  # the body is at depth 1
    body = draw(st.dictionaries(nfc_strings(), values, max_size=6))
    return _sign_or_reject(
        draw(authors if authors is not None else identities()),
        draw(kind_names()),
        draw(hlc if hlc is not None else hlcs()),
        body,
        draw(_optional(event_ids())),
    )


# --- raw wire helpers -----------------------------------------------------------------------


def payload_of(
    kind: Any,
    author: Any,
    hlc: Any,
    ref: Any,
    body: Any,
    *,
    version: Any = VERSION,
) -> bytes:
    """The canonical payload array for arbitrary field values (for crafting invalid events)."""
    return encode([version, kind, author, hlc, ref, body])


def signed_wire(identity: SigningIdentity, payload: bytes) -> bytes:
    """``[payload, sig]`` with a valid signature by ``identity`` over whatever ``payload`` is,
    so that the decoder's other checks are what a test exercises."""
    return encode([payload, identity.sign(EVENT_DOMAIN, payload)])
