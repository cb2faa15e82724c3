"""The ``aidnode`` command line (docs/operators.md).

Exit codes: 0 ok, 1 operational failure (one line on stderr saying why), 2 usage error (click
prints the usage). Every command works whether or not ``aidnode run`` is running for the same
home: commands write to the node's database directly, and a running node notices and pushes
those writes to its peers within a second.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from crypto import AidError, KdfParams, KeyMaterialError, WrongPassphraseError, fingerprint
from node import __version__
from node.federation.peers import add_peer, peer_states, remove_peer
from node.home import Home, resolve_home
from node.runtime import Node, init_home
from node.service import NodeService

P = ParamSpec("P")
T = TypeVar("T")

PASSPHRASE_ENV = "AIDNODE_PASSPHRASE"  # noqa: S105  # the variable name, not a secret


class Context:
    """What every command needs: the home, and how to get the passphrase."""

    def __init__(self, home: str | None, passphrase_file: str | None, as_json: bool) -> None:
        self.home = Home(resolve_home(home))
        self.passphrase_file = passphrase_file
        self.json = as_json

    def passphrase(self, *, confirm: bool = False) -> str | None:
        """From --passphrase-file, $AIDNODE_PASSPHRASE, or a prompt. None for a key file that
        was created with --insecure-no-passphrase."""
        if not confirm and self.home.key_path.exists() and _unencrypted(self.home.key_path):
            return None
        if self.passphrase_file:
            try:
                return Path(self.passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                fail(f"cannot read the passphrase file {self.passphrase_file}: {exc.strerror}")
        env = os.environ.get(PASSPHRASE_ENV)
        if env is not None:
            return env
        if not sys.stdin.isatty():
            fail(
                "a passphrase is needed: use --passphrase-file FILE or set AIDNODE_PASSPHRASE "
                "(no terminal to ask on)"
            )
        return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))

    async def open(self) -> Node:
        return await Node.open(self.home, self.passphrase())


def _unencrypted(path: Path) -> bool:
    from crypto import key_file_info

    try:
        return not key_file_info(path).encrypted
    except KeyMaterialError:
        return False


def fail(message: str) -> NoReturn:
    """Operational failure: one line on stderr, exit status 1."""
    click.echo(f"aidnode: {message}", err=True)
    sys.exit(1)


def _friendly(exc: AidError) -> str:
    if isinstance(exc, WrongPassphraseError):
        return "wrong passphrase for the key file"
    return str(exc)


def run_async(function: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body; turn our errors into exit status 1 with one line."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(function(*args, **kwargs))
        except AidError as exc:
            fail(_friendly(exc))
        except KeyboardInterrupt:
            fail("interrupted")

    return wrapper


async def with_node(ctx: Context, body: Callable[[Node], Awaitable[T]]) -> T:
    node = await ctx.open()
    try:
        return await body(node)
    finally:
        await node.close()


def emit(ctx: Context, data: Any, text: Callable[[], None]) -> None:
    """``--json``: the documented shape on stdout; else the human rendering."""
    if ctx.json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        text()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aidnode")
@click.option(
    "--home",
    envvar="AIDNODE_HOME",
    metavar="DIR",
    help="The node's home directory (default: $AIDNODE_HOME, else your user data directory).",
)
@click.option(
    "--passphrase-file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Read the key passphrase from FILE (else $AIDNODE_PASSPHRASE, else a prompt).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable shape).")
@click.pass_context
def cli(
    click_ctx: click.Context, home: str | None, passphrase_file: str | None, as_json: bool
) -> None:
    """aidnode: a coordination node for mutual-aid groups.

    Every group runs its own node. Needs, offers, pledges, deliveries and endorsements are
    signed events that nodes exchange with the peers their operators choose; each node
    decides locally whom it trusts.

    \b
    First steps:
      aidnode init --name "Ward 3 support group" --region CN-HB-WH
      aidnode run
      aidnode peer add http://192.0.2.10:7420
      aidnode status
    """
    click_ctx.obj = Context(home, passphrase_file, as_json)


@cli.command()
@click.option("--name", required=True, help="Your group's name, as other groups will see it.")
@click.option("--region", default="", help="Region code, e.g. CN-HB-WH (ISO 3166-2 style).")
@click.option(
    "--listen", default="127.0.0.1:7420", show_default=True, help="HOST:PORT to serve on."
)
@click.option(
    "--insecure-no-passphrase",
    is_flag=True,
    help="Store the key file UNENCRYPTED. For demos and tests only: anyone who can read the "
    "file can sign as your group.",
)
@click.option("--kdf-ops", type=int, default=None, hidden=True, help="Argon2id opslimit (tests).")
@click.option("--kdf-mem", type=int, default=None, hidden=True, help="Argon2id memlimit (tests).")
@click.pass_obj
@run_async
async def init(
    ctx: Context,
    name: str,
    region: str,
    listen: str,
    insecure_no_passphrase: bool,
    kdf_ops: int | None,
    kdf_mem: int | None,
) -> None:
    """Create a node: keys, configuration and an empty database.

    \b
    Example:
      aidnode --home ~/ward3 init --name "Xiehe ward 3 support group" --region CN-HB-WH
    """
    if insecure_no_passphrase:
        click.echo(
            "WARNING: the key file will be stored UNENCRYPTED (--insecure-no-passphrase). "
            "Use this for demos and tests only.",
            err=True,
        )
        passphrase = None
    else:
        passphrase = ctx.passphrase(confirm=True)
    params = KdfParams(
        **{k: v for k, v in (("opslimit", kdf_ops), ("memlimit", kdf_mem)) if v is not None}
    )
    config = init_home(
        ctx.home, name=name, region=region, passphrase=passphrase, listen=listen, kdf=params
    )
    node = await Node.open(ctx.home, passphrase)
    try:
        org = node.org
    finally:
        await node.close()
    emit(
        ctx,
        {"home": str(ctx.home.root), "org": config.org, "fingerprint": fingerprint(org)},
        lambda: click.echo(
            f"Created node {config.name!r} in {ctx.home.root}\n"
            f"  org key:     {config.org}\n"
            f"  fingerprint: {fingerprint(org)}  (read this aloud when groups meet)\n"
            f"Next: aidnode --home {ctx.home.root} run"
        ),
    )


@cli.command()
@click.option(
    "--listen", default=None, metavar="HOST:PORT", help="Override the configured address."
)
@click.pass_obj
@run_async
async def run(ctx: Context, listen: str | None) -> None:
    """Run the node: serve peers, gossip, push new events (until Ctrl-C).

    \b
    Example:
      aidnode --home ~/ward3 run --listen 0.0.0.0:7420
    """
    node = await ctx.open()
    try:
        if listen:
            node.config = node.config.with_changes(listen=listen)
        service = NodeService(node)

        def ready(port: int) -> None:
            click.echo(
                f"aidnode: {node.config.name} serving on {node.config.host}:{port}", err=True
            )

        await service.run_forever(node.config.host, node.config.port, ready)
    finally:
        await node.close()


@cli.group()
def peer() -> None:
    """Manage the peers this node gossips with."""


@peer.command("add")
@click.argument("url")
@click.pass_obj
@run_async
async def peer_add(ctx: Context, url: str) -> None:
    """Add a peer by URL, e.g. http://192.0.2.10:7420 (a running node starts at once)."""

    async def body(node: Node) -> str:
        return await add_peer(node.store, url, node.clock.now_ms())

    added = await with_node(ctx, body)
    emit(ctx, {"url": added}, lambda: click.echo(f"peer {added} added"))


@peer.command("remove")
@click.argument("url")
@click.pass_obj
@run_async
async def peer_remove(ctx: Context, url: str) -> None:
    """Stop gossiping with a peer."""

    async def body(node: Node) -> bool:
        return await remove_peer(node.store, url)

    if not await with_node(ctx, body):
        fail(f"no such peer: {url}")
    emit(ctx, {"removed": url}, lambda: click.echo(f"peer {url} removed"))


@peer.command("list")
@click.pass_obj
@run_async
async def peer_list(ctx: Context) -> None:
    """List peers and their sync state."""

    async def body(node: Node) -> list[dict[str, Any]]:
        now = node.clock.now_ms()
        return [state.as_dict(now) for state in await peer_states(node.store)]

    peers = await with_node(ctx, body)

    def text() -> None:
        for state in peers:
            in_sync, last = state["in_sync"], state["last_outcome"]
            click.echo(f"{state['url']}  in sync: {in_sync}  last: {last}")

    emit(ctx, peers, text)


def main() -> None:
    """Console-script entry point."""
    cli()
