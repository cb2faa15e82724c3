"""Mutation fuzzing of the two decoders every byte from outside goes through.

    python bench/fuzz.py --seconds 60 [--seed 1]

Targets: :func:`protocol.canonical.decode` and :func:`protocol.decode_event`. Inputs are
valid wire events (a realistic workload plus every kind it lacks and an opaque future kind)
mutated by byte-level operators (bit flips, msgpack header bytes, truncation, insertion,
deletion, duplication, splicing two inputs) and by structural ones that decode the payload,
change a value (type, size, a key) and re-sign it with the author's key, so the mutant gets
past the signature and reaches the accepted path.

The oracles (:func:`check_decode`, :func:`check_decode_event`) say what must hold: nothing
but :class:`ProtocolError` escapes; every accepted byte string re-encodes to itself; every
accepted event re-encodes to its wire bytes, rebuilds identically from storage, and has a
body that maps back to the bytes it was decoded from. A violation is a crash.

Prints one JSON object: inputs tried per target, the reason codes seen, acceptances and
crashes (with up to five examples, hex); exits 1 if anything crashed.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgpack

from bench.workload import build_workload
from crypto.signing import SigningIdentity, key_digest
from protocol.canonical import decode, encode
from protocol.envelope import EVENT_DOMAIN, Event, decode_event, decode_stored, sign_event
from protocol.errors import ProtocolError

__all__ = [
    "MUTATORS",
    "Corpus",
    "build_corpus",
    "check_decode",
    "check_decode_event",
    "fuzz",
    "mutate",
]

# Bytes that are msgpack headers or boundaries of them: the likeliest to change meaning.
_INTERESTING = (
    *(0x00, 0x01, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xC3),
    *range(0xC4, 0xE0),  # bin, ext, float, uint, int, fixext, str8…map32
    *(0xE0, 0xFF),
)


class Corpus:
    """Valid wire events, and who signed each (so structural mutants can be re-signed)."""

    def __init__(
        self, events: list[Event], identities: dict[bytes, SigningIdentity], now_ms: int
    ) -> None:
        self.wires = [event.wire for event in events]
        self.events = events
        self.identities = identities
        self.now_ms = now_ms


def build_corpus(seed: int = 0) -> Corpus:
    """A small workload plus one event of each kind it lacks and an opaque future kind."""
    work = build_workload(records=30, orgs=5, seed=seed)
    events = list(work.events)
    identities = {org.public_key: org for org in work.orgs}
    alice, bob = work.orgs[0], work.orgs[1]
    record = next(event for event in events if event.kind == "need")
    pledge = next(event for event in events if event.kind == "pledge")
    endorse = next(event for event in events if event.kind == "endorse")
    hlc = work.events[-1].hlc + 1
    extra: list[tuple[SigningIdentity, str, dict[str, Any], bytes | None]] = [
        (alice, "withdraw", {"reason": "covered"}, record.id),
        (bob, "cancel", {"reason": "van broke down"}, pledge.id),
        (bob, "revoke", {"reason": "superseded"}, endorse.id),
        (bob, "revoke", {"reason": "compromised", "key": alice.public_key}, None),
        (
            bob,
            "delegate",
            {"key": alice.public_key, "scopes": ("pledge",), "expires": 2**40, "proof": bytes(64)},
            None,
        ),
        (
            bob,
            "rotate",
            {"org": bob.public_key, "prior": bob.public_key, "next": key_digest(alice.public_key)},
            pledge.id,
        ),
        (alice, "future_kind", {"x": (1, "two", b"3", {"four": True})}, record.id),
    ]
    for offset, (who, kind, body, ref) in enumerate(extra):
        events.append(sign_event(who, kind, hlc + offset, body, ref))
    return Corpus(events, identities, work.now_ms)


# --- oracles --------------------------------------------------------------------------------


def check_decode(data: bytes) -> str:
    """``"accepted"`` or the reason code. Raises AssertionError if decode accepted bytes
    that are not the canonical encoding of what it returned; anything else it raises but
    ProtocolError propagates (a crash)."""
    try:
        value = decode(data)
    except ProtocolError as error:
        return error.code.value
    if encode(value) != data:
        raise AssertionError("decode accepted bytes that encode does not produce")
    return "accepted"


def check_decode_event(wire: bytes, now_ms: int) -> str:
    """``"accepted"`` or the reason code; raises on any violated property (see module doc)."""
    try:
        event = decode_event(wire, now_ms=now_ms)
    except ProtocolError as error:
        return error.code.value
    if event.wire != wire:
        raise AssertionError("accepted event does not re-encode to its wire bytes")
    stored = decode_stored(event.payload, event.sig)
    if (stored.id, stored.body, stored.hlc, stored.ref) != (
        event.id,
        event.body,
        event.hlc,
        event.ref,
    ):
        raise AssertionError("stored form rebuilds differently")
    if encode(event.body.to_map()) != encode(decode(event.payload)[5]):
        raise AssertionError("typed body does not map back to the decoded body")
    return "accepted"


# --- mutators -------------------------------------------------------------------------------


def _flip_bit(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    if not data:
        return data
    index = rng.randrange(len(data))
    return data[:index] + bytes([data[index] ^ (1 << rng.randrange(8))]) + data[index + 1 :]


def _set_byte(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    if not data:
        return bytes([rng.choice(_INTERESTING)])
    index = rng.randrange(len(data))
    return data[:index] + bytes([rng.choice(_INTERESTING)]) + data[index + 1 :]


def _truncate(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _insert(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    index = rng.randrange(len(data) + 1)
    return data[:index] + rng.randbytes(rng.randint(1, 8)) + data[index:]


def _delete(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 16) :]


def _duplicate(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 32))
    return data[:end] + data[start:end] + data[end:]


def _splice(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    other = rng.choice(corpus.wires)
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


def _twiddle(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """``value`` with one thing changed somewhere inside (a type, a size, a key)."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        changed = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del changed[key]
        elif roll < 0.25:
            changed[key + "_"] = changed[key]
        else:
            changed[key] = _twiddle(value[key], rng, depth + 1)
        return changed
    if isinstance(value, tuple) and value and rng.random() < 0.7:
        index = rng.randrange(len(value))
        items = list(value)
        roll = rng.random()
        if roll < 0.15:
            del items[index]
        elif roll < 0.3:
            items.insert(index, items[index])
        else:
            items[index] = _twiddle(value[index], rng, depth + 1)
        return tuple(items)
    return rng.choice(
        [
            None,
            True,
            False,
            0,
            -1,
            2**53,
            2**64 - 1,
            1.5,
            "",
            "x" * rng.choice((1, 33, 201, 2001)),
            "e\u0301",
            "a\x00b",
            b"",
            bytes(32),
            bytes(rng.choice((31, 33, 64, 80))),
            (),
            {},
            (value,),
            {"k": value},
            _nested(value, 9),  # past MAX_NEST
            (value,) * 33,  # past MAX_LINES, if value is a line
            "x" * 17_000,  # past 16 KiB
            value,
        ]
    )


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = (value,)
    return value


def _resign(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    """Decode a corpus event's payload, change one value, re-sign it (msgpack.packb, so
    floats and other non-canonical values can be written)."""
    event = corpus.events[rng.randrange(len(corpus.events))]
    fields = list(decode(event.payload))
    index = rng.choice((1, 2, 3, 4, 5, 5, 5, 5, 5))
    fields[index] = _twiddle(fields[index], rng)
    try:
        payload = msgpack.packb(fields, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return data
    signer = corpus.identities.get(event.author)
    if signer is None:
        return data
    return encode([payload, signer.sign(EVENT_DOMAIN, payload)])


Mutator = Callable[[bytes, random.Random, Corpus], bytes]
MUTATORS: dict[str, Mutator] = {
    "flip_bit": _flip_bit,
    "set_byte": _set_byte,
    "truncate": _truncate,
    "insert": _insert,
    "delete": _delete,
    "duplicate": _duplicate,
    "splice": _splice,
    "resign": _resign,
}
_NAMES = list(MUTATORS)
_WEIGHTS = [3, 3, 1, 1, 1, 1, 1, 4]


def mutate(data: bytes, rng: random.Random, corpus: Corpus) -> bytes:
    """``data`` after one to three mutators chosen by ``rng``."""
    for name in rng.choices(_NAMES, _WEIGHTS, k=rng.choice((1, 1, 2, 3))):
        data = MUTATORS[name](data, rng, corpus)
    return data


# --- the loop -------------------------------------------------------------------------------


def fuzz(
    *, seconds: float | None = None, iterations: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Run until ``seconds`` pass or ``iterations`` inputs are tried (per target pair)."""
    if (seconds is None) == (iterations is None):
        raise ValueError("give exactly one of seconds, iterations")
    rng = random.Random(seed)
    corpus = build_corpus(seed)
    outcomes: dict[str, collections.Counter[str]] = {
        "decode": collections.Counter(),
        "decode_event": collections.Counter(),
    }
    crashes: list[dict[str, str]] = []
    crash_count = 0
    deadline = time.monotonic() + seconds if seconds is not None else None
    tried = 0
    while True:
        if deadline is not None and tried % 64 == 0 and time.monotonic() >= deadline:
            break
        if iterations is not None and tried >= iterations:
            break
        tried += 1
        data = mutate(rng.choice(corpus.wires), rng, corpus)
        inner = decode(data)[0] if rng.random() < 0.5 and _is_wire(data) else data
        for target, run, argument in (
            ("decode", check_decode, inner),
            ("decode_event", _check_wire(corpus.now_ms), data),
        ):
            try:
                outcomes[target][run(argument)] += 1
            except Exception as exc:  # noqa: BLE001 — a crash is any other exception; record it
                crash_count += 1
                if len(crashes) < 5:
                    crashes.append(
                        {"target": target, "error": repr(exc)[:200], "input": data.hex()}
                    )
    codes = sorted({code for counter in outcomes.values() for code in counter} - {"accepted"})
    return {
        "benchmark": "fuzz",
        "seed": seed,
        "seconds": seconds,
        "inputs": tried * 2,
        "per_target": {name: dict(sorted(counter.items())) for name, counter in outcomes.items()},
        "reason_codes_seen": codes,
        "distinct_reason_codes": len(codes),
        "accepted": sum(counter["accepted"] for counter in outcomes.values()),
        "crashes": crash_count,
        "crash_examples": crashes,
    }


def _check_wire(now_ms: int) -> Callable[[bytes], str]:
    return lambda wire: check_decode_event(wire, now_ms)


def _is_wire(data: bytes) -> bool:
    try:
        outer = decode(data)
    except ProtocolError:
        return False
    return type(outer) is tuple and len(outer) == 2 and type(outer[0]) is bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fuzz canonical.decode and decode_event")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    summary = fuzz(seconds=args.seconds, seed=args.seed)
    print(json.dumps(summary))
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
