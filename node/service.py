"""``aidnode run``: one node serving its peers and its operator until stopped.

Wires the pieces together: the store's reconciliation index, the federation server and
gossip, live push, and the housekeeping loops (picking up events other ``aidnode`` processes
wrote, flushing per-peer counters, purging expired records). Routes for the local API and
metrics are added by :mod:`node.api` when present.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from aiohttp import web

from node.errors import StorageError
from node.federation.gossip import Federation, GossipSettings
from node.federation.peers import InboundLedger
from node.federation.push import Broadcaster
from node.federation.server import FederationServer, ServerLimits
from node.federation.tls import server_context
from node.runtime import Node
from protocol import Event, ProtocolError
from protocol.federation import MAX_BODY_BYTES, Hello

__all__ = ["NodeService", "ServiceSettings"]

log = logging.getLogger("aidnode")
RouteInstaller = Callable[["NodeService", web.Application], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSettings:
    gossip: GossipSettings = field(default_factory=GossipSettings)
    limits: ServerLimits = field(default_factory=ServerLimits)
    catch_up_s: float = 0.5  # how soon other processes' writes are noticed and pushed
    flush_s: float = 5.0  # inbound counters
    purge_s: float = 3600.0


class NodeService:
    """A running node. ``await start(host, port)``, then ``await stop()``."""

    # Extra routes (local API, metrics) registered by node.api at import time.
    installers: ClassVar[list[RouteInstaller]] = []

    def __init__(self, node: Node, settings: ServiceSettings | None = None) -> None:
        self.node = node
        self.settings = settings or ServiceSettings(
            gossip=GossipSettings(
                interval_s=node.config.sync_interval_seconds, push=node.config.push
            )
        )
        store = node.store
        self.hello = Hello(node=node.node_identity.public_key, org=node.org, name=node.config.name)
        self.broadcaster = Broadcaster(enabled=self.settings.gossip.push)
        self.inbound = InboundLedger()
        self.server = FederationServer(
            store,
            self.hello,
            self.broadcaster,
            node.clock,
            limits=self.settings.limits,
            inbound=self.inbound,
        )
        self.federation = Federation(
            store,
            node.node_identity,
            self.hello,
            node.clock,
            self.broadcaster,
            self.settings.gossip,
            random.Random(),  # noqa: S311  # jitter, not secrets
        )
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.add_routes(self.server.routes())
        for install in self.installers:
            install(self, self.app)
        self.runner: web.AppRunner | None = None
        self.port: int | None = None
        self._loops: list[asyncio.Task[None]] = []
        self.started_ms = node.clock.now_ms()

    def _observe(self, events: list[Event], origin: bytes | None) -> None:
        """Keep the node's clock ahead of every event it stores (HLC merge)."""
        if origin is None:
            return
        with contextlib.suppress(ProtocolError):  # stored events passed the same check
            self.node.hlc.observe(max(e.hlc for e in events))

    async def start(self, host: str, port: int) -> int:
        """Serve on ``host:port`` (0: any free port); returns the bound port."""
        store = self.node.store
        await store.build_index()
        store.add_listener(self.broadcaster.on_commit)
        store.add_listener(self._observe)
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        ssl_context = server_context(self.node.node_identity) if self.node.config.tls else None
        site = web.TCPSite(self.runner, host, port, ssl_context=ssl_context, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        await self.federation.start()
        self._loops = [
            self._every(self.settings.catch_up_s, store.catch_up, "catch-up"),
            self._every(self.settings.flush_s, self._flush, "inbound flush"),
            self._every(self.settings.purge_s, store.purge, "purge"),
        ]
        if self.node.trust is not None:
            self._loops.append(asyncio.create_task(self.node.trust.watch(), name="trust"))
        return self.port

    def _every(
        self, period_s: float, job: Callable[[], Awaitable[object]], name: str
    ) -> asyncio.Task[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(period_s)
                try:
                    await job()
                except StorageError as exc:
                    log.warning("%s failed: %s", name, exc)

        return asyncio.create_task(loop(), name=name)

    async def _flush(self) -> None:
        await self.inbound.flush(self.node.store)

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.federation.stop()
        await self.server.close()
        if self.runner is not None:
            await self.runner.cleanup()
        with contextlib.suppress(StorageError):
            await self._flush()

    async def run_forever(self, host: str, port: int, ready: Callable[[int], None]) -> None:
        """Serve until SIGINT/SIGTERM, then shut down cleanly."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        bound = await self.start(host, port)
        pid_path = self.node.home.pid_path
        pid_path.write_text(f"{os.getpid()} {bound}\n")
        ready(bound)
        try:
            await stopping.wait()
        finally:
            await self.stop()
            pid_path.unlink(missing_ok=True)
