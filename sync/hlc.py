"""Hybrid logical clock (Kulkarni, Demirbas et al., "Logical Physical Clocks", 2014).

An HLC value is one unsigned 64-bit integer: ``physical_ms << 16 | logical``. It never runs
backwards, stays within a bounded distance of physical time, and orders an event after every
event its author had seen, even when wall clocks disagree. ``observe`` merges a timestamp seen
in a received event; one more than 10 minutes ahead of our physical clock is refused
(docs/protocol.md §3), so a peer with a broken or hostile clock cannot drag ours into the future.
"""

from __future__ import annotations

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from protocol.limits import MAX_CLOCK_AHEAD_MS
from sync.clock import Clock

__all__ = ["LOGICAL_BITS", "HybridClock", "pack", "unpack"]

LOGICAL_BITS = 16
_LOGICAL_MAX = (1 << LOGICAL_BITS) - 1


def pack(physical_ms: int, logical: int) -> int:
    """The HLC integer for ``(physical_ms, logical)``."""
    return (physical_ms << LOGICAL_BITS) | logical


def unpack(hlc: int) -> tuple[int, int]:
    """``(physical_ms, logical)`` of an HLC integer."""
    return hlc >> LOGICAL_BITS, hlc & _LOGICAL_MAX


class HybridClock:
    """A node's HLC. Not thread-safe: one owner (the node's event loop) calls it."""

    def __init__(self, clock: Clock, last: int = 0) -> None:
        """``last`` is the highest HLC this node already issued or saw (restored at start-up),
        so a restart with a slow wall clock still never issues a smaller value."""
        self._clock = clock
        self._physical, self._logical = unpack(last)

    @property
    def last(self) -> int:
        """The highest value issued or observed so far."""
        return pack(self._physical, self._logical)

    def now(self) -> int:
        """A fresh timestamp for an event this node creates: strictly greater than ``last``."""
        wall = self._clock.now_ms()
        if wall > self._physical:
            self._physical, self._logical = wall, 0
        else:
            self._advance_logical()
        return self.last

    def observe(self, remote: int) -> int:
        """Merge a timestamp from a received event; returns the new ``last``.

        Raises :class:`ProtocolError` (``future_timestamp``) if ``remote`` is more than
        10 minutes ahead of the physical clock; the clock is then left unchanged.
        """
        wall = self._clock.now_ms()
        remote_physical, remote_logical = unpack(remote)
        if remote_physical > wall + MAX_CLOCK_AHEAD_MS:
            raise ProtocolError(ReasonCode.FUTURE_TIMESTAMP, "hlc more than 10 minutes ahead")
        physical = max(self._physical, remote_physical, wall)
        if physical == self._physical == remote_physical:
            logical = max(self._logical, remote_logical)
        elif physical == self._physical:
            logical = self._logical
        elif physical == remote_physical:
            logical = remote_logical
        else:
            self._physical, self._logical = physical, 0
            return self.last
        self._physical, self._logical = physical, logical
        self._advance_logical()
        return self.last

    def _advance_logical(self) -> None:
        if self._logical == _LOGICAL_MAX:
            # 65,536 events within one millisecond: borrow the next millisecond rather than
            # overflow into the physical bits (the drift is bounded by the event rate).
            self._physical += 1
            self._logical = 0
        else:
            self._logical += 1
