"""Hard limits of protocol version 1 (docs/protocol.md §3). Checked before any expensive work."""

from __future__ import annotations

from crypto.sealed import MAX_RECIPIENTS, MAX_SEALED_BYTES

__all__ = [
    "MAX_AMOUNT",
    "MAX_CLOCK_AHEAD_MS",
    "MAX_EVENT_BYTES",
    "MAX_LINES",
    "MAX_MILLIS",
    "MAX_NEST",
    "MAX_RECIPIENTS",
    "MAX_SEALED_BYTES",
    "VERSION",
]

VERSION = 1
MAX_EVENT_BYTES = 16 * 1024  # whole wire form [payload, sig]
MAX_LINES = 32  # lines per need or offer
MAX_AMOUNT = 1_000_000_000  # quantities are integers 1 … MAX_AMOUNT
MAX_MILLIS = 2**53 - 1  # timestamps are Unix milliseconds, exact in every language's number
MAX_CLOCK_AHEAD_MS = 10 * 60 * 1000  # an hlc may be at most this far ahead of the receiver
MAX_NEST = 8  # nesting depth of maps and arrays in any payload
