"""``aidnode status`` and ``aidnode sync``: the operator's window on syncing with peers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.text import Text

from crypto import fingerprint
from node.cli.app import cli
from node.cli.context import Context, emit, fail, node_options, pass_context, run_async, warn
from node.cli.local import api_call, running_node
from node.cli.peers import peer_word
from node.cli.render import console, duration, err_console, new_table, progress, relative, size
from node.errors import ConfigError
from node.manual_sync import sync_here
from node.status import gather_status

__all__ = ["status", "sync"]


async def _status_data(ctx: Context) -> dict[str, Any]:
    config = ctx.config()
    running = running_node(ctx.home, config)
    if running is not None:
        try:
            data: dict[str, Any] = await api_call(ctx.home, running, "GET", "/api/v1/status")
            return data
        except ConfigError as exc:  # it does not answer: read what it persisted instead
            warn(str(exc))
    async with ctx.store() as (config, store):
        return await gather_status(
            ctx.home,
            config,
            store,
            ctx.clock.now_ms(),
            pid=running.pid if running else None,
            port=running.port if running else None,
        )


def peers_table(peers: list[dict[str, Any]], now: int) -> Any:
    table = new_table(
        "peer", "name", "state", "last success", "lag", "last error", "in", "out",
        "retry", "push",
    )  # fmt: skip
    for p in peers:
        retry = ""
        if p["failures"]:  # an overdue retry happens at the next round of a running node
            due = p["next_attempt_ms"] <= now
            retry = "due" if due else relative(p["next_attempt_ms"], now)
        stream = {True: "open", False: "closed", None: "-"}[p.get("stream_open")]
        table.add_row(
            p["url"],
            (p["name"] or "")[:28],
            peer_word(p),
            relative(p["last_success_ms"], now),
            "0" if p["lag_ms"] == 0 else duration(p["lag_ms"]),
            (p["last_error"] or "").removeprefix(f"{p['url']}: ")[:72],  # the URL is column 1
            f"{p['events_in']:,} ev / {size(p['bytes_in'])}",
            f"{p['events_out']:,} ev / {size(p['bytes_out'])}",
            retry,
            stream,
        )
    return table


def _status_renderable(data: dict[str, Any]) -> Group:
    now = data["now_ms"]
    node = data["node"]
    events = data["events"]
    parts: list[Any] = []
    if node["running"]:
        state = f"[green]running[/green] (pid {node['pid'] or '?'}, port {node['port']})"
    else:
        state = "[yellow]not running[/yellow] (start it with aidnode run)"
    parts.append(Text.from_markup(f"[bold]{node['name']}[/bold]  {state}"))
    parts.append(Text(f"  org key      {node['org']}"))
    parts.append(Text(f"  fingerprint  {node['fingerprint']}"))
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in events["by_kind"].items())
    parts.append(Text(f"  events       {events['total']:,}  ({kinds})"))
    if events["set_fingerprint"]:
        parts.append(Text(f"  event set    {events['set_fingerprint']}  (same on nodes in sync)"))
    records = ", ".join(f"{status} {n:,}" for status, n in data["records"].items()) or "none"
    parts.append(Text(f"  records      {records}"))
    trust = data.get("trust")
    if trust:
        levels = ", ".join(f"{level} {n}" for level, n in trust["accepted"].items())
        parts.append(
            Text(f"  trust        accepted keys: {levels}; quarantine {trust['quarantine']:,}")
        )
    peers = data["peers"]
    sync = data["sync"]
    parts.append(Text(""))
    if peers:
        parts.append(
            Text.from_markup(
                f"[bold]peers[/bold]: {sync['in_sync']} of {sync['peers']} in sync"
                + (f", [red]{sync['failing']} failing[/red]" if sync["failing"] else "")
            )
        )
        parts.append(peers_table(peers, now))
    else:
        parts.append(Text("no peers yet: aidnode peer add URL"))
    known = {p["node_key"] for p in peers if p["node_key"]}
    inbound_only = [i for i in data["inbound"] if i["node_key"] not in known]
    if inbound_only:
        parts.append(Text.from_markup("[bold]nodes that connect to us[/bold] (not our peers)"))
        table = new_table("node", "last seen", "requests", "events in", "rejected", "last refusal")
        for i in inbound_only:
            table.add_row(
                fingerprint(bytes.fromhex(i["node_key"])),
                relative(i["last_seen_ms"], now),
                f"{i['requests']:,}",
                f"{i['events_in']:,}",
                f"{i['rejected_in']:,}"
                + (f" ({i['last_rejection']})" if i["last_rejection"] else ""),
                i["last_refusal"] or "",
            )
        parts.append(table)
    return Group(*parts)


@cli.command()
@click.option("--watch", is_flag=True, help="Keep refreshing until Ctrl-C.")
@click.option(
    "--interval", type=click.FloatRange(0.2), default=2.0, show_default=True, help="Seconds."
)
@node_options
@pass_context
@run_async
async def status(ctx: Context, watch: bool, interval: float) -> None:
    """Show how the node is doing: running or not, per peer whether it is in sync, when it
    last succeeded, the last error in words, lag, traffic each way, when it retries; nodes
    that connect to us; event counts; trust. Needs no passphrase.

    \b
    Examples:
      aidnode status
      aidnode status --watch
      aidnode status --json
    """
    if not watch:
        data = await _status_data(ctx)
        emit(ctx, data, lambda: console().print(_status_renderable(data)))
        return
    out = console()
    try:
        if ctx.json:
            while True:
                click.echo(json.dumps(await _status_data(ctx), sort_keys=True), nl=True)
                await asyncio.sleep(interval)
        elif out.is_terminal:
            with Live(_status_renderable(await _status_data(ctx)), console=out) as live:
                while True:
                    await asyncio.sleep(interval)
                    live.update(_status_renderable(await _status_data(ctx)))
        else:
            while True:
                out.print(_status_renderable(await _status_data(ctx)))
                out.print()
                await asyncio.sleep(interval)
    except (KeyboardInterrupt, asyncio.CancelledError):
        return


@cli.command()
@click.option("--peer", "url", default=None, metavar="URL", help="Only this peer.")
@click.option("--timeout", type=click.FloatRange(1), default=60.0, show_default=True)
@node_options
@pass_context
@run_async
async def sync(ctx: Context, url: str | None, timeout: float) -> None:
    """Sync with peers now, instead of waiting for the next round, and show the outcome.

    If `aidnode run` is running for this home, it does the rounds (and this command needs no
    passphrase); otherwise they run here. Exit status 1 if a peer could not be synced.

    \b
    Examples:
      aidnode sync
      aidnode sync --peer http://192.0.2.10:7420
    """
    config = ctx.config()
    running = running_node(ctx.home, config)
    now = ctx.clock.now_ms()
    if running is not None:
        with err_console().status(f"the running node (pid {running.pid}) is syncing…"):
            reply = await api_call(
                ctx.home,
                running,
                "POST",
                "/api/v1/sync",
                {"peer": url, "timeout_s": timeout},
                timeout_s=timeout + 30,
            )
        peers: list[dict[str, Any]] = reply["peers"]
    else:
        async with ctx.node() as node:
            from node.federation.peers import peer_states

            count = len(await peer_states(node.store)) if url is None else 1
            if count == 0:
                fail("no peers to sync with: add one with aidnode peer add URL")
            with progress(err_console()) as bar:
                task = bar.add_task("syncing", total=count)
                states = await sync_here(
                    node, url, on_round=lambda _: bar.advance(task), timeout_s=timeout
                )
            now = node.clock.now_ms()
            peers = [s.as_dict(now) for s in states]
            for p in peers:
                p["stream_open"] = None
    if not peers:
        fail("no peers to sync with: add one with aidnode peer add URL")
    failed = [p for p in peers if p["last_error"] and p["failures"]]
    emit(ctx, {"peers": peers}, lambda: console().print(peers_table(peers, now)))
    if failed:
        first = failed[0]
        others = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        error = first["last_error"]
        where = "" if error.startswith(first["url"]) else f"{first['url']}: "
        fail(f"sync failed with {where}{error}{others}")
