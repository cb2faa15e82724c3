"""``aidnode export`` / ``aidnode import``: carrying signed events where there is no internet."""

from __future__ import annotations

from pathlib import Path

import click

from crypto import decode_key
from node.bundles import export_bundle, import_bundle, read_bundle
from node.cli.app import cli
from node.cli.context import Context, emit, node_options, pass_context, run_async, warn
from node.cli.local import RemoteIngest
from node.cli.render import err_console, progress
from node.inputs import parse_since

__all__ = ["export_command", "import_command"]


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="Only events this node received since then: 7d, 12h, or a date (2020-02-01).",
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@node_options
@pass_context
@run_async
async def export_command(ctx: Context, file: str, since: str | None, force: bool) -> None:
    """Write signed events to FILE (e.g. on a USB stick) for a node without internet to
    `aidnode import`. Everything is signed: the stick cannot be used to forge anything, but
    anyone holding it can read what is public in it. Needs no passphrase.

    \b
    Examples:
      aidnode export /media/usb/hubei-2020-02-14.aidb
      aidnode export /media/usb/this-week.aidb --since 7d
    """
    path = Path(file)
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists (use --force to overwrite it)")
    now = ctx.clock.now_ms()
    since_ms = parse_since("--since", since, now) if since else None
    async with ctx.store() as (config, store):
        with progress(err_console()) as bar:
            task = bar.add_task("exporting", total=None)
            count = await export_bundle(
                store,
                path,
                created_ms=now,
                org=decode_key(config.org),
                name=config.name,
                since_ms=since_ms,
                on_total=lambda total: bar.update(task, total=total),
                on_event=lambda: bar.advance(task),
            )
    emit(
        ctx,
        {"file": str(path), "events": count, "since_ms": since_ms},
        lambda: click.echo(f"wrote {count:,} events to {path}"),
    )


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--salvage",
    is_flag=True,
    help="From a damaged bundle, import the events that can still be read (each is still "
    "verified).",
)
@node_options
@pass_context
@run_async
async def import_command(ctx: Context, file: str, salvage: bool) -> None:
    """Import a bundle made by `aidnode export`. Every event is verified exactly as if it
    came from a peer; the report says how many were new, already here, quarantined (author
    not trusted yet) or rejected, and why. A running node pushes the new ones to its peers.

    \b
    Example:
      aidnode import /media/usb/hubei-2020-02-14.aidb
    """
    header, wires = read_bundle(Path(file), salvage=salvage)
    running = ctx.running()
    with progress(err_console()) as bar:
        task = bar.add_task("importing", total=len(wires))
        if running is not None:  # the running node stores them (and pushes them at once)
            report = await import_bundle(
                RemoteIngest(ctx.home, running), wires, on_batch=lambda n: bar.advance(task, n)
            )
        else:
            async with ctx.store() as (config, store):
                await ctx.trust(config, store)  # authors not accepted wait in quarantine
                report = await import_bundle(store, wires, on_batch=lambda n: bar.advance(task, n))
    data = {"file": file, "from": header.name, **report.as_dict()}

    def text() -> None:
        source = f" from {header.name!r}" if header.name else ""
        click.echo(
            f"imported {report.total:,} events{source}: {report.accepted:,} new, "
            f"{report.duplicate:,} already here, {report.quarantined:,} quarantined, "
            f"{report.rejected:,} rejected"
        )
        for code, count in sorted(report.rejections.items()):
            warn(f"{count:,} rejected as {code}")

    emit(ctx, data, text)
