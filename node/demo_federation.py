"""The demo's federation harness: real ``aidnode run`` processes, each in its own home under
one temporary directory, driven by ``aidnode`` subprocesses and observed through their local
APIs, with cuttable TCP relays between the two halves (the story is in :mod:`node.demo`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from node.home import Home

__all__ = ["SIDE_A", "SIDE_B", "DemoError", "DemoFederation", "DemoNode", "Step"]

SYNC_INTERVAL_S = 2.0  # demo setting: rounds every 2 s instead of 30 s
WAIT_S = 15.0


class DemoError(Exception):
    """The demo could not complete (a node did not start, did not converge…)."""


@dataclass(slots=True)
class DemoNode:
    label: str  # the home directory's name, e.g. "ward3"
    name: str
    region: str
    port: int
    org: str = ""
    token: str = ""
    process: asyncio.subprocess.Process | None = None
    log: Path | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"


GROUPS = (
    ("ward3", "Xiehe Hospital ward 3 support group", "CN-HB-WH"),
    ("verifiers", "Disaster prevention association verifiers", "CN-HN-CS"),
    ("convoy", "Wuhan volunteer driver convoy", "CN-HB-WH"),
    ("shenzhen", "Shenzhen sanitation-worker mask drive", "CN-GD-SZ"),
)
# The two halves of the partition, and the links between nodes (both directions peer).
SIDE_A = ("ward3", "verifiers")
SIDE_B = ("convoy", "shenzhen")
LINKS = (
    ("ward3", "verifiers"),
    ("convoy", "shenzhen"),
    ("ward3", "convoy"),  # across the partition: through a relay
    ("verifiers", "shenzhen"),  # across the partition: through a relay
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Relay:
    """A TCP relay on loopback standing for the network between two nodes; :meth:`cut`
    drops every connection and stops listening (connections are refused, as when a link is
    down) until :meth:`heal`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.open = True
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.open = True
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._pipes |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pipes -= {writer, up_writer}

    async def cut(self) -> None:
        self.open = False
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.transport.abort()
        self._pipes.clear()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def heal(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()


@dataclass(slots=True)
class Step:
    """What a command did: its JSON answer and when it returned."""

    data: Any
    done_at: float


@dataclass(slots=True)
class DemoFederation:
    """The running federation: nodes, relays, and how to drive and observe them."""

    root: Path
    out: Console
    pause: bool = False
    nodes: dict[str, DemoNode] = field(default_factory=dict)
    relays: list[Relay] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    aidnode: Sequence[str] = (sys.executable, "-m", "node.cli")

    # -- commands -------------------------------------------------------------------------------

    async def cli(self, label: str, *args: str, show: bool = True, check: bool = True) -> Step:
        """Run ``aidnode --home LABEL ARGS --json`` in the demo directory; print it as typed."""
        if show:
            shown = shlex.join(["aidnode", "--home", label, *args])
            self.out.print(f"  [dim]$[/dim] [cyan]{shown}[/cyan]", soft_wrap=True)
        process = await asyncio.create_subprocess_exec(
            *self.aidnode, "--home", label, *args, "--json",
            cwd=self.root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        done = time.monotonic()
        errors = stderr.decode().strip()
        if process.returncode != 0:
            if check:
                raise DemoError(f"aidnode {' '.join(args[:2])} failed on {label}: {errors}")
            self.out.print(f"    [yellow]{errors}[/yellow] (exit status {process.returncode})")
            return Step(None, done)
        for line in errors.splitlines():
            if "warning" in line:
                self.out.print(f"    [yellow]{line}[/yellow]")
        return Step(json.loads(stdout) if stdout.strip() else None, done)

    async def api(self, label: str, path: str) -> Any:
        """GET a node's local API; None on 404."""
        node = self.nodes[label]
        assert self.session is not None
        headers = {"Authorization": f"Bearer {node.token}"}
        async with self.session.get(node.api + path, headers=headers) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            return await response.json()

    async def together(
        self,
        commands: dict[str, list[list[str]]],
        after: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Print every node's commands in order, then run each node's in sequence and the
        nodes in parallel (``after``, if given, runs them instead, one call per node)."""
        for label, argument_lists in commands.items():
            for args in argument_lists:
                shown = shlex.join(["aidnode", "--home", label, *args])
                self.out.print(f"  [dim]$[/dim] [cyan]{shown}[/cyan]", soft_wrap=True)

        async def run(label: str) -> None:
            if after is not None:
                await after(label)
                return
            for args in commands[label]:
                await self.cli(label, *args, show=False)

        await asyncio.gather(*(run(label) for label in commands))

    async def on_all(self, job: Callable[[str], Awaitable[Any]]) -> list[Any]:
        return list(await asyncio.gather(*(job(label) for label in self.nodes)))

    # -- starting and stopping ------------------------------------------------------------------

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for label, name, region in GROUPS:
            self.nodes[label] = DemoNode(label, name, region, _free_port())
        self.out.rule("[bold]1. Four groups start their nodes")

        def init_args(label: str) -> list[str]:
            node = self.nodes[label]
            return [
                "init", "--name", node.name, "--region", node.region,
                "--listen", f"127.0.0.1:{node.port}", "--insecure-no-passphrase",
            ]  # fmt: skip

        async def init(label: str) -> None:
            node = self.nodes[label]
            step = await self.cli(label, *init_args(label), show=False)
            node.org = step.data["org"]
            home = Home(self.root / label)
            home.save_config(home.load_config().with_changes(sync_interval_seconds=SYNC_INTERVAL_S))
            node.token = home.token()

        await self.together({label: [init_args(label)] for label in self.nodes}, init)
        self.out.print(
            f"  [dim](demo only: unencrypted keys, and sync rounds every {SYNC_INTERVAL_S:.0f} s "
            "instead of 30 s)[/dim]"
        )
        await asyncio.gather(*(self._run(label) for label in self.nodes))
        for label in self.nodes:
            self.out.print(f"  [dim]$[/dim] [cyan]aidnode --home {label} run[/cyan]  [dim]&[/dim]")
        self.out.print(f"  {len(self.nodes)} nodes running on 127.0.0.1 (in {self.root})")

    async def _run(self, label: str) -> None:
        node = self.nodes[label]
        node.log = self.root / f"{label}.log"
        with node.log.open("wb") as log:
            node.process = await asyncio.create_subprocess_exec(
                *self.aidnode, "--home", label, "run",
                cwd=self.root, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        pid_file = Home(self.root / label).pid_path
        deadline = time.monotonic() + WAIT_S
        while not pid_file.exists():
            if node.process.returncode is not None or time.monotonic() > deadline:
                raise DemoError(f"{label} did not start: {node.log.read_text()[-500:]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop every node and relay (SIGTERM, then SIGKILL after 5 s)."""
        for node in self.nodes.values():
            if node.process is not None and node.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    node.process.send_signal(signal.SIGTERM)
        for node in self.nodes.values():
            if node.process is None:
                continue
            try:
                await asyncio.wait_for(node.process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    node.process.kill()
                await node.process.wait()
        for relay in self.relays:
            await relay.close()
        if self.session is not None:
            await self.session.close()

    # -- the network ----------------------------------------------------------------------------

    def _across(self, a: str, b: str) -> bool:
        return (a in SIDE_A) != (b in SIDE_A)

    async def connect(self) -> None:
        self.out.rule("[bold]2. They peer with each other")
        urls: dict[tuple[str, str], str] = {}
        for a, b in LINKS:
            for me, them in ((a, b), (b, a)):
                port = self.nodes[them].port
                if self._across(me, them):
                    relay = Relay(port)
                    self.relays.append(relay)
                    port = await relay.start()
                urls[me, them] = f"http://127.0.0.1:{port}"
        commands: dict[str, list[list[str]]] = {label: [] for label in self.nodes}
        for (me, _), url in urls.items():
            commands[me].append(["peer", "add", url])
        await self.together(commands)
        self.out.print(
            "  [dim](links between ward3/verifiers and convoy/shenzhen go through relays the "
            "demo can cut)[/dim]"
        )

    async def endorse_each_other(self) -> None:
        self.out.rule("[bold]3. They endorse each other")
        self.out.print(
            "  Each group checked the others' fingerprints by phone, then vouches for them;\n"
            "  all three vouch for the verifier association as a [bold]verifier[/bold]."
        )
        commands: dict[str, list[list[str]]] = {label: [] for label in self.nodes}
        for label in self.nodes:
            for other, them in self.nodes.items():
                if other != label:
                    level = "verifier" if other == "verifiers" else "member"
                    commands[label].append(
                        ["endorse", them.org, "--name", them.name, "--level", level]
                    )
        await self.together(commands)
        await self.wait_converged("endorsements")
        rows = await self.on_all(lambda label: self.api(label, "/trust"))
        table = demo_table("node", "groups it accepts", "verifiers it trusts")
        for label, orgs in zip(self.nodes, rows, strict=True):
            accepted = [o for o in orgs if o["standing"]]
            verifiers = [o["name"] for o in orgs if o["standing"] == "verifier" and not o["seed"]]
            table.add_row(
                label, f"{len(accepted)} of {len(self.nodes)}", ", ".join(verifiers) or "-"
            )
        self.out.print(table)

    async def partition(self) -> None:
        for relay in self.relays:
            await relay.cut()

    async def heal(self) -> None:
        for relay in self.relays:
            await relay.heal()

    # -- watching -------------------------------------------------------------------------------

    async def wait_for_event(
        self, record: str, event: str, since: float, labels: Sequence[str] | None = None
    ) -> dict[str, tuple[float | None, Any]]:
        """Wait until ``event`` is in ``record``'s history on every node of ``labels``;
        (seconds after ``since``, view) per node (None: did not arrive in time)."""

        async def one(label: str) -> tuple[float | None, Any]:
            deadline = time.monotonic() + WAIT_S
            view = None
            while time.monotonic() < deadline:
                view = await self.api(label, f"/records/{record}")
                if view and any(h["id"] == event for h in view["history"]):
                    return time.monotonic() - since, view
                await asyncio.sleep(0.02)
            return None, view

        chosen = list(labels or self.nodes)
        results = await asyncio.gather(*(one(label) for label in chosen))
        return dict(zip(chosen, results, strict=True))

    async def wait_converged(self, what: str) -> str:
        """Wait until every node holds the same event set (the same fingerprint of its sync
        index, and as many events stored); that fingerprint."""
        deadline = time.monotonic() + WAIT_S
        seen: list[tuple[str | None, int]] = []
        while time.monotonic() < deadline:
            statuses = await self.on_all(lambda label: self.api(label, "/status"))
            seen = [(s["events"]["set_fingerprint"], s["events"]["total"]) for s in statuses]
            prints = {fingerprint for fingerprint, _ in seen}
            totals = {total for _, total in seen}
            counted = {int(str(fingerprint).split(":")[0]) for fingerprint in prints}
            if len(prints) == 1 and None not in prints and len(totals) == 1 and counted == totals:
                return str(seen[0][0])
            await asyncio.sleep(0.05)
        details = ", ".join(
            f"{label} {p} ({n} stored)" for label, (p, n) in zip(self.nodes, seen, strict=True)
        )
        raise DemoError(f"the nodes did not converge after {what}: {details}")

    async def statuses_in_sync(self) -> list[Any]:
        """Every node's ``/status``, once each of them has finished a round with every peer
        that found the same event set (a peer's *in sync* flag is set by a round, so it can
        trail the events themselves by one sync interval) and has its push streams open again;
        as they are if that takes longer than :data:`WAIT_S`."""
        deadline = time.monotonic() + WAIT_S
        while True:
            statuses = await self.on_all(lambda label: self.api(label, "/status"))
            settled = all(
                s["sync"]["in_sync"] == s["sync"]["peers"]
                and all(p["stream_open"] for p in s["peers"])
                for s in statuses
            )
            if settled or time.monotonic() > deadline:
                return statuses
            await asyncio.sleep(0.1)

    async def show_views(
        self, record: str, arrivals: dict[str, tuple[float | None, Any]], author: str
    ) -> None:
        """What every node shows now; nodes not in ``arrivals`` are shown as cut off."""
        for label in self.nodes:
            if label not in arrivals:
                arrivals[label] = (None, await self.api(label, f"/records/{record}"))
        table = demo_table(
            "node", "arrived", "status", "urgency", "N95 pledged", "sent", "received",
            "verified", "contact",
        )  # fmt: skip
        for label, (after, view) in arrivals.items():
            if view is None:
                table.add_row(label, "[red]not yet[/red]", *["-"] * 7)
                continue
            when = "posted here" if label == author else arrival_text(after)
            n95 = view["lines"][0]
            contact = view["contact"]
            readable = (
                "public"
                if "public" in contact
                else "[green]opened[/green]"
                if contact["opened"]
                else "sealed"
            )
            verified = ", ".join(v["org_name"].split()[0] for v in view["verified_by"])
            table.add_row(
                label, when, view["status"], view["urgency"], f"{n95['pledged']:,}",
                f"{n95['delivered']:,}", f"{n95['received']:,}",
                f"[green]✓ {verified}[/green]" if verified else "-", readable,
            )  # fmt: skip
        self.out.print(table)

    async def act(
        self,
        title: str,
        label: str,
        args: Sequence[str],
        record: str | None = None,
        note: str | None = None,
        reach: Sequence[str] | None = None,
    ) -> Any:
        """One step of the story: narrate, run the command, show it arriving at every node
        (or at those in ``reach``; the others are shown as they are)."""
        self.out.print()
        self.out.print(f"[bold]▶ {title}[/bold]  [dim]({self.nodes[label].name})[/dim]")
        if note:
            self.out.print(f"  [dim]{note}[/dim]")
        step = await self.cli(label, *args)
        record = record or step.data["record"]
        arrivals = await self.wait_for_event(record, step.data["id"], step.done_at, reach)
        await self.show_views(record, arrivals, label)
        if self.pause and sys.stdin.isatty():
            await asyncio.get_running_loop().run_in_executor(None, input, "  (Enter: next step)")
        return step.data


def demo_table(*columns: str) -> Table:
    from node.cli.render import new_table

    return new_table(*columns)


def arrival_text(seconds: float | None) -> str:
    return "[red]cut off[/red]" if seconds is None else f"+{seconds * 1000:.0f} ms"
