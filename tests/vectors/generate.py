"""Regenerate aidnode's protocol test vectors (docs/protocol.md §8).

    python tests/vectors/generate.py           # rewrite the JSON files next to this script
    python tests/vectors/generate.py --check   # exit 1 if they differ from what it would write

Everything is fixed: author keys come from seeds ``bytes([i]) * 32``, hlc values and bodies
are literals below, and Ed25519 signatures are deterministic (RFC 8032), so every run
writes byte-identical files. tests/test_vectors.py checks the files against the
implementation and against a fresh rendering.

Files:

* ``events.json`` — one valid event of every kind (and a few variants): seed, author, hlc,
  ref, the body as typed JSON, payload, sig, id and wire, all as hex;
* ``invalid.json`` — wire bytes (hex) a verifier must refuse, each with its reason code;
* ``canonical.json`` — canonical encodings of plain values, and non-canonical or malformed
  byte strings with their reason code.

Typed JSON (how values are written in these files): a JSON string is a msgpack str, a JSON
number an int, true/false/null are bool/nil, a JSON array a msgpack array, a JSON object a
msgpack map, and ``{"$bin": "<hex>"}`` a msgpack bin. Integers wider than 2^53 (hlc values)
are written as decimal strings in the ``hlc`` fields, never inside bodies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import nacl.signing

from crypto.signing import SigningIdentity, key_digest
from protocol.canonical import encode
from protocol.envelope import EVENT_DOMAIN, Event, sign_event

HERE = Path(__file__).resolve().parent
NOW_MS = 1_580_601_600_000  # 2020-02-02T00:00:00Z: the receiver clock for every vector
T0 = 1_580_515_200_000  # 2020-02-01T00:00:00Z
DAY = 86_400_000


def seed(index: int) -> bytes:
    return bytes([index]) * 32


def hlc(minutes: int, counter: int = 0) -> int:
    """An hlc ``minutes`` after T0 with logical counter ``counter``."""
    return (T0 + minutes * 60_000) << 16 | counter


HOSPITAL = SigningIdentity(seed(1))  # Xiehe Hospital ward 3 support group (needs)
SISTERS = SigningIdentity(seed(2))  # Sisters anti-epidemic relief (offers, pledges)
VERIFIER = SigningIdentity(seed(3))  # Disaster prevention association verifiers
HOSPITAL_NEXT = SigningIdentity(seed(4))  # the hospital group's pre-committed next key
HOSPITAL_AFTER = SigningIdentity(seed(5))  # the key committed by the rotation
OPERATOR = SigningIdentity(seed(6))  # a volunteer's operator key, delegated by SISTERS


# --- typed JSON -----------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A decoded or plain value as typed JSON (see the module docstring)."""
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json`, arrays as tuples (as canonical.decode gives them)."""
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return tuple(from_json(item) for item in value)
    return value


# --- valid events ---------------------------------------------------------------------------


def _fake(label: str, size: int) -> bytes:
    """Deterministic filler bytes standing in for ciphertext (not real sealed boxes)."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.blake2b(f"{label}/{counter}".encode(), digest_size=64).digest()
        counter += 1
    return out[:size]


def _sealed(label: str, recipients: int) -> dict[str, Any]:
    return {
        "box": _fake(label + "/box", 24 + 16 + 60),
        "slots": tuple(_fake(f"{label}/slot{i}", 80) for i in range(recipients)),
    }


def valid_events() -> list[tuple[str, str, SigningIdentity, Event]]:
    """(name, note, author, event) for every valid vector, in a fixed order."""
    out: list[tuple[str, str, SigningIdentity, Event]] = []

    def add(name: str, note: str, who: SigningIdentity, *args: Any, **kwargs: Any) -> Event:
        event = sign_event(who, *args, **kwargs)
        out.append((name, note, who, event))
        return event

    incept = add(
        "incept",
        "the hospital group's first event: its key is the org id; next = key_digest(seed 4)",
        HOSPITAL,
        "incept",
        hlc(0),
        {"next": key_digest(HOSPITAL_NEXT.public_key)},
    )
    add(
        "profile",
        "non-ASCII text (NFC) and a sorted region list",
        HOSPITAL,
        "profile",
        hlc(1),
        {
            "name": "Xiehe Hospital ward 3 support group",
            "regions": ("CN-HB", "CN-HB-WH"),
            "description": "协和医院三病区后援群\nWe collect PPE for ward 3.",
            "org_type": "hospital support group",
        },
    )
    need = add(
        "need",
        "two lines, one unlimited; the record id is this event's id",
        HOSPITAL,
        "need",
        hlc(10),
        {
            "title": "N95口罩 and protective suits for ward 3",
            "lines": (
                {
                    "item": "N95 respirator",
                    "category": "medical.ppe",
                    "unit": "pieces",
                    "qty": 2000,
                },
                {
                    "item": "disposable protective suit",
                    "category": "medical.ppe",
                    "unit": "pieces",
                    "unlimited": True,
                },
            ),
            "region": "CN-HB-WH",
            "place": "Xiehe Hospital, west campus",
            "coords": (3058, 11427),
            "urgency": "24h",
            "needed_by": T0 + 2 * DAY,
            "expires": T0 + 14 * DAY,
            "contact": {"public": "Ward 3 nurses' station\n+86 27 0000 0000"},
            "source": "ward 3 head nurse",
            "transport": "needed",
        },
    )
    sensitive = add(
        "need-sensitive",
        "a sensitive need: sealed contact and sealed detail (filler bytes, not real boxes)",
        HOSPITAL,
        "need",
        hlc(11),
        {
            "title": "Medicine refills",
            "lines": (
                {
                    "item": "antiretroviral refill (30 days)",
                    "category": "medical.medicine",
                    "unit": "packs",
                    "qty": 12,
                },
            ),
            "region": "CN-HB-WH",
            "urgency": "3d",
            "expires": T0 + 30 * DAY,
            "contact": {"sealed": _sealed("contact", 2)},
            "detail": _sealed("detail", 2),
            "sensitive": True,
        },
    )
    add(
        "offer",
        "an offer with delivery provided",
        SISTERS,
        "offer",
        hlc(12),
        {
            "title": "Pad panties for women medical staff",
            "lines": (
                {
                    "item": "pad panties",
                    "category": "hygiene.menstrual",
                    "unit": "pieces",
                    "qty": 5000,
                },
            ),
            "region": "CN-HB",
            "urgency": "any",
            "expires": T0 + 21 * DAY,
            "contact": {"public": "sisters-relief volunteers, WeChat group"},
            "transport": "provided",
        },
    )
    add(
        "update",
        "the record's org changes two mutable fields, line quantities among them",
        HOSPITAL,
        "update",
        hlc(20),
        {"lines": ({"qty": 1500}, {"unlimited": True}), "urgency": "3d"},
        ref=need.id,
    )
    pledge = add(
        "pledge",
        "another org commits 800 against line 0 of the need",
        SISTERS,
        "pledge",
        hlc(30),
        {"line": 0, "qty": 800, "available_from": T0 + DAY},
        ref=need.id,
    )
    second = add(
        "pledge-2",
        "a second pledge, later cancelled",
        SISTERS,
        "pledge",
        hlc(31),
        {"line": 1, "qty": 50},
        ref=need.id,
    )
    add(
        "cancel",
        "the pledging org cancels its second pledge",
        SISTERS,
        "cancel",
        hlc(32),
        {},
        ref=second.id,
    )
    add(
        "deliver",
        "the giving side reports goods sent",
        SISTERS,
        "deliver",
        hlc(40),
        {"qty": 800, "note": "van 3, driver Li"},
        ref=pledge.id,
    )
    add(
        "receipt",
        "the receiving side reports goods received",
        HOSPITAL,
        "receipt",
        hlc(50),
        {"qty": 780, "note": "20 damaged in transit"},
        ref=pledge.id,
    )
    add(
        "verify",
        "a third org attests the need is genuine",
        VERIFIER,
        "verify",
        hlc(60),
        {"method": "phone", "note": "called the ward; confirmed"},
        ref=need.id,
    )
    endorse = add(
        "endorse",
        "the verifier introduces the hospital group as a member",
        VERIFIER,
        "endorse",
        hlc(70),
        {
            "subject": HOSPITAL.public_key,
            "name": "Xiehe Hospital ward 3 support group",
            "level": "member",
            "max_depth": 1,
            "expires": T0 + 365 * DAY,
        },
    )
    add(
        "revoke-event",
        "revocation of an event: ref set, no key",
        VERIFIER,
        "revoke",
        hlc(80),
        {"reason": "superseded"},
        ref=endorse.id,
    )
    add(
        "revoke-key",
        "revocation of a key: key set, no ref",
        SISTERS,
        "revoke",
        hlc(81),
        {"reason": "compromised", "key": OPERATOR.public_key},
    )
    add(
        "delegate",
        "SISTERS lets an operator key pledge and post; proof is filler (the protocol layer "
        "checks only its length; its meaning is §5)",
        SISTERS,
        "delegate",
        hlc(90),
        {
            "key": OPERATOR.public_key,
            "scopes": ("pledge", "post"),
            "expires": T0 + 90 * DAY,
            "proof": _fake("proof", 64),
            "name": "volunteer phone",
        },
    )
    add(
        "rotate",
        "the committed next key (seed 4) rotates the hospital identity; ref = the incept",
        HOSPITAL_NEXT,
        "rotate",
        hlc(100),
        {
            "org": HOSPITAL.public_key,
            "prior": HOSPITAL.public_key,
            "next": key_digest(HOSPITAL_AFTER.public_key),
        },
        ref=incept.id,
    )
    add(
        "withdraw",
        "the record's org withdraws the sensitive need",
        HOSPITAL,
        "withdraw",
        hlc(110),
        {"reason": "supplied by the hospital pharmacy"},
        ref=sensitive.id,
    )
    add(
        "opaque",
        "a kind from a future version: kept and relayed byte-identically, ignored by the fold",
        SISTERS,
        "shift_roster",
        hlc(120),
        {"shifts": ({"driver": "Li", "slot": 3},), "version": 2},
        ref=need.id,
    )
    add(
        "clock-limit",
        "hlc exactly 10 minutes (in ms) ahead of now_ms, counter 0xffff: accepted",
        SISTERS,
        "deliver",
        (NOW_MS + 600_000) << 16 | 0xFFFF,
        {"qty": 1},
        ref=pledge.id,
    )
    return out


def events_json() -> list[dict[str, Any]]:
    from protocol.canonical import decode

    vectors = []
    for name, note, who, event in valid_events():
        vectors.append(
            {
                "name": name,
                "note": note,
                "seed": who.seed.hex(),
                "author": event.author.hex(),
                "kind": event.kind,
                "hlc": str(event.hlc),
                "ref": None if event.ref is None else event.ref.hex(),
                "body": to_json(decode(event.payload)[5]),
                "payload": event.payload.hex(),
                "sig": event.sig.hex(),
                "id": event.id.hex(),
                "wire": event.wire.hex(),
            }
        )
    return vectors


# --- invalid events -------------------------------------------------------------------------

_LINE = {"item": "N95 respirator", "category": "medical.ppe", "unit": "pieces", "qty": 10}
_NEED = {
    "title": "Masks",
    "lines": (_LINE,),
    "region": "CN-HB-WH",
    "urgency": "24h",
    "expires": T0 + DAY,
    "contact": {"public": "ward 3"},
}
_REF = bytes(range(32))


def _payload(kind: Any = "need", body: Any = None, *, ref: Any = None, **fields: Any) -> bytes:
    return encode(
        [
            fields.get("version", 1),
            kind,
            fields.get("author", HOSPITAL.public_key),
            fields.get("hlc", hlc(5)),
            ref,
            _NEED if body is None else body,
        ]
    )


def _signed(payload: bytes, who: SigningIdentity = HOSPITAL) -> bytes:
    """Wire bytes with a valid signature over ``payload``, whatever ``payload`` holds."""
    return encode([payload, who.sign(EVENT_DOMAIN, payload)])


def _flip(data: bytes, index: int, mask: int = 1) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def _oversized() -> bytes:
    """A validly signed opaque event whose wire form is exactly 16 KiB + 1 byte."""
    for pad in range(16_100, 16_384):
        wire = _signed(_payload("note", {"pad": bytes(pad)}))
        if len(wire) == 16_385:
            return wire
    raise AssertionError("no padding gives 16385 bytes")


def invalid_cases() -> list[tuple[str, str, bytes]]:
    """(name, expected reason code, wire bytes) for every invalid vector."""
    good = _payload()
    good_wire = _signed(good)
    good_sig = HOSPITAL.sign(EVENT_DOMAIN, good)
    body = encode(_NEED)
    hlc_bytes = encode(hlc(5))
    deep: Any = 0
    for _ in range(6):  # payload → body → 6 arrays: the leaf sits at depth 8, the limit
        deep = (deep,)

    cases = [
        ("not-msgpack", "malformed", b"\xc1"),
        ("truncated", "malformed", good_wire[:-1]),
        ("trailing-byte", "malformed", good_wire + b"\x00"),
        ("wire-one-element", "malformed", encode([good])),
        ("wire-three-elements", "malformed", encode([good, good_sig, b""])),
        ("payload-not-bin", "malformed", encode(["payload", good_sig])),
        ("payload-not-array", "malformed", _signed(encode({"version": 1}))),
        ("payload-five-fields", "malformed", _signed(encode([1, "need", bytes(32), 0, None]))),
        (
            "non-minimal-int",
            "non_canonical",
            _signed(good.replace(hlc_bytes, b"\xd3" + hlc_bytes[1:])),
        ),
        (
            "unsorted-keys",
            "non_canonical",
            _signed(good.replace(body, body.replace(b"\xa5title", b"\xa5TITLE"))),
        ),
        (
            "duplicate-key",
            "non_canonical",
            _signed(
                _payload("deliver", {"qty": 1}, ref=_REF).replace(
                    b"\x81\xa3qty\x01", b"\x82\xa3qty\x01\xa3qty\x01"
                )
            ),
        ),
        (
            "float",
            "non_canonical",
            _signed(
                _payload("deliver", {"qty": 1}, ref=_REF).replace(
                    b"\xa3qty\x01", b"\xa3qty\xcb\x3f\xf0" + bytes(6)
                )
            ),
        ),
        (
            "bin-map-key",
            "non_canonical",
            _signed(_payload("deliver", {"qty": 1}, ref=_REF).replace(b"\xa3qty", b"\xc4\x03qty")),
        ),
        (
            "ext-type",
            "non_canonical",
            _signed(_payload("note", {"t": 1}).replace(b"\xa1t\x01", b"\xa1t\xd6\xff" + bytes(4))),
        ),
        (
            "wire-bin16-header",
            "non_canonical",
            b"\x92\xc5" + len(good).to_bytes(2, "big") + good_wire[3:],
        ),
        ("16-kib-plus-one", "too_large", _oversized()),
        ("33-lines", "too_large", _signed(_payload(body={**_NEED, "lines": (_LINE,) * 33}))),
        (
            "nested-too-deep",
            "too_large",
            _signed(_payload("note", {"d": deep}).replace(encode(deep), b"\x91" + encode(deep))),
        ),
        ("version-2", "unknown_version", _signed(_payload(version=2))),
        ("version-0", "unknown_version", _signed(_payload(version=0))),
        (
            "future-timestamp",
            "future_timestamp",
            _signed(_payload(hlc=(NOW_MS + 600_001) << 16)),
        ),
        ("sig-bit-flipped", "bad_signature", encode([good, _flip(good_sig, 10)])),
        (
            "payload-bit-flipped",
            "bad_signature",
            encode([_flip(good, good.index(b"Masks")), good_sig]),
        ),
        (
            "other-author",
            "bad_signature",
            encode([_payload(author=SISTERS.public_key), good_sig]),
        ),
        (
            "no-domain",
            "bad_signature",
            encode([good, nacl.signing.SigningKey(HOSPITAL.seed).sign(good).signature]),
        ),
        ("sig-63-bytes", "bad_signature", encode([good, good_sig[:63]])),
        ("kind-uppercase", "bad_field", _signed(_payload("Need"))),
        ("author-31-bytes", "bad_field", _signed(_payload(author=bytes(31)))),
        ("hlc-negative", "bad_field", _signed(_payload(hlc=-1))),
        (
            "ref-31-bytes",
            "bad_field",
            _signed(_payload("pledge", {"line": 0, "qty": 1}, ref=bytes(31))),
        ),
        ("body-not-map", "bad_field", _signed(_payload(body=()))),
        (
            "bool-qty",
            "bad_field",
            _signed(_payload(body={**_NEED, "lines": ({**_LINE, "qty": True},)})),
        ),
        ("non-nfc-title", "bad_field", _signed(_payload(body={**_NEED, "title": "Cafe\u0301"}))),
        ("nil-optional", "bad_field", _signed(_payload(body={**_NEED, "place": None}))),
        (
            "false-flag",
            "bad_field",
            _signed(_payload(body={**_NEED, "lines": ({**_LINE, "unlimited": False},)})),
        ),
        ("bin-for-str", "bad_field", _signed(_payload(body={**_NEED, "title": b"Masks"}))),
        ("opaque-nil", "bad_field", _signed(_payload("note", {"x": None}))),
        (
            "missing-field",
            "missing_field",
            _signed(_payload(body={k: v for k, v in _NEED.items() if k != "region"})),
        ),
        ("unknown-field", "unknown_field", _signed(_payload(body={**_NEED, "status": "open"}))),
        ("need-with-ref", "bad_reference", _signed(_payload(ref=_REF))),
        ("pledge-without-ref", "bad_reference", _signed(_payload("pledge", {"line": 0, "qty": 1}))),
        (
            "revoke-ref-and-key",
            "bad_reference",
            _signed(_payload("revoke", {"reason": "retired", "key": bytes(32)}, ref=_REF)),
        ),
        ("revoke-neither", "bad_reference", _signed(_payload("revoke", {"reason": "retired"}))),
    ]
    return cases


def invalid_json() -> list[dict[str, Any]]:
    return [
        {"name": name, "code": code, "now_ms": NOW_MS, "wire": wire.hex()}
        for name, code, wire in invalid_cases()
    ]


# --- canonical codec ------------------------------------------------------------------------


def canonical_json() -> dict[str, Any]:
    values: list[Any] = [
        0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
        -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
        True, False, None, "", "a" * 31, "a" * 32, "é", "水", b"", b"\x00\xff",
        (), (1, (2, ())), {}, {"b": 1, "a": 2, "": 3}, {"é": 1, "z": 2},
    ]  # fmt: skip
    refused = [
        ("int-as-uint16", "non_canonical", "cd0001"),
        ("positive-as-int8", "non_canonical", "d005"),
        ("negative-fixint-as-int8", "non_canonical", "d0ff"),
        ("str8-for-short", "non_canonical", "d90161"),
        ("bin16-for-short", "non_canonical", "c5000161"),
        ("array16-for-short", "non_canonical", "dc000101"),
        ("map16-for-short", "non_canonical", "de0001a16101"),
        ("unsorted-keys", "non_canonical", "82a16201a16102"),
        ("duplicate-keys", "non_canonical", "82a16101a16101"),
        ("float32", "non_canonical", "ca3f800000"),
        ("float64", "non_canonical", "cb3ff0000000000000"),
        ("fixext1", "non_canonical", "d40100"),
        ("timestamp", "non_canonical", "d6ff00000000"),
        ("bin-key", "non_canonical", "81c4016101"),
        ("nine-deep", "too_large", "91" * 9 + "00"),
        ("empty", "malformed", ""),
        ("reserved-byte", "malformed", "c1"),
        ("two-values", "malformed", "0000"),
        ("short-string", "malformed", "a36162"),
        ("bad-utf8", "malformed", "a2c328"),
        ("int-key", "malformed", "810102"),
    ]
    return {
        "valid": [{"value": to_json(value), "hex": encode(value).hex()} for value in values],
        "refused": [{"name": n, "code": c, "hex": h} for n, c, h in refused],
    }


# --- files ----------------------------------------------------------------------------------


def _dump(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=True) + "\n"


def render() -> dict[str, str]:
    """File name → exact file text, for every vector file."""
    return {
        "events.json": _dump({"now_ms": NOW_MS, "events": events_json()}),
        "invalid.json": _dump(invalid_json()),
        "canonical.json": _dump(canonical_json()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("stale vector files: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
