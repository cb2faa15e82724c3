"""Real ``aidnode run`` processes on loopback for federation tests and benchmarks.

A :class:`Cluster` makes node homes in a temporary directory (in-process, with
:func:`node.runtime.init_home`: the same code ``aidnode init`` runs, without paying a Python
start-up per node), gives each a free loopback port, and starts, stops, SIGKILLs and restarts
``aidnode run`` for them. Every process it started is killed when the cluster closes, whatever
the test did; on Linux a child also dies with its parent (``PR_SET_PDEATHSIG``), so an aborted
pytest run leaves no node behind.

Tests observe nodes the way an operator or a peer would: the node's database (read-only
SQLite), ``aidnode --json peer list``, or signed requests to ``/fed/v1`` with a
:class:`node.federation.client.PeerClient`. Waiting is always bounded polling
(:func:`eventually`), never a bare sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp
from aiohttp import web

from crypto import KdfParams, read_key_file
from crypto.signing import SigningIdentity
from node.clock import SystemClock
from node.federation.client import PeerClient
from node.federation.peers import add_peer, remove_peer
from node.home import Home
from node.runtime import NODE_KEY_NAME, Node, init_home
from node.service import NodeService, ServiceSettings
from node.storage import OutcomeStatus, Store
from protocol import Event
from protocol.federation import Hello
from sync.clock import Clock

__all__ = [
    "Cluster",
    "NodeHandle",
    "eventually",
    "fake_peer",
    "free_port",
    "hello_for",
    "line",
    "materialised_tables",
    "run_coroutine",
    "service_in_process",
    "service_url",
    "signed_client",
]

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
FAST_KDF = KdfParams(opslimit=1, memlimit=8192)  # unused without a passphrase; cheap anyway
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, never handed out twice by this process."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


async def eventually(
    check: Callable[[], Awaitable[bool] | bool],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
    detail: Callable[[], object] | None = None,
) -> float:
    """Poll ``check`` until it is true; returns the seconds it took. Raises AssertionError
    naming ``what`` (and ``detail()``, to say what was seen instead) after ``timeout_s``."""
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() > deadline:
            seen = f"; saw {detail()!r}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}{seen}")
        await asyncio.sleep(interval_s)


@dataclass(eq=False)
class NodeHandle:
    """One node home and, while it runs, its ``aidnode run`` process."""

    name: str
    home: Home
    port: int
    node_identity: SigningIdentity
    org: bytes
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def node_key(self) -> bytes:
        return self.node_identity.public_key

    @property
    def log_path(self) -> Path:
        return self.home.root / "run.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- reading the node's database (read-only; safe while it runs: WAL) ---------------------

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        uri = f"file:{self.home.db_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            return [tuple(row) for row in db.execute(sql, args).fetchall()]

    def event_ids(self) -> set[bytes]:
        return {row[0] for row in self._query("SELECT id FROM events")}

    def has_all(self, ids: Iterable[bytes]) -> bool:
        wanted = list(ids)
        if not wanted:
            return True
        marks = ",".join("?" * len(wanted))
        rows = self._query(f"SELECT count(*) FROM events WHERE id IN ({marks})", tuple(wanted))  # noqa: S608
        return int(rows[0][0]) == len(wanted)

    def event_count(self) -> int:
        return int(self._query("SELECT count(*) FROM events")[0][0])

    def peer_rows(self) -> dict[str, dict[str, Any]]:
        """The ``peers`` table by URL (the persisted per-peer state), as column → value."""
        uri = f"file:{self.home.db_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            db.row_factory = sqlite3.Row
            return {row["url"]: dict(row) for row in db.execute("SELECT * FROM peers")}

    def cli(self, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ``aidnode --home HOME ARGS`` (global options go before the subcommand)."""
        return subprocess.run(
            [sys.executable, "-c", "from node.cli import main; main()", "--home",
             str(self.home.root), *args],
            capture_output=True, text=True, timeout=timeout_s, cwd=ROOT, check=False,
        )  # fmt: skip

    def peer_list_json(self) -> list[dict[str, Any]]:
        """``aidnode --json peer list``, parsed."""
        done = self.cli("--json", "peer", "list")
        assert done.returncode == 0, done.stderr
        result: list[dict[str, Any]] = json.loads(done.stdout)
        return result

    async def open(self) -> Node:
        """The node opened in this (test) process, e.g. to publish; close it after."""
        return await Node.open(self.home, None)

    async def add_events(self, events: list[Event]) -> None:
        """Store ``events`` as another process (the CLI) would: a running node notices them
        within its catch-up period and pushes them."""

        async def add(store: Store) -> None:
            outcomes = await store.add(events)
            assert all(o.status is OutcomeStatus.ACCEPTED for o in outcomes), outcomes

        await _with_store(self.home, add)


class Cluster:
    """Node homes under ``root`` and the processes running them; :meth:`close` kills all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: list[NodeHandle] = []

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[NodeHandle]:
        return iter(self.nodes)

    def __getitem__(self, index: int) -> NodeHandle:
        return self.nodes[index]

    def __len__(self) -> int:
        return len(self.nodes)

    # -- homes ----------------------------------------------------------------------------------

    def make(
        self,
        name: str,
        *,
        sync_interval_s: float = 1.0,
        push: bool = True,
        tls: bool = False,
        database: Path | None = None,
        **config: Any,
    ) -> NodeHandle:
        """A new node home (keys, config on a free loopback port), founded (its org's incept
        and profile written), not started. ``database``: a copy of this file becomes the
        node's database first (benchmarks pre-fill big stores once and copy them)."""
        home = Home(self.root / name)
        port = free_port()
        init_home(home, name=name, passphrase=None, listen=f"127.0.0.1:{port}", kdf=FAST_KDF)
        if database is not None:
            shutil.copyfile(database, home.db_path)
        # These nodes test transport and convergence, not trust: they store every valid
        # event (admit = "all"); tests/test_federation_trust.py covers the default policy.
        config.setdefault("admit", "all")
        settings = home.load_config().with_changes(
            sync_interval_seconds=sync_interval_s, push=push, tls=tls, **config
        )
        home.save_config(settings)
        run_coroutine(_found(home))
        bundle = read_key_file(home.key_path, None)
        handle = NodeHandle(
            name,
            home,
            port,
            bundle.extra_identity(NODE_KEY_NAME),
            bundle.current_identity().public_key,
        )
        self.nodes.append(handle)
        return handle

    def configure(self, handle: NodeHandle, **changes: Any) -> None:
        """Change ``config.toml`` (takes effect at the next start)."""
        handle.home.save_config(handle.home.load_config().with_changes(**changes))

    def link(self, a: NodeHandle, b: NodeHandle) -> None:
        """``a`` gossips with ``b``, as ``aidnode peer add`` does it (a running ``a`` starts
        within its peer-watch period). One direction is enough: rounds and streams carry
        events both ways."""
        run_coroutine(_with_store(a.home, lambda s: add_peer(s, b.url, SystemClock().now_ms())))

    def add_peer(self, handle: NodeHandle, url: str) -> None:
        """``aidnode peer add URL`` for any URL (e.g. a test's fake peer)."""
        now = SystemClock().now_ms()
        run_coroutine(_with_store(handle.home, lambda s: add_peer(s, url, now)))

    def unlink(self, a: NodeHandle, b: NodeHandle) -> None:
        """``aidnode peer remove``: a running ``a`` stops gossiping with ``b``."""
        run_coroutine(_with_store(a.home, lambda s: remove_peer(s, b.url)))

    # -- processes ------------------------------------------------------------------------------

    def start(self, handle: NodeHandle, *, wait: bool = True) -> None:
        """Start ``aidnode run`` for ``handle``; with ``wait``, return once it serves."""
        assert not handle.running, f"{handle.name} is already running"
        handle.home.pid_path.unlink(missing_ok=True)
        handle._log = handle.log_path.open("ab")
        handle.process = subprocess.Popen(  # our own CLI
            [sys.executable, "-c", "from node.cli import main; main()", "--home",
             str(handle.home.root), "run"],
            stdout=handle._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip
        handle.starts += 1
        if wait:
            self.wait_ready(handle)

    def wait_ready(self, handle: NodeHandle, timeout_s: float = START_TIMEOUT_S) -> None:
        """Block until the node wrote its pid file (it serves from then on)."""
        assert handle.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if handle.process.poll() is not None:
                raise AssertionError(
                    f"{handle.name} exited with {handle.process.returncode}:\n{handle.log_text()}"
                )
            with contextlib.suppress(FileNotFoundError, ValueError):
                pid, _port = handle.home.pid_path.read_text().split()
                if int(pid) == handle.process.pid:
                    return
            time.sleep(0.02)
        raise AssertionError(f"{handle.name} did not start in {timeout_s} s:\n{handle.log_text()}")

    def start_all(self, handles: Iterable[NodeHandle] | None = None) -> None:
        """Start several nodes in parallel (start-up is mostly Python imports)."""
        chosen = list(self.nodes if handles is None else handles)
        for handle in chosen:
            self.start(handle, wait=False)
        for handle in chosen:
            self.wait_ready(handle)

    def stop(self, handle: NodeHandle) -> int:
        """SIGTERM and wait for a clean exit (SIGKILL if it hangs); returns the exit status."""
        process = handle.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._forget(handle)
        return process.returncode

    def kill(self, handle: NodeHandle) -> None:
        """SIGKILL: the process gets no chance to clean up (a crash, a power cut)."""
        process = handle.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        self._forget(handle)

    def _forget(self, handle: NodeHandle) -> None:
        handle.process = None
        if handle._log is not None:
            handle._log.close()
            handle._log = None

    def close(self) -> None:
        """Kill every process this cluster started (the teardown; idempotent)."""
        for handle in self.nodes:
            if handle.process is not None and handle.process.poll() is None:
                handle.process.kill()
        for handle in self.nodes:
            if handle.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    handle.process.wait(STOP_TIMEOUT_S)
            self._forget(handle)


async def _found(home: Home) -> None:
    node = await Node.open(home, None)
    await node.close()


async def _with_store(home: Home, operation: Callable[[Store], Awaitable[T]]) -> T:
    store = await Store.open(home.db_path, clock=SystemClock(), workers=1)
    try:
        return await operation(store)
    finally:
        await store.close()


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from sync code, even inside a running event loop (on
    a helper thread with its own loop: fine for short set-up work in tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def line(cluster: Cluster, handles: list[NodeHandle]) -> None:
    """Each node gossips with the next one."""
    for a, b in itertools.pairwise(handles):
        cluster.link(a, b)


@contextlib.asynccontextmanager
async def signed_client(
    url: str,
    identity: SigningIdentity | None = None,
    *,
    pinned: bytes | None = None,
    local_address: str | None = None,
    timeout_s: float = 10.0,
    hello: bool = True,
) -> AsyncIterator[PeerClient]:
    """A :class:`PeerClient` with its own session (``identity``: a fresh node key by
    default), after a hello that pins the node's key unless ``hello`` is false.
    ``local_address`` binds the client's side of the connection, e.g. 127.0.0.2, so
    per-address limits apply to it apart from the honest nodes on 127.0.0.1."""
    me = identity or SigningIdentity(secrets.token_bytes(32))
    connector = aiohttp.TCPConnector(
        local_addr=(local_address, 0) if local_address is not None else None
    )
    async with aiohttp.ClientSession(connector=connector) as session:
        client = PeerClient(session, me, url, SystemClock(), pinned=pinned, timeout_s=timeout_s)
        if hello:
            await client.hello(hello_for(me))
        yield client


def hello_for(me: SigningIdentity, name: str = "tester") -> Hello:
    """A hello for a test-controlled node key (its org is the key itself)."""
    return Hello(node=me.public_key, org=me.public_key, name=name)


@contextlib.asynccontextmanager
async def service_in_process(
    root: Path,
    name: str = "honest",
    *,
    settings: ServiceSettings | None = None,
    tls: bool = False,
    clock: Clock | None = None,
    fresh: bool = True,
    admit: str = "all",
) -> AsyncIterator[NodeService]:
    """A whole node (:class:`NodeService`) running inside the test's event loop on a free
    loopback port: for the quick, not-slow tests of the federation pieces. ``fresh=False``
    runs the node already in ``root/name`` again (a restart). ``admit="trusted"`` gives the
    node the default trust policy (the others store every valid event)."""
    home = Home(root / name)
    if fresh:
        init_home(home, name=name, passphrase=None, listen="127.0.0.1:7420", kdf=FAST_KDF)
        home.save_config(
            home.load_config().with_changes(tls=tls, sync_interval_seconds=1.0, admit=admit)
        )
    node = await Node.open(home, None, clock=clock, workers=1)
    service = NodeService(node, settings)
    try:
        await service.start("127.0.0.1", 0)
        yield service
    finally:
        await service.stop()
        await node.close()


def service_url(service: NodeService) -> str:
    scheme = "https" if service.node.config.tls else "http"
    return f"{scheme}://127.0.0.1:{service.port}"


@contextlib.asynccontextmanager
async def fake_peer(
    routes: list[web.RouteDef], *, host: str = "127.0.0.1", ssl_context: Any = None
) -> AsyncIterator[str]:
    """A test-controlled HTTP server (a hostile or broken peer); yields its base URL."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes(routes)
    # A stalled handler must not hold the test's teardown for aiohttp's default 60 s.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if ssl_context else 'http'}://{host}:{port}"
    finally:
        await runner.cleanup()


MATERIALISED = ("records", "record_lines", "pledges", "verifications", "profiles", "endorsements")


def materialised_tables(handle: NodeHandle) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the materialised fold's tables, sorted: equal on nodes in sync."""
    return {
        table: sorted(handle._query(f"SELECT * FROM {table}"), key=repr)  # noqa: S608
        for table in MATERIALISED
    }
