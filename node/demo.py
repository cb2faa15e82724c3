"""``aidnode demo``: four real nodes on this machine tell the story of one need in Wuhan, 2020.

Everything is real: each group's node is an ``aidnode run`` process with its own keys and
database in a temporary directory, every step is an ``aidnode`` command run as a subprocess
(printed as the operator would type it), and what each node sees is read back from each
node's local API. Links between the two halves of the federation go through small TCP relays
that the demo can cut, to show a network partition and how it heals.

The story (groups and items from the 2020 record):

1. Four groups start nodes, peer, and endorse each other; the verifier association is
   endorsed as a *verifier*.
2. Xiehe Hospital ward 3 posts a need for N95 respirators and protective suits (its contact
   sealed to the convoy and the verifiers); the verifiers check it by phone; the Shenzhen
   mask drive pledges 1,000 respirators, sends them with the driver convoy, the ward
   receives them.
3. The network splits. On both sides somebody edits the need's urgency: the ward's head
   nurse on the ward's node, the ward's night coordinator (a delegated operator key) on the
   other side, her edit carried to the convoy on a USB stick (``aidnode import``).
4. The network heals: every node ends with the same events and the same urgency (last writer
   wins, by hybrid logical clock), which the demo checks and says.

:func:`run_demo` cleans up every process, relay and file, also on Ctrl-C or failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from crypto import read_key_file
from node.bundles import write_bundle
from node.home import Home
from protocol import UpdateBody, sign_event
from sync.hlc import pack

__all__ = ["DemoError", "DemoFederation", "DemoNode", "run_demo"]

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
        table = _table("node", "groups it accepts", "verifiers it trusts")
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

    async def show_views(
        self, record: str, arrivals: dict[str, tuple[float | None, Any]], author: str
    ) -> None:
        """What every node shows now; nodes not in ``arrivals`` are shown as cut off."""
        for label in self.nodes:
            if label not in arrivals:
                arrivals[label] = (None, await self.api(label, f"/records/{record}"))
        table = _table(
            "node", "arrived", "status", "urgency", "N95 pledged", "sent", "received",
            "verified", "contact",
        )  # fmt: skip
        for label, (after, view) in arrivals.items():
            if view is None:
                table.add_row(label, "[red]not yet[/red]", *["-"] * 7)
                continue
            when = "posted here" if label == author else _ms(after)
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


def _table(*columns: str) -> Table:
    from node.cli.render import new_table

    return new_table(*columns)


def _ms(seconds: float | None) -> str:
    return "[red]cut off[/red]" if seconds is None else f"+{seconds * 1000:.0f} ms"


async def tell_story(fed: DemoFederation) -> None:
    """The story after the federation is up (see the module docstring)."""
    out = fed.out
    convoy, verifiers = fed.nodes["convoy"], fed.nodes["verifiers"]
    out.rule("[bold]4. A need, checked, pledged, sent and received")
    need = await fed.act(
        "The ward posts what it needs",
        "ward3",
        [
            "need", "add", "--title", "N95 respirators and protective suits for ward 3",
            "--line", "N95 respirator:medical.ppe:2000:pieces",
            "--line", "disposable protective suit:medical.ppe:500:pieces",
            "--urgency", "3d", "--expires", "14d", "--place", "Xiehe Hospital, Jianghan",
            "--contact", "Head nurse Wang, 027-8572-0000",
            "--contact-sealed-to", convoy.org, "--contact-sealed-to", verifiers.org,
        ],
        note="its contact is sealed: only the convoy, the verifiers and the ward can read it",
    )  # fmt: skip
    record = need["record"]
    short = record[:12]
    await fed.act(
        "The verifiers call the ward and vouch for the need",
        "verifiers",
        ["verify", short, "--method", "phone", "--note", "called the ward desk"],
        record,
    )
    pledge = await fed.act(
        "The Shenzhen drive pledges 1,000 respirators",
        "shenzhen",
        ["pledge", short, "--line", "1", "--qty", "1000"],
        record,
        note="everyone sees it at once: nobody else sends those 1,000",
    )
    await fed.act(
        "Shenzhen sends them with the driver convoy",
        "shenzhen",
        ["deliver", pledge["id"][:12], "--qty", "1000", "--note", "convoy trip 17"],
        record,
    )
    await fed.act(
        "The ward receives them",
        "ward3",
        ["receive", pledge["id"][:12], "--qty", "1000"],
        record,
        note="receipts are what fulfil a need: line 1 is now complete",
    )

    out.rule("[bold]5. The network splits; both sides edit the same field")
    await fed.cli(
        "ward3", "delegate", "--generate", "night-coordinator.key", "--scopes", "post",
        "--name", "ward 3 night coordinator",
    )  # fmt: skip
    await fed.wait_converged("the delegation")
    out.print("  [dim](before the split, the ward delegated an operator key to its night "
              "coordinator)[/dim]")  # fmt: skip
    await fed.partition()
    out.print(
        "  [bold red]✂ the links between {ward3, verifiers} and {convoy, shenzhen} are cut[/]"
    )
    await fed.cli("ward3", "sync", check=False)

    await fed.act(
        "The head nurse marks the need as urgent",
        "ward3",
        ["update", short, "--urgency", "24h"],
        record,
        note="her side of the network sees 24h; the other side cannot yet",
        reach=SIDE_A,
    )
    await asyncio.sleep(0.05)  # a later edit (its hybrid logical clock is later)
    bundle = fed.root / "coordinator.aidb"
    update_id = _coordinator_edit(fed.root, record, bundle)
    out.print()
    out.print(
        "[bold]▶ Cut off on the other side, the night coordinator sets it to 1w[/bold]  "
        "[dim](a city delivery covers the next days)[/dim]"
    )
    out.print(
        "  [dim]she signs it with her delegated key; a driver carries it on a USB stick[/dim]"
    )
    step = await fed.cli("convoy", "import", bundle.name)
    arrivals = await fed.wait_for_event(record, update_id, step.done_at, SIDE_B)
    await fed.show_views(record, arrivals, "")
    out.print("  during the split, the two sides disagree about the urgency")

    out.rule("[bold]6. The network heals")
    await fed.heal()
    out.print("  [bold green]the links are back[/bold green]")
    await fed.cli("ward3", "sync")
    await fed.cli("shenzhen", "sync")
    fingerprint = await fed.wait_converged("the partition healed")
    await report_convergence(fed, record, fingerprint)


def _coordinator_edit(root: Path, record: str, bundle: Path) -> str:
    """The night coordinator's edit, signed with her delegated key, written as a bundle."""
    identity = read_key_file(root / "night-coordinator.key", None).current_identity()
    now = time.time_ns() // 1_000_000
    event = sign_event(
        identity, "update", pack(now, 0), UpdateBody(urgency="1w"), bytes.fromhex(record)
    )
    with bundle.open("wb") as out:
        write_bundle(out, [event.wire], created_ms=now, name="ward 3 night coordinator")
    return event.id.hex()


async def report_convergence(fed: DemoFederation, record: str, fingerprint: str) -> None:
    """The closing table, and the check that every node shows the same thing."""
    out = fed.out
    statuses = await fed.on_all(lambda label: fed.api(label, "/status"))
    views = await fed.on_all(lambda label: fed.api(label, f"/records/{record}"))
    table = _table(
        "node", "events", "event set", "peers in sync", "urgency", "N95 received", "verified"
    )
    for label, status, view in zip(fed.nodes, statuses, views, strict=True):
        sync = status["sync"]
        table.add_row(
            label, str(status["events"]["total"]), status["events"]["set_fingerprint"],
            f"{sync['in_sync']}/{sync['peers']}", view["urgency"],
            f"{view['lines'][0]['received']:,}", "✓" if view["verified"] else "-",
        )  # fmt: skip
    out.print(table)
    out.print("[bold]sync status[/bold] (the peers part of `aidnode status` on each node):")
    from node.cli.peers import peer_word
    from node.cli.render import relative

    sync_table = _table("node", "peer", "state", "last success", "lag", "push")
    for label, status in zip(fed.nodes, statuses, strict=True):
        for peer in status["peers"]:
            sync_table.add_row(
                label, (peer["name"] or peer["url"])[:32], peer_word(peer),
                relative(peer["last_success_ms"], status["now_ms"]),
                "0" if peer["lag_ms"] == 0 else f"{peer['lag_ms']} ms",
                "open" if peer["stream_open"] else "reconnecting",
            )  # fmt: skip
    out.print(sync_table)

    def essence(view: dict[str, Any]) -> Any:
        return {k: view[k] for k in ("status", "urgency", "lines", "pledges", "history")}

    same_views = all(essence(v) == essence(views[0]) for v in views)
    same_sets = len({s["events"]["set_fingerprint"] for s in statuses}) == 1
    if not (same_views and same_sets):
        raise DemoError("the nodes did not converge (see the table above)")
    winner = views[0]["urgency"]
    out.print(
        f"\n[bold green]✓ all {len(fed.nodes)} nodes converged[/bold green]: the same "
        f"{statuses[0]['events']['total']} events (event set {fingerprint}) and the same need "
        f"on every node; the two edits were resolved the same way everywhere (urgency "
        f"{winner}: the later edit wins)."
    )


async def run_demo(
    out: Console, *, keep: bool = False, pause: bool = False, root: Path | None = None
) -> float:
    """Run the whole demo; returns the seconds it took. Everything it started is stopped and
    its directory removed on the way out, whatever happens (unless ``keep``, until Ctrl-C)."""
    started = time.monotonic()
    owned = root is None
    directory = Path(tempfile.mkdtemp(prefix="aidnode-demo-")) if root is None else root
    fed = DemoFederation(directory, out, pause=pause)
    try:
        await fed.start()
        await fed.connect()
        await fed.endorse_each_other()
        await tell_story(fed)
        elapsed = time.monotonic() - started
        out.print(f"[dim]demo took {elapsed:.1f} s[/dim]")
        if keep:
            out.print(
                f"\nThe nodes keep running in {directory}; try for example\n"
                f"  cd {directory} && aidnode --home convoy status\n"
                "Press Ctrl-C to stop them and remove everything."
            )
            await asyncio.Event().wait()
        return elapsed
    finally:
        await fed.stop()
        if owned:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)
