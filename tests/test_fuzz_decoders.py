"""Fuzzing canonical.decode and decode_event: no input raises anything but ProtocolError,
and whatever is accepted satisfies the oracles of bench/fuzz.py (re-encodes to itself,
rebuilds identically from storage, maps back to its own body bytes).

Hypothesis drives raw bytes and mutated valid events; a fixed-seed run of bench/fuzz.py's
mutation loop covers what its structural mutators reach. The whole module stays well under
10 s; ``python bench/fuzz.py --seconds N`` runs the same targets for longer.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.fuzz import MUTATORS, Corpus, build_corpus, check_decode, check_decode_event, fuzz
from protocol.canonical import encode
from protocol.codes import ReasonCode
from protocol.envelope import Event
from tests.strategies import NOW_MS, events, plain_values, unknown_events

CORPUS: Corpus = build_corpus(seed=0)
OUTCOMES = {"accepted"} | {code.value for code in ReasonCode}


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_raw_bytes(data: bytes) -> None:
    assert check_decode(data) in OUTCOMES
    assert check_decode_event(data, NOW_MS) in OUTCOMES


@settings(max_examples=200)
@given(st.lists(st.sampled_from([0x90, 0x91, 0x92, 0x96, 0x80, 0x81, 0xC4, 0xA4, 0x01, 0xC0])))
def test_header_soup(headers: list[int]) -> None:
    data = bytes(headers)
    assert check_decode(data) in OUTCOMES
    assert check_decode_event(data, NOW_MS) in OUTCOMES


@settings(max_examples=200)
@given(plain_values(max_depth=4), st.integers(0, 64), st.binary(max_size=4))
def test_valid_values_with_a_byte_changed(value: object, position: int, patch: bytes) -> None:
    data = bytearray(encode(value))
    at = position % (len(data) + 1)
    data[at : at + len(patch)] = patch
    assert check_decode(bytes(data)) in OUTCOMES


@settings(max_examples=300)
@given(
    st.sampled_from(CORPUS.wires),
    st.lists(st.sampled_from(sorted(MUTATORS)), min_size=1, max_size=3),
    st.randoms(use_true_random=False),
)
def test_mutated_workload_events(wire: bytes, mutators: list[str], rng: random.Random) -> None:
    for name in mutators:
        wire = MUTATORS[name](wire, rng, CORPUS)
    assert check_decode_event(wire, CORPUS.now_ms) in OUTCOMES
    assert check_decode(wire) in OUTCOMES


@settings(max_examples=100)
@given(events() | unknown_events(), st.integers(0, 2**20), st.sampled_from(["flip", "cut"]))
def test_generated_events_damaged(event: Event, where: int, how: str) -> None:
    wire = bytearray(event.wire)
    at = where % len(wire)
    if how == "flip":
        wire[at] ^= 1 << (where % 8)
    else:
        del wire[at:]
    outcome = check_decode_event(bytes(wire), NOW_MS)
    assert outcome in OUTCOMES
    assert outcome != "accepted" or how == "flip"  # a truncated event never decodes


def test_generated_events_are_accepted_by_the_oracle() -> None:
    for wire in CORPUS.wires:
        assert check_decode_event(wire, CORPUS.now_ms) == "accepted"


def test_fixed_seed_mutation_run_finds_no_crash_and_every_code() -> None:
    summary = fuzz(iterations=4000, seed=1)
    assert summary["crashes"] == 0, summary["crash_examples"]
    assert summary["accepted"] > 0
    assert set(summary["reason_codes_seen"]) == {code.value for code in ReasonCode}


def test_oracle_catches_a_decoder_that_accepts_too_much(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.fuzz

    monkeypatch.setattr(bench.fuzz, "decode", lambda data: 0)  # "accepts" anything
    with pytest.raises(AssertionError):
        bench.fuzz.check_decode(b"\xcd\x00\x01")  # 1 written as uint16
