"""Injected physical clocks. Logic never reads wall time itself; it is handed a :class:`Clock`.

:class:`ManualClock` is the in-memory double for tests (trio's MockClock idea): time moves only
when the test moves it.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Clock", "ManualClock"]


class Clock(Protocol):
    """A source of physical time in Unix milliseconds."""

    def now_ms(self) -> int: ...


class ManualClock:
    """A clock that stands still until told to move."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("time does not run backwards here; use set() to jump")
        self._now += ms

    def set(self, now_ms: int) -> None:
        self._now = now_ms
