"""Talking to ``aidnode run`` for the same home, when it is running.

``aidnode run`` writes ``HOME/aidnode.pid`` ("pid port"). While it runs, it is the only
process that writes events to the database: commands sign what they publish and hand it to
the running node (:class:`RemoteNode`, :class:`RemoteIngest`), and ask it for what only it
knows (``sync``, a live ``status``, trust decisions), through its local API with the bearer
token from ``HOME/api.token``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from crypto import SigningIdentity, read_key_file
from node.errors import ConfigError
from node.home import Home, NodeConfig
from node.runtime import Node, Published
from node.storage import Outcome, OutcomeStatus, Store
from protocol import ReasonCode, Schema, sign_event
from sync.clock import Clock
from sync.hlc import HybridClock

__all__ = ["RemoteIngest", "RemoteNode", "RunningNode", "api_call", "outcome_of", "running_node"]

EVENTS_PER_CALL = 200


@dataclass(frozen=True, slots=True)
class RunningNode:
    pid: int
    port: int
    url: str  # where its local API answers, on loopback


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def running_node(home: Home, config: NodeConfig) -> RunningNode | None:
    """The ``aidnode run`` process serving ``home``, if its pid file names a live process."""
    try:
        pid_text, port_text = home.pid_path.read_text().split()
        pid, port = int(pid_text), int(port_text)
    except (OSError, ValueError):
        return None
    if not _alive(pid):
        return None
    host = config.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104  # listening everywhere: use loopback
        host = "127.0.0.1" if host != "::" else "::1"
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if config.tls else "http"
    return RunningNode(pid, port, f"{scheme}://{host}:{port}")


def _loopback_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # our own node on this machine, certificate is self-made
    return context


async def api_call(
    home: Home,
    running: RunningNode,
    method: str,
    path: str,
    body: Any = None,
    *,
    timeout_s: float = 90.0,
) -> Any:
    """Call the running node's local API; the decoded JSON reply. Raises :class:`ConfigError`
    with the API's own message if it refuses, or if it cannot be reached."""
    headers = {"Authorization": f"Bearer {home.token()}"}
    ssl_context: ssl.SSLContext | bool = (
        _loopback_tls() if running.url.startswith("https") else True
    )
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(
                method, running.url + path, json=body, headers=headers, ssl=ssl_context
            ) as response,
        ):
            data = await response.json(content_type=None)
            if response.status >= 400:
                error = data.get("error", {}) if isinstance(data, dict) else {}
                raise ConfigError(
                    f"the running node refused: {error.get('message', response.reason)}"
                )
            return data
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConfigError(
            f"the running node (pid {running.pid}) does not answer on {running.url}: {exc}"
        ) from None


def outcome_of(data: dict[str, Any]) -> Outcome:
    """An :class:`Outcome` from the API's JSON (``node.api.outcome_json``)."""
    return Outcome(
        OutcomeStatus(data["status"]),
        bytes.fromhex(data["id"]) if data.get("id") else None,
        ReasonCode(data["code"]) if data.get("code") else None,
        data.get("detail") or "",
    )


@dataclass(frozen=True, slots=True)
class RemoteIngest:
    """Ingest through the running node (``POST /api/v1/events``), batch by batch."""

    home: Home
    running: RunningNode

    async def ingest(self, wires: Sequence[bytes]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for start in range(0, len(wires), EVENTS_PER_CALL):
            batch = [wire.hex() for wire in wires[start : start + EVENTS_PER_CALL]]
            reply = await api_call(
                self.home, self.running, "POST", "/api/v1/events", {"events": batch}
            )
            outcomes += [outcome_of(item) for item in reply["outcomes"]]
        return outcomes


class RemoteNode(Node):
    """This node's keys and a read-only view of its database, for a command run while
    ``aidnode run`` serves the same home.

    SQLite has one writer at a time and the running node keeps the database's state in
    memory (its sync index, its trust); a second process writing events behind its back
    would race it. So a command signs here, with the key only it holds, and the running node
    stores each event through the same ingest path as a peer's, and pushes it at once.
    """

    def __init__(self, *args: Any, running: RunningNode, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.running = running
        self.remote = RemoteIngest(self.home, running)

    @classmethod
    async def open(  # type: ignore[override]  # a different opener: needs the running node
        cls, home: Home, passphrase: str | None, running: RunningNode, clock: Clock
    ) -> RemoteNode:
        config = home.load_config()
        bundle = read_key_file(home.key_path, passphrase)
        store = await Store.open(home.db_path, clock=clock, horizon_days=config.horizon_days)
        node = cls(home, config, bundle, store, clock, running=running)
        # Later than every stored event, as Node.open does, so an edit made now wins over
        # edits already seen (last writer wins by hlc).
        node.hlc = HybridClock(clock, last=await store.max_hlc())
        return node

    async def publish(
        self,
        kind: str,
        body: Schema | dict[str, Any],
        ref: bytes | None = None,
        *,
        signer: SigningIdentity | None = None,
    ) -> Published:
        event = sign_event(signer or self.signer, kind, self.hlc.now(), body, ref)
        [outcome] = await self.remote.ingest([event.wire])
        await self.store.catch_up()  # see what the running node stored
        return Published(event, outcome)
