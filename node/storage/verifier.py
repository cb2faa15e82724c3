"""Decoding and verifying batches of wire events on every core.

Ed25519 verification is most of the work. It runs in **worker processes**, not threads: a
verification thread needs the GIL back after every libsodium call, and while the event loop
is busy folding and writing a batch it holds the GIL for up to the interpreter's switch
interval, so verification threads stall in a convoy (measured: wall time ≈ CPU time, one core
used). Processes verify truly in parallel with the commit of the previous batch.

The event loop parses every wire itself (all the cheap checks of :func:`decode_unverified`,
which it needs for the :class:`Event` values anyway), then sends only
``(author, payload, signature)`` triples to the workers and gets one bit back per event.
Small batches are verified inline: a pool round trip costs more than a few verifications.
The pool starts on first need, so short-lived commands never pay for it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from crypto.errors import SignatureError
from crypto.signing import verify
from protocol import EVENT_DOMAIN, Event, ProtocolError, ReasonCode, decode_unverified

__all__ = ["BatchVerifier", "Decoded"]

Decoded = Event | ProtocolError
INLINE_BELOW = 128  # events; below this a batch is verified in the event loop's thread


def _verify_chunk(items: Sequence[tuple[bytes, bytes, bytes]]) -> bytes:
    """In a worker: one byte per (author, payload, sig), 1 if the signature verifies."""
    out = bytearray(len(items))
    for index, (author, payload, sig) in enumerate(items):
        try:
            verify(author, EVENT_DOMAIN, payload, sig)
            out[index] = 1
        except SignatureError:
            pass  # out[index] stays 0: rejected with bad_signature by the caller
    return bytes(out)


def _exit_with_parent(parent: int) -> None:
    """In a worker: leave as soon as the node that started us is gone (even SIGKILLed, when
    nothing tells the pool), so no verifier process outlives its node."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _bad_signature() -> ProtocolError:
    return ProtocolError(ReasonCode.BAD_SIGNATURE, "signature does not verify")


class BatchVerifier:
    """:func:`protocol.decode_events`, with the signatures checked on worker processes."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: forking a process that runs an event loop and sqlite threads is unsafe.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def decode(self, wires: Sequence[bytes], now_ms: int) -> list[Decoded]:
        """Each wire's :class:`Event`, or the :class:`ProtocolError` that rejected it."""
        results: list[Decoded] = []
        for wire in wires:
            try:
                results.append(decode_unverified(wire, now_ms=now_ms))
            except ProtocolError as exc:
                results.append(exc)
        pending = [i for i, item in enumerate(results) if isinstance(item, Event)]
        triples = []
        for i in pending:
            event = results[i]
            assert isinstance(event, Event)
            triples.append((event.author, event.payload, event.sig))
        if len(triples) < INLINE_BELOW or self.workers == 1:
            verdicts = _verify_chunk(triples)
        else:
            loop = asyncio.get_running_loop()
            executor = self._executor()
            size = -(-len(triples) // self.workers)
            parts = [triples[i : i + size] for i in range(0, len(triples), size)]
            done = await asyncio.gather(
                *(loop.run_in_executor(executor, _verify_chunk, part) for part in parts)
            )
            verdicts = b"".join(done)
        for i, ok in zip(pending, verdicts, strict=True):
            if not ok:
                results[i] = _bad_signature()
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
