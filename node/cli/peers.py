"""``aidnode peer add|list|remove``: the other nodes this node gossips with."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

import click

from crypto import fingerprint
from node.cli.app import cli
from node.cli.context import Context, emit, fail, node_options, pass_context, run_async, warn
from node.cli.local import running_node
from node.cli.render import console, new_table, relative
from node.federation.peers import PeerState, add_peer, normalise_url, peer_states, remove_peer
from node.storage import Store

__all__ = ["peer"]

FIRST_ROUND_WAIT_S = 10.0


@cli.group()
def peer() -> None:
    """Choose the other nodes this node exchanges statements with.

    Peering is how groups reach each other: add the URL another group's operator gives you
    (and give them yours, `aidnode id` shows it). A peer is not trusted by being added;
    trust comes from endorsements (`aidnode endorse`).
    """


async def _reachable(url: str) -> str | None:
    """None if something accepts TCP connections at ``url``, else why not."""
    parts = urlsplit(url)
    try:
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_connection(parts.hostname, parts.port)
    except TimeoutError:
        return "no answer within 5 s"
    except OSError as exc:
        return exc.strerror or str(exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def _first_round(store: Store, url: str) -> PeerState | None:
    """Wait for the running node to finish a first round with ``url``."""
    async with asyncio.timeout(FIRST_ROUND_WAIT_S):
        while True:
            for state in await peer_states(store):
                if state.url == url and state.rounds > 0:
                    return state
            await asyncio.sleep(0.2)


@peer.command("add")
@click.argument("url")
@click.option("--no-check", is_flag=True, help="Do not try to reach the peer now.")
@node_options
@pass_context
@run_async
async def peer_add(ctx: Context, url: str, no_check: bool) -> None:
    """Add the node at URL as a peer (http://HOST:PORT, or https:// with TLS).

    If this node is running, it syncs with the new peer at once and this command reports how
    the first round went; otherwise it checks that the address answers.

    \b
    Example:
      aidnode peer add http://192.0.2.10:7420
    """
    url = normalise_url(url)
    async with ctx.store() as (config, store):
        now = ctx.clock.now_ms()
        added = await add_peer(store, url, now)
        result: dict[str, Any] = {"url": added, "checked": not no_check}
        running = running_node(ctx.home, config)
        if no_check:
            pass
        elif running is not None:
            try:
                state = await _first_round(store, added)
            except TimeoutError:
                state = None
            result["first_round"] = None if state is None else state.as_dict(now)
        else:
            result["unreachable"] = await _reachable(added)

    def text() -> None:
        click.echo(f"peer {added} added")
        if "first_round" in result:
            state = result["first_round"]
            if state is None:
                click.echo(
                    "the running node has not finished a first round yet: see aidnode status"
                )
            elif state["last_error"]:
                warn(
                    f"first sync failed: {state['last_error']}; "
                    "the node keeps retrying (aidnode status shows how it goes)"
                )
            else:
                org = state["org_key"]
                who = state["name"] or "?"
                fp = f" (fingerprint {fingerprint(bytes.fromhex(org))})" if org else ""
                click.echo(f"first sync ok: it is {who!r}{fp}")
        elif "unreachable" in result:
            if result["unreachable"]:
                warn(f"{added} cannot be reached now ({result['unreachable']}); kept anyway")
            else:
                click.echo(f"{added} answers; start `aidnode run` to sync with it")

    emit(ctx, result, text)


@peer.command("remove")
@click.argument("url")
@node_options
@pass_context
@run_async
async def peer_remove(ctx: Context, url: str) -> None:
    """Stop gossiping with a peer (what it sent stays stored).

    \b
    Example:
      aidnode peer remove http://192.0.2.10:7420
    """
    async with ctx.store() as (_, store):
        removed = await remove_peer(store, url)
    if not removed:
        fail(f"no such peer: {normalise_url(url)} (aidnode peer list shows them)")
    emit(ctx, {"removed": normalise_url(url)}, lambda: click.echo(f"peer {url} removed"))


def peer_word(state: dict[str, Any]) -> str:
    """One word for a peer's sync state, shared by ``peer list`` and ``status``."""
    if state["in_sync"] and not state["failures"]:
        return "in sync"
    if state["failures"]:
        return f"failing ×{state['failures']}"
    if not state["rounds"]:
        return "not synced yet"
    return "behind"


@peer.command("list")
@node_options
@pass_context
@run_async
async def peer_list(ctx: Context) -> None:
    """List peers and how syncing with each goes (aidnode status shows more).

    \b
    Example:
      aidnode peer list --json
    """
    async with ctx.store() as (_, store):
        now = ctx.clock.now_ms()
        peers = [state.as_dict(now) for state in await peer_states(store)]

    def text() -> None:
        if not peers:
            click.echo("no peers yet: aidnode peer add URL")
            return
        table = new_table("peer", "name", "state", "last success", "last error")
        for state in peers:
            table.add_row(
                state["url"],
                state["name"] or "",
                peer_word(state),
                relative(state["last_success_ms"], now),
                state["last_error"] or "",
            )
        console().print(table)

    emit(ctx, peers, text)
