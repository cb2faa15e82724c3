"""Child for tests/test_verifier.py: starts a verifier pool, prints its worker pids, waits."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.storage.verifier import BatchVerifier  # after the path fix-up
from tests.builders import START_MS, World


async def main() -> None:
    world = World()
    ward = world.org("ward")
    wires = [world.need(ward).wire for _ in range(300)]
    verifier = BatchVerifier(workers=2)
    results = await verifier.decode(wires, START_MS)
    assert len(results) == 300
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    time.sleep(60)


if __name__ == "__main__":
    asyncio.run(main())
