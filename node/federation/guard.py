"""What stands between the network and the node: replay protection and rate limits.

Both are bounded in memory whatever a peer sends: the nonce cache forgets entries once they
leave the replay window (a request older than the window is refused as stale anyway), and
the rate limiter keeps one small bucket per node key, evicting idle ones.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["NonceCache", "RateLimiter"]


class NonceCache:
    """Remembers (node, nonce) pairs for ``window_ms``; :meth:`seen` reports replays."""

    def __init__(self, window_ms: int, capacity: int = 200_000) -> None:
        self.window_ms = window_ms
        self.capacity = capacity
        self._seen: OrderedDict[tuple[bytes, bytes], int] = OrderedDict()

    def seen(self, node: bytes, nonce: bytes, time_ms: int, now_ms: int) -> bool:
        """True if this pair was seen within the window (a replay); else remember it."""
        self._expire(now_ms)
        key = (node, nonce)
        if key in self._seen:
            return True
        # Entries are kept for the request's own time + 2 windows, so a request cannot slip
        # past both the staleness check and the cache.
        self._seen[key] = max(time_ms, now_ms) + 2 * self.window_ms
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return False

    def _expire(self, now_ms: int) -> None:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now_ms:
                break
            del self._seen[key]

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_ms: int


class RateLimiter:
    """A token bucket per key: ``rate`` requests per second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[bytes, _Bucket] = OrderedDict()

    def check(self, key: bytes, now_ms: int, cost: float = 1.0) -> float:
        """0.0 if allowed (and charged), else the seconds to wait before retrying."""
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now_ms)
        elapsed = max(0, now_ms - bucket.updated_ms) / 1000
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
        bucket.updated_ms = now_ms
        self._buckets[key] = bucket  # most recently used last
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate
