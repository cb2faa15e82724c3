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
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from crypto import read_key_file
from node.bundles import write_bundle
from node.demo_federation import SIDE_A, SIDE_B, DemoError, DemoFederation, demo_table
from protocol import UpdateBody, sign_event
from sync.hlc import pack

__all__ = ["DemoError", "run_demo", "tell_story"]


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
    statuses = await fed.statuses_in_sync()
    views = await fed.on_all(lambda label: fed.api(label, f"/records/{record}"))
    table = demo_table(
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

    sync_table = demo_table("node", "peer", "state", "last success", "lag", "push")
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
