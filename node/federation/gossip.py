"""Gossip with the peers an operator chose: anti-entropy rounds and live push streams.

Each configured peer gets its own task, so a dead or slow peer only delays itself:

* **anti-entropy round** (every ``interval`` ± jitter, or at once when triggered): hello (pin
  the peer's node key), range-based reconciliation against the store's index, fetch what we
  lack, push what the peer lacks, record the outcome in the peer's persisted state. Failures
  back off exponentially with jitter up to a cap (:func:`node.federation.peers.next_backoff_ms`).
* **stream**: a websocket to the peer carrying new events both ways as they are committed, so
  a new event travels one hop per node without waiting for a round. Anti-entropy repairs
  anything a stream missed (a drop, a restart, a full queue).

Events from peers go through the store's ingest pipeline like any others: invalid ones are
rejected with their codes and counted against the peer that sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from crypto.signing import SigningIdentity
from node.errors import PeerError, StorageError
from node.federation.client import PeerClient
from node.federation.guard import RateLimiter
from node.federation.peers import PeerState, RoundReport, peer_states, record_round
from node.federation.push import Broadcaster
from node.storage import OutcomeStatus, Store
from protocol import ProtocolError
from protocol.federation import MAX_BATCH_EVENTS, MAX_FETCH_IDS, Hello, StreamFrame
from sync.clock import Clock
from sync.reconcile import Initiator, Limits

__all__ = ["Federation", "GossipSettings"]

log = logging.getLogger("aidnode.gossip")

# A dropped push stream is retried after STREAM_BACKOFF_BASE_S × 2^failures (with jitter, at
# most STREAM_BACKOFF_CAP_S), or as soon as an anti-entropy round reaches the peer again.
STREAM_BACKOFF_BASE_S = 0.25
STREAM_BACKOFF_CAP_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GossipSettings:
    interval_s: float = 30.0  # anti-entropy period per peer
    jitter: float = 0.2  # ± this fraction of the period, so peers do not synchronise
    round_timeout_s: float = 60.0
    request_timeout_s: float = 20.0
    push: bool = True  # keep live streams open (off: anti-entropy only, for measurements)
    watch_s: float = 1.0  # how often the peer list is re-read (peers added by the CLI)
    push_batch: int = 500
    # Reconciliation replies per round (each may name ~2000 ids, ~150 KB of memory): a round
    # that needs more moves what it found and is followed at once by another (if it made
    # progress). A fresh replica of a million events takes about four such rounds.
    max_session_rounds: int = 128
    # Frames per second a peer's stream may bring us (sustained, burst): like the server's
    # per-node request limit, so a configured peer cannot flood us over our own connection.
    stream_rate: float = 50.0
    stream_burst: int = 200
    reconcile: Limits = field(default_factory=Limits)


def _chunks(items: Sequence[bytes], size: int) -> list[list[bytes]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class Federation:
    """Runs gossip for one node. :meth:`start` it inside the node's event loop."""

    def __init__(
        self,
        store: Store,
        node_key: SigningIdentity,
        hello: Hello,
        clock: Clock,
        broadcaster: Broadcaster,
        settings: GossipSettings = GossipSettings(),
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.me = node_key
        self.hello = hello
        self.clock = clock
        self.broadcaster = broadcaster
        self.settings = settings
        self.rng = rng or random.Random()  # noqa: S311  # jitter, not secrets
        self.session: aiohttp.ClientSession | None = None
        self._tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._round_done: dict[str, asyncio.Event] = {}
        self._stream_wake: dict[str, asyncio.Event] = {}  # a round reached the peer: retry now
        self.streams_open: dict[str, bool] = {}
        # What each peer's stream carried since that peer's last round (see _add_stream_traffic).
        self._stream_tally: dict[str, RoundReport] = {}
        self._frame_limits = RateLimiter(settings.stream_rate, settings.stream_burst)

    async def start(self) -> None:
        self.session = aiohttp.ClientSession()
        await self._refresh_peers()
        self._watcher = asyncio.create_task(self._watch(), name="gossip-watch")

    async def stop(self) -> None:
        tasks = [t for ts in self._tasks.values() for t in ts]
        if self._watcher is not None:
            tasks.append(self._watcher)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.session is not None:
            await self.session.close()

    # -- the peer set -------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watch_s)
            try:
                await self._refresh_peers()
            except StorageError as exc:
                log.warning("cannot read the peer list: %s", exc)

    async def _refresh_peers(self) -> None:
        urls = {state.url for state in await peer_states(self.store)}
        for url in urls - self._tasks.keys():
            self._wake[url] = asyncio.Event()
            self._round_done[url] = asyncio.Event()
            self._stream_wake[url] = asyncio.Event()
            tasks = [asyncio.create_task(self._peer_loop(url), name=f"gossip {url}")]
            if self.settings.push:
                tasks.append(asyncio.create_task(self._stream_loop(url), name=f"stream {url}"))
            self._tasks[url] = tasks
        for url in self._tasks.keys() - urls:
            for task in self._tasks.pop(url):
                task.cancel()
            self._wake.pop(url, None)
            self._stream_wake.pop(url, None)

    def trigger(self, url: str | None = None) -> None:
        """Start a round now with ``url`` (or every peer) instead of waiting for the timer."""
        for key, event in self._wake.items():
            if url is None or key == url:
                event.set()

    async def sync_now(self, timeout_s: float = 60.0) -> list[PeerState]:
        """Trigger a round with every peer and wait until each has finished one."""
        await self._refresh_peers()
        done = {url: self._round_done[url] for url in self._tasks}
        for event in done.values():
            event.clear()
        self.trigger()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*(event.wait() for event in done.values()))
        return await peer_states(self.store)

    # -- anti-entropy ---------------------------------------------------------------------------

    async def _state(self, url: str) -> PeerState | None:
        """The peer's persisted state, or None if it was removed; waits (retrying once a
        second) while the database cannot be read."""
        while True:
            try:
                states = {s.url: s for s in await peer_states(self.store)}
            except StorageError as exc:
                log.warning("cannot read the state of %s: %s", url, exc)
                await asyncio.sleep(1.0)
                continue
            return states.get(url)

    def _interval_ms(self) -> int:
        spread = 1 + self.rng.uniform(-self.settings.jitter, self.settings.jitter)
        return int(self.settings.interval_s * 1000 * spread)

    async def _peer_loop(self, url: str) -> None:
        wake = self._wake[url]
        first = True
        while True:
            state = await self._state(url)
            if state is None:
                return
            wait_ms = state.next_attempt_ms - self.clock.now_ms()
            if state.failures == 0:
                # The persisted schedule was made by the previous run, perhaps with a longer
                # interval: a node (re)starting syncs at once, then at its own interval. A
                # failing peer's backoff is kept across restarts.
                ceiling = self.settings.interval_s * (1 + self.settings.jitter) * 1000
                wait_ms = 0 if first else min(wait_ms, int(ceiling))
            first = False
            if wait_ms > 0 and not wake.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_ms / 1000):
                        await wake.wait()
            wake.clear()
            report = await self.sync_round(state)
            if report.again and report.events_in + report.events_out > 0:
                wake.set()  # a round cut short that made progress: carry on at once
            self._add_stream_traffic(url, report)
            if report.ok and not self.streams_open.get(url):
                # The peer answers again (a partition healed, it restarted): reopen the push
                # stream now instead of when its backoff, up to 30 s, runs out.
                self._stream_wake[url].set()
            try:
                await record_round(
                    self.store,
                    url,
                    report,
                    self.clock.now_ms(),
                    self.rng,
                    interval_ms=self._interval_ms(),
                )
            except StorageError as exc:
                log.warning("cannot record the round with %s: %s", url, exc)
            self._round_done[url].set()

    async def sync_round(self, state: PeerState) -> RoundReport:
        """One full round with one peer. Never raises: every failure goes in the report."""
        report = RoundReport()
        assert self.session is not None
        client = PeerClient(
            self.session,
            self.me,
            state.url,
            self.clock,
            pinned=state.node_key,
            timeout_s=self.settings.request_timeout_s,
        )
        try:
            async with asyncio.timeout(self.settings.round_timeout_s):
                await self._exchange(client, report)
            report.ok, report.outcome = True, "ok"
        except PeerError as exc:
            report.outcome, report.error = exc.code, str(exc)
        except ProtocolError as exc:
            report.outcome, report.error = "bad_reply", f"{state.url}: {exc}"
        except TimeoutError:
            report.outcome = "timeout"
            report.error = f"{state.url}: the round did not finish in time"
        except StorageError as exc:
            report.outcome, report.error = "storage", str(exc)
        report.bytes_in, report.bytes_out = client.bytes_in, client.bytes_out
        return report

    async def _exchange(self, client: PeerClient, report: RoundReport) -> None:
        theirs = await client.hello(self.hello)
        report.node_key, report.org_key, report.name = theirs.node, theirs.org, theirs.name
        index = self.store.index
        if index is None:
            index = await self.store.build_index()
        initiator = Initiator(index, limits=self.settings.reconcile)
        message: bytes | None = initiator.initial_message()
        while message is not None:
            if initiator.rounds >= self.settings.max_session_rounds:
                # Each reply can name ~2000 ids the peer claims to have, so a long session is
                # memory in our hands (a hostile peer can make up ids forever). Stop, move
                # what is known, and let the next round go on from there.
                report.again = True
                break
            message = initiator.receive(await client.reconcile(message))
        # Events waiting in our quarantine are not fetched again (they are promoted from
        # there when their author becomes accepted); the sets still differ: not in sync.
        held = await self.store.quarantined(sorted(initiator.need_ids))
        complete = not report.again and not held
        for chunk in _chunks(sorted(initiator.need_ids - held), MAX_FETCH_IDS):
            reply = await client.fetch(chunk)
            if reply.events:
                outcomes = await self.store.ingest(list(reply.events), origin=theirs.node)
                for outcome in outcomes:
                    if outcome.status is OutcomeStatus.ACCEPTED:
                        report.events_in += 1
                    elif outcome.status is OutcomeStatus.REJECTED:
                        report.rejected_in += 1
                        report.last_rejection = outcome.code.value if outcome.code else None
                        complete = False
                    elif outcome.status is OutcomeStatus.QUARANTINED:
                        complete = False
            if reply.gone:
                await self.store.add_tombstones(list(reply.gone))
            if len(reply.events) + len(reply.gone) < len(chunk):
                complete = False  # the peer no longer had some of what it listed
        batch = min(self.settings.push_batch, theirs.max_batch_events, MAX_BATCH_EVENTS)
        for chunk in _chunks(sorted(initiator.have_ids), batch):
            found, _ = await self.store.wires(chunk)  # tombstones cannot be pushed; see docs
            if not found:
                continue
            pushed = await client.push(list(found.values()))
            report.events_out += pushed.accepted
            if pushed.rejected or pushed.quarantined or len(found) < len(chunk):
                complete = False
        report.in_sync = initiator.in_sync or complete

    def _add_stream_traffic(self, url: str, report: RoundReport) -> None:
        """Fold what the stream with ``url`` carried since the last round into ``report``, so
        the peer's persisted state counts pushed events too (without a write per frame)."""
        tally = self._stream_tally.pop(url, None)
        if tally is None:
            return
        report.events_in += tally.events_in
        report.events_out += tally.events_out
        report.bytes_in += tally.bytes_in
        report.bytes_out += tally.bytes_out
        report.rejected_in += tally.rejected_in
        report.last_rejection = report.last_rejection or tally.last_rejection

    # -- live push ------------------------------------------------------------------------------

    async def _stream_loop(self, url: str) -> None:
        failures = 0
        while True:
            state = await self._state(url)
            if state is None:
                return
            if state.node_key is None:  # the first round pins the key; wait for it
                await asyncio.sleep(0.2)
                continue
            try:
                await self._stream(url, state.node_key)
                failures = 0
            except PeerError as exc:
                failures += 1
                log.debug("stream to %s: %s", url, exc)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failures += 1
                log.debug("stream to %s dropped: %s", url, exc)
            except StorageError as exc:  # ours: drop the stream, anti-entropy repairs later
                failures += 1
                log.warning("stream from %s: cannot store its events: %s", url, exc)
            self.streams_open[url] = False
            backoff_s = min(STREAM_BACKOFF_CAP_S, STREAM_BACKOFF_BASE_S * 2 ** min(failures, 8))
            backoff_s *= self.rng.uniform(0.5, 1)
            wake = self._stream_wake[url]
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff_s):
                    await wake.wait()

    async def _stream(self, url: str, peer_key: bytes) -> None:
        assert self.session is not None
        client = PeerClient(self.session, self.me, url, self.clock, pinned=peer_key)
        ws = await client.open_stream()
        self.streams_open[url] = True
        subscription = self.broadcaster.subscribe(peer_key)

        async def drain() -> None:
            while not ws.closed:
                frame = await subscription.queue.get()
                await ws.send_bytes(frame.data)
                tally = self._stream_tally.setdefault(url, RoundReport())
                tally.events_out += frame.events
                tally.bytes_out += len(frame.data)

        writer = asyncio.create_task(drain())
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.BINARY:
                    continue
                tally = self._stream_tally.setdefault(url, RoundReport())
                tally.bytes_in += len(message.data)
                if self._frame_limits.check(url.encode(), self.clock.now_ms()):
                    tally.rejected_in += 1
                    tally.last_rejection = "rate_limited"
                    await ws.close(code=1013, message=b"rate_limited")
                    raise PeerError(url, "rate_limited", "the peer streams faster than allowed")
                try:
                    frame = StreamFrame.decode(message.data)
                except ProtocolError as exc:
                    tally.rejected_in += 1
                    tally.last_rejection = exc.code.value
                    await ws.close(code=1003, message=exc.code.value.encode())
                    raise PeerError(url, exc.code.value, "malformed stream frame") from None
                for outcome in await self.store.ingest(list(frame.events), origin=peer_key):
                    if outcome.status is OutcomeStatus.ACCEPTED:
                        tally.events_in += 1
                    elif outcome.status is OutcomeStatus.REJECTED:
                        tally.rejected_in += 1
                        tally.last_rejection = outcome.code.value if outcome.code else None
        finally:
            self.broadcaster.unsubscribe(subscription)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await writer
            await ws.close()
