"""Talking to ``aidnode run`` for the same home, when it is running.

``aidnode run`` writes ``HOME/aidnode.pid`` ("pid port"). Commands that are better done by the
running node itself (``sync``, a live ``status``) find it here and call its local API with the
bearer token from ``HOME/api.token``.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp

from node.errors import ConfigError
from node.home import Home, NodeConfig

__all__ = ["RunningNode", "api_call", "running_node"]


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
