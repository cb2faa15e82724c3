"""``aidnode init``, ``run`` and ``id``: creating a node, running it, and telling who it is."""

from __future__ import annotations

import logging

import click

from crypto import KdfParams, decode_key, encode_key, fingerprint, key_file_info
from node.cli.app import cli
from node.cli.context import Context, emit, fail, node_options, pass_context, run_async, warn
from node.cli.local import running_node
from node.cli.render import console
from node.runtime import NODE_KEY_NAME, Node, init_home
from node.service import NodeService

__all__ = ["id_command", "init", "run"]


@cli.command()
@click.option("--name", required=True, help="Your group's name, as other groups will see it.")
@click.option("--region", default="", help="Your region code, e.g. CN-HB-WH (ISO 3166-2 style).")
@click.option(
    "--listen",
    default="127.0.0.1:7420",
    show_default=True,
    metavar="HOST:PORT",
    help="Where `aidnode run` serves other nodes (0.0.0.0:7420 to be reachable from outside).",
)
@click.option(
    "--insecure-no-passphrase",
    is_flag=True,
    help="Store the key file UNENCRYPTED. For demos and tests only: anyone who can read the "
    "file can sign as your group.",
)
@click.option("--kdf-ops", type=int, default=None, hidden=True, help="Argon2id opslimit (tests).")
@click.option("--kdf-mem", type=int, default=None, hidden=True, help="Argon2id memlimit (tests).")
@node_options
@pass_context
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
    """Create a node: your group's keys, its configuration and an empty database.

    You choose a passphrase that encrypts the key file; every command that signs something
    asks for it (or reads it from --passphrase-file or $AIDNODE_PASSPHRASE).

    \b
    Example:
      aidnode --home ~/ward3 init --name "Xiehe Hospital ward 3 support group" --region CN-HB-WH
    """
    if insecure_no_passphrase:
        click.echo(
            "WARNING: --insecure-no-passphrase: the key file is stored UNENCRYPTED. Anyone "
            "who can read it can sign as your group. Use this for demos and tests only.",
            err=True,
        )
        passphrase = None
    else:
        passphrase = ctx.passphrase(confirm=True, prompt="Choose a passphrase for the key file")
    params = KdfParams(
        **{k: v for k, v in (("opslimit", kdf_ops), ("memlimit", kdf_mem)) if v is not None}
    )
    home = ctx.home
    config = init_home(
        home, name=name, region=region, passphrase=passphrase, listen=listen, kdf=params
    )
    node = await Node.open(home, passphrase)  # writes the org's incept and profile
    await node.close()
    org = decode_key(config.org)
    emit(
        ctx,
        {
            "home": str(home.root),
            "name": config.name,
            "org": config.org,
            "fingerprint": fingerprint(org),
            "token_path": str(home.token_path),
        },
        lambda: click.echo(
            f"Created the node {config.name!r} in {home.root}\n"
            f"  org key:     {config.org}\n"
            f"  fingerprint: {fingerprint(org)}  (read it aloud when groups meet)\n"
            f"  API token:   {home.token_path}\n"
            "Back up the key file and remember the passphrase: without both, nobody can sign\n"
            "as your group again. Then keep your next key offline: aidnode key export-next FILE\n"
            f"Next: aidnode --home {home.root} run"
        ),
    )


@cli.command()
@click.option(
    "--listen", default=None, metavar="HOST:PORT", help="Override the configured address."
)
@click.option("-v", "--verbose", count=True, help="More log lines (-vv: debug).")
@node_options
@pass_context
@run_async
async def run(ctx: Context, listen: str | None, verbose: int) -> None:
    """Run the node until Ctrl-C: serve peers, gossip, push new statements at once.

    Also serves the local JSON API (/api/v1/…, bearer token from HOME/api.token) and
    Prometheus metrics (/metrics, same token). Other aidnode commands keep working while it
    runs; what they write is pushed to peers within a second.

    \b
    Example:
      aidnode --home ~/ward3 run --listen 0.0.0.0:7420
    """
    from node import api  # noqa: F401  # importing it registers the local API and /metrics

    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="aidnode: %(message)s")
    config = ctx.config()
    already = running_node(ctx.home, config)
    if already is not None:
        fail(f"this node is already running (pid {already.pid}, {already.url})")
    async with ctx.node() as node:
        if listen:
            node.config = node.config.with_changes(listen=listen)
        service = NodeService(node)

        def ready(port: int) -> None:
            base = running_node(node.home, node.config)
            url = base.url if base else f"http://{node.config.host}:{port}"
            click.echo(
                f"aidnode: {node.config.name} serving peers on {node.config.host}:{port}\n"
                f"aidnode: local API {url}/api/v1 and {url}/metrics "
                f"(token in {node.home.token_path})\n"
                "aidnode: press Ctrl-C to stop",
                err=True,
            )
            if node.config.host not in ("127.0.0.1", "localhost", "::1") and not node.config.tls:
                warn("serving beyond this machine without TLS (set tls = true in config.toml)")

        await service.run_forever(node.config.host, node.config.port, ready)


@cli.command("id")
@node_options
@pass_context
def id_command(ctx: Context) -> None:
    """Show who this node is: the group's key and fingerprint to share with other groups.

    Give other groups your org key (for `aidnode endorse` and sealed contacts) and read the
    fingerprint aloud to them, so they know the key is really yours. Needs no passphrase.

    \b
    Example:
      aidnode id
    """
    config = ctx.config()
    info = key_file_info(ctx.home.key_path)
    org = decode_key(config.org)
    current = info.current_public_key
    node_key = info.extra_public_keys.get(NODE_KEY_NAME)
    data = {
        "name": config.name,
        "region": config.region or None,
        "org": config.org,
        "fingerprint": fingerprint(org),
        "current_key": encode_key(current) if current else None,
        "rotated": current != org,
        "node_key": encode_key(node_key) if node_key else None,
        "next_key_committed": info.next_key_digest is not None,
        "next_key_in_key_file": info.next_seed_stored,
        "key_file_encrypted": info.encrypted,
        "url": config.url,
        "home": str(ctx.home.root),
    }

    def text() -> None:
        out = console()
        out.print(f"[bold]{config.name}[/bold]" + (f"  ({config.region})" if config.region else ""))
        out.print(f"  org key      {config.org}")
        out.print(f"  fingerprint  [bold]{fingerprint(org)}[/bold]")
        if current is not None and current != org:
            out.print(f"  signing key  {encode_key(current)} (rotated)")
        if node_key:
            out.print(f"  node key     {encode_key(node_key)}")
        out.print(f"  reachable at {config.url}")
        where = "in the key file" if info.next_seed_stored else "kept offline"
        out.print(f"  next key     committed, {where}")
        if not info.encrypted:
            out.print("  [red]key file is UNENCRYPTED[/red] (--insecure-no-passphrase)")

    emit(ctx, data, text)
