"""Crash safety with real processes: a child ingests batches and is SIGKILLed at random moments.

After every kill: ``PRAGMA integrity_check`` is ok, every batch the child acknowledged is
present, and the materialised state equals a fold from scratch of the stored events.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest

from node.storage import Store
from protocol import Event
from sync.clock import ManualClock
from tests.builders import START_MS, World

CHILD = Path(__file__).with_name("store_crash_child.py")
KILLS = 20
BATCHES = 90
BATCH_SIZE = 100


def _batches() -> list[list[Event]]:
    world = World()
    orgs = [world.org(name) for name in ("ward", "convoy", "masks", "verifier")]
    events: list[Event] = []
    for i in range(BATCHES * BATCH_SIZE // 6):
        need = world.need(orgs[i % 4], note=f"request {i}")
        pledge = world.pledge(orgs[(i + 1) % 4], need, qty=5)
        events += [need, pledge, world.deliver(orgs[(i + 1) % 4], pledge, 5)]
        events += [world.receipt(orgs[i % 4], pledge, 5), world.verify(orgs[(i + 3) % 4], need)]
        events.append(world.update(orgs[i % 4], need, title=f"updated {i}"))
    random.Random(3).shuffle(events)  # so batches hold events whose refs come later
    return [events[n : n + BATCH_SIZE] for n in range(0, len(events), BATCH_SIZE)]


async def _inspect(db: Path) -> tuple[set[bytes], list[str]]:
    store = await Store.open(db, clock=ManualClock(START_MS))
    try:
        ids = {e.id for e in await store.all_events()}
        return ids, await store.check()
    finally:
        await store.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_event(tmp_path: Path) -> None:
    batches = _batches()
    batches_file = tmp_path / "batches.msgpack"
    batches_file.write_bytes(msgpack.packb([[e.wire for e in batch] for batch in batches]))
    db = tmp_path / "node.sqlite"
    rng = random.Random(11)
    acknowledged: set[int] = set()
    next_batch, kills = 0, 0
    while kills < KILLS:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(db), str(batches_file), str(next_batch)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        acks: set[int] = set()
        try:
            # Let it acknowledge a few batches, then kill it at a random point of the next
            # one: while verifying, folding, writing or committing.
            wanted = rng.randint(1, 4)
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("ack"):
                    acks.add(int(line.split()[1]))
                if len(acks) >= wanted:
                    break
            time.sleep(rng.uniform(0.0, 0.03))
            child.send_signal(signal.SIGKILL)
            kills += 1
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert "Traceback" not in err, err
        acks |= {int(line.split()[1]) for line in out.splitlines() if line.startswith("ack")}
        acknowledged |= acks
        ids, problems = asyncio.run(_inspect(db))
        assert problems == [], f"after kill {kills}: {problems}"
        for number in acknowledged:
            missing = [e for e in batches[number] if e.id not in ids]
            assert not missing, f"batch {number} was acknowledged but {len(missing)} events lost"
        next_batch = max(acknowledged, default=-1) + 1
        if next_batch >= len(batches):  # finished before we could kill it: start over
            db.unlink()
            for suffix in ("-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            acknowledged.clear()
            next_batch = 0
    assert kills >= KILLS
