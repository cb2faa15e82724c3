"""Child process for tests/test_store_crash.py: ingests batches and reports each acknowledged one.

Usage: python tests/store_crash_child.py DB BATCHES_FILE FIRST_BATCH
Prints "ack N" (flushed) after batch N's ingest returned, i.e. after its commit.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.storage import Store  # after the path fix-up above
from sync.clock import ManualClock


async def main(db: str, batches_file: str, first: int) -> None:
    batches = msgpack.unpackb(Path(batches_file).read_bytes())
    store = await Store.open(db, clock=ManualClock(1_700_000_000_000))
    for number in range(first, len(batches)):
        await store.ingest(batches[number])
        print(f"ack {number}", flush=True)
    await store.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
