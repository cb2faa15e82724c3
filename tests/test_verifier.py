"""Batch verification on worker processes: same verdicts as decode_event, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.storage.verifier import INLINE_BELOW, BatchVerifier
from protocol import Event, ProtocolError, ReasonCode, decode_event
from tests.builders import START_MS, World


def _mixed_batch(size: int) -> list[bytes]:
    world = World()
    ward = world.org("ward")
    wires = []
    for i in range(size):
        wire = bytearray(world.need(ward).wire)
        if i % 7 == 3:
            wire[-1] ^= 1  # a bad signature
        wires.append(bytes(wire))
    wires.append(b"garbage")
    return wires


@pytest.mark.parametrize("size", [INLINE_BELOW // 2, INLINE_BELOW * 3])
async def test_batches_decode_exactly_like_decode_event(size: int) -> None:
    wires = _mixed_batch(size)
    verifier = BatchVerifier(workers=2)
    try:
        results = await verifier.decode(wires, START_MS)
    finally:
        verifier.close()
    assert len(results) == len(wires)
    for wire, result in zip(wires, results, strict=True):
        try:
            expected: Event | ReasonCode = decode_event(wire, now_ms=START_MS)
        except ProtocolError as exc:
            expected = exc.code
        if isinstance(expected, Event):
            assert isinstance(result, Event) and result.id == expected.id
        else:
            assert isinstance(result, ProtocolError) and result.code is expected


@pytest.mark.slow
def test_workers_exit_when_their_node_is_killed() -> None:
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("verifier_child.py"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        workers = [int(pid) for pid in child.stdout.readline().split()]
        assert len(workers) == 2
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        deadline = time.monotonic() + 10
        alive = set(workers)
        while alive and time.monotonic() < deadline:
            for pid in list(alive):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    alive.discard(pid)
            time.sleep(0.1)
        for pid in alive:  # clean up before failing
            os.kill(pid, signal.SIGKILL)
        assert not alive, f"verifier workers outlived their node: {sorted(alive)}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
