"""Giving and confirming: ``pledge``, ``deliver``, ``receive``, ``cancel``, ``verify``."""

from __future__ import annotations

import click

from node.cli.app import cli
from node.cli.context import Context, node_options, pass_context, report, run_async
from node.cli.render import short
from node.inputs import parse_when
from node.operations import cancel, deliver, pledge, receive, verify
from protocol import VerifyMethod

__all__ = [
    "cancel_command",
    "deliver_command",
    "pledge_command",
    "receive_command",
    "verify_command",
]

QTY = click.IntRange(1, 1_000_000_000)


@cli.command("pledge")
@click.argument("record_id", metavar="ID")
@click.option(
    "--line",
    "line_number",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Which line (as `aidnode show` numbers them, from 1).",
)
@click.option("--qty", type=QTY, required=True, help="How many (a whole number ≥ 1).")
@click.option("--note", default=None, help="A public note, e.g. when and how.")
@click.option("--available-from", default=None, metavar="WHEN", help="From when: 2d or a date.")
@click.option(
    "--over",
    is_flag=True,
    help="Pledge more than is still unpledged (refused otherwise: donors in 2020 too often "
    "sent far more than was needed).",
)
@node_options
@pass_context
@run_async
async def pledge_command(
    ctx: Context,
    record_id: str,
    line_number: int,
    qty: int,
    note: str | None,
    available_from: str | None,
    over: bool,
) -> None:
    """Promise to give against a need (or to take from an offer): line N, quantity Q.

    Everyone sees the pledge at once, so nobody else sends what you have promised.

    \b
    Example:
      aidnode pledge 3fa9c2e1 --line 1 --qty 1000 --note "from the Shenzhen drive"
    """
    now = ctx.clock.now_ms()
    available = parse_when("--available-from", available_from, now) if available_from else None
    async with ctx.node() as node:
        done = await pledge(
            node, record_id, line_number, qty, note=note, available_from_ms=available, over=over
        )
    report(
        ctx,
        done,
        f"pledged {qty:,} on line {line_number} of {short(done.record or b'')}: "
        f"pledge {short(done.event.id)} (use this id for deliver / receive / cancel)",
    )


@cli.command("deliver")
@click.argument("pledge_id", metavar="PLEDGE")
@click.option("--qty", type=QTY, required=True, help="How many were sent.")
@click.option("--note", default=None, help="E.g. the convoy's trip number.")
@node_options
@pass_context
@run_async
async def deliver_command(ctx: Context, pledge_id: str, qty: int, note: str | None) -> None:
    """Record that goods were sent against a pledge (the giving side does this).

    \b
    Example:
      aidnode deliver 9b1c44a0 --qty 1000 --note "convoy trip 17"
    """
    async with ctx.node() as node:
        done = await deliver(node, pledge_id, qty, note)
    report(ctx, done, f"recorded {qty:,} sent against pledge {short(pledge_id)}")


@cli.command("receive")
@click.argument("pledge_id", metavar="PLEDGE")
@click.option("--qty", type=QTY, required=True, help="How many arrived.")
@click.option("--note", default=None)
@node_options
@pass_context
@run_async
async def receive_command(ctx: Context, pledge_id: str, qty: int, note: str | None) -> None:
    """Record that goods arrived against a pledge (the receiving side does this). Only
    receipts fulfil a need.

    \b
    Example:
      aidnode receive 9b1c44a0 --qty 1000
    """
    async with ctx.node() as node:
        done = await receive(node, pledge_id, qty, note)
    report(ctx, done, f"recorded {qty:,} received against pledge {short(pledge_id)}")


@cli.command("cancel")
@click.argument("pledge_id", metavar="PLEDGE")
@click.option("--reason", default=None)
@node_options
@pass_context
@run_async
async def cancel_command(ctx: Context, pledge_id: str, reason: str | None) -> None:
    """Cancel one of your group's pledges (the quantity becomes unpledged again).

    \b
    Example:
      aidnode cancel 9b1c44a0 --reason "the masks were seized at the checkpoint"
    """
    async with ctx.node() as node:
        done = await cancel(node, pledge_id, reason)
    report(ctx, done, f"cancelled pledge {short(pledge_id)}")


@cli.command("verify")
@click.argument("record_id", metavar="ID")
@click.option(
    "--method",
    type=click.Choice([m.value for m in VerifyMethod]),
    required=True,
    help="How you checked: phone, visit, document, known_contact, other.",
)
@click.option("--note", default=None, help="What you checked (public).")
@node_options
@pass_context
@run_async
async def verify_command(ctx: Context, record_id: str, method: str, note: str | None) -> None:
    """Attest that a need or offer is genuine. Nodes that trust your group as a verifier
    show it as verified, so others need not check again.

    \b
    Example:
      aidnode verify 3fa9c2e1 --method phone --note "called the ward desk, spoke to Dr Li"
    """
    async with ctx.node() as node:
        done = await verify(node, record_id, method, note)
    report(ctx, done, f"verified {short(done.record or b'')} ({method})")
