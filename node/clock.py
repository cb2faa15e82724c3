"""The wall clock, for the I/O layer only (the pure layers are handed a Clock)."""

from __future__ import annotations

import time

__all__ = ["SystemClock"]


class SystemClock:
    """Unix time in milliseconds from the operating system."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
