"""Decoding and verifying batches of wire events on several cores.

Ed25519 verification is most of the work, and libsodium runs it with the GIL released (cffi
releases the GIL around C calls), so threads verify in parallel while Python-level decoding
takes turns. Chunks are as many as workers, so each thread gets one call per batch.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from protocol import Event, ProtocolError, decode_events

__all__ = ["BatchVerifier", "Decoded"]

Decoded = Event | ProtocolError


def _decode_chunk(wires: Sequence[bytes], now_ms: int) -> list[Decoded]:
    return decode_events(wires, now_ms=now_ms)


class BatchVerifier:
    """Runs :func:`protocol.decode_event` over batches on a small thread pool."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="aidnode-verify")

    async def decode(self, wires: Sequence[bytes], now_ms: int) -> list[Decoded]:
        """Each wire's :class:`Event`, or the :class:`ProtocolError` that rejected it, in order."""
        if len(wires) < 64 or self.workers == 1:
            return _decode_chunk(wires, now_ms)  # not worth a thread hop
        loop = asyncio.get_running_loop()
        size = -(-len(wires) // self.workers)
        parts = [wires[i : i + size] for i in range(0, len(wires), size)]
        results = await asyncio.gather(
            *(loop.run_in_executor(self._pool, _decode_chunk, part, now_ms) for part in parts)
        )
        return [item for part in results for item in part]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
