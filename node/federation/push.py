"""Live push: every committed event goes at once to every connected peer stream.

The store calls :meth:`Broadcaster.on_commit` after each commit; each open stream (a peer's
websocket to us, or ours to a peer) has a bounded queue that a writer task drains. A slow peer
only fills its own queue: when it is full, frames for that peer are dropped (and counted) and
anti-entropy repairs the gap, so one peer can never stall the node or the others.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from protocol import Event
from protocol.federation import MAX_BATCH_EVENTS, StreamFrame

__all__ = ["Broadcaster", "Frame", "Subscription"]

QUEUE_FRAMES = 256


@dataclass(frozen=True, slots=True)
class Frame:
    """One encoded :class:`StreamFrame` and how many events it carries (for peer state)."""

    data: bytes
    events: int


@dataclass(eq=False)
class Subscription:
    """One open stream: frames for it wait in ``queue``."""

    peer: bytes | None  # the peer's node key, once known
    queue: asyncio.Queue[Frame] = field(default_factory=lambda: asyncio.Queue(QUEUE_FRAMES))
    dropped: int = 0


class Broadcaster:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._subscriptions: set[Subscription] = set()
        self.frames_sent = 0

    def subscribe(self, peer: bytes | None) -> Subscription:
        subscription = Subscription(peer)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def connected(self) -> int:
        return len(self._subscriptions)

    def on_commit(self, events: list[Event], origin: bytes | None) -> None:
        """Queue ``events`` for every stream except the peer they came from."""
        if not self.enabled or not events:
            return
        frames = [
            Frame(StreamFrame(tuple(e.wire for e in chunk)).encode(), len(chunk))
            for chunk in (
                events[i : i + MAX_BATCH_EVENTS] for i in range(0, len(events), MAX_BATCH_EVENTS)
            )
        ]
        for subscription in list(self._subscriptions):
            if origin is not None and subscription.peer == origin:
                continue
            for frame in frames:
                try:
                    subscription.queue.put_nowait(frame)
                    self.frames_sent += 1
                except asyncio.QueueFull:
                    subscription.dropped += 1
