"""Randomised ingest into a real store: interleaved valid, duplicate, invalid and unauthorised
events in random batches. Outcomes are right, the materialised state equals the fold, and the
reconciliation index holds exactly the stored keys with range sums equal to brute force."""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from node.storage import OutcomeStatus, Store
from protocol import Event
from sync.clock import ManualClock
from sync.fingerprint_index import id_sum_of
from tests.builders import START_MS, World

_WORLD = World()
_ORGS = [_WORLD.org(name) for name in ("ward", "convoy", "masks", "verifier")]


def _pool(rng: random.Random) -> list[Event]:
    """A history with authorised and unauthorised events of most kinds."""
    world = World()
    events: list[Event] = []
    records: list[Event] = []
    pledges: list[Event] = []
    for _ in range(rng.randint(3, 25)):
        who = rng.choice(_ORGS)
        roll = rng.random()
        if roll < 0.25 or not records:
            record = world.record(rng.choice(["need", "offer"]), who)
            records.append(record)
            events.append(record)
        elif roll < 0.45:
            pledge = world.pledge(who, rng.choice(records), qty=rng.randint(1, 50))
            pledges.append(pledge)
            events.append(pledge)
        elif roll < 0.6 and pledges:
            pledge = rng.choice(pledges)
            maker = rng.choice([world.deliver, world.receipt])
            events.append(maker(who, pledge, rng.randint(1, 20)))
        elif roll < 0.7:
            events.append(world.update(who, rng.choice(records), title=f"t{rng.random()}"))
        elif roll < 0.78:
            events.append(world.verify(who, rng.choice(records)))
        elif roll < 0.85:
            events.append(world.withdraw(who, rng.choice(records)))
        elif roll < 0.93:
            events.append(world.endorse(who, rng.choice(_ORGS)))
        else:
            events.append(world.profile(who, f"profile {rng.random()}"))
    return events


def _corrupt(wire: bytes, rng: random.Random) -> bytes:
    data = bytearray(wire)
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


async def _run(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    history = _pool(rng)
    stream: list[tuple[bytes, str]] = [(e.wire, "valid") for e in history]
    stream += [(e.wire, "valid") for e in rng.sample(history, k=len(history) // 3)]  # dups
    stream += [(_corrupt(rng.choice(history).wire, rng), "invalid") for _ in range(4)]
    stream += [(b"\x92\xc4\x01x", "invalid"), (b"", "invalid")]
    rng.shuffle(stream)
    store = await Store.open(path, clock=ManualClock(START_MS), workers=2)
    try:
        await store.build_index()
        seen: set[bytes] = set()
        position = 0
        while position < len(stream):
            size = rng.randint(1, 8)
            batch = stream[position : position + size]
            position += size
            outcomes = await store.ingest([wire for wire, _ in batch])
            assert len(outcomes) == len(batch)
            for (_, kind), outcome in zip(batch, outcomes, strict=True):
                if kind == "invalid":
                    # A flipped bit can land in a byte that still decodes to *another* valid
                    # event only with a second valid signature: it must be rejected.
                    assert outcome.status is OutcomeStatus.REJECTED, outcome
                    assert outcome.code is not None
                    continue
                assert outcome.event_id is not None
                expected = (
                    OutcomeStatus.DUPLICATE if outcome.event_id in seen else OutcomeStatus.ACCEPTED
                )
                assert outcome.status is expected
                seen.add(outcome.event_id)
        assert seen == {e.id for e in history}
        assert await store.check() == []
        index = store.index
        assert index is not None
        keys = sorted(e.sort_key for e in history)
        assert [tuple(k) for k in index] == keys
        for _ in range(20):
            start = rng.randint(0, len(keys))
            stop = rng.randint(start, len(keys))
            assert index.id_sum(start, stop) == id_sum_of(k[1] for k in keys[start:stop])
            assert index.rank(keys[start] if start < len(keys) else (2**64, b"\0" * 32)) == start
    finally:
        await store.close()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_ingest_keeps_outcomes_fold_and_index_right(seed: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_run(Path(directory) / "node.sqlite", seed))
