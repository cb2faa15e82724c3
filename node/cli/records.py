"""Needs and offers: ``need add``, ``offer add``, ``list``, ``show``, ``update``, ``withdraw``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from node.cli.app import cli
from node.cli.context import Context, emit, node_options, pass_context, report, run_async
from node.cli.local import api_call
from node.cli.render import console, new_table, quantity, relative, short
from node.inputs import (
    InputError,
    parse_key,
    parse_line,
    parse_line_qty,
    parse_when,
)
from node.lookup import find_event, org_names
from node.operations import (
    ContactSpec,
    RecordDraft,
    post_record,
    update_record,
    withdraw,
)
from node.presentation import record_json, summary_json
from node.storage import RecordQuery
from protocol import Transport, Urgency
from sync.views import Progress, Status

__all__ = ["list_records", "need", "offer", "show", "update", "withdraw_command"]

URGENCIES = [u.value for u in Urgency]
URGENCY_WORDS = {
    "24h": "within 24 hours",
    "3d": "within 3 days",
    "1w": "within a week",
    "any": "anytime",
}


def _record_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--title", required=True, help="One line saying what this is about."),
        click.option(
            "--line",
            "lines",
            multiple=True,
            required=True,
            metavar="ITEM:CATEGORY:QTY:UNIT",
            help="One item (repeat for more, up to 32). QTY is a whole number or 'unlimited'; "
            "CATEGORY is a dotted code such as medical.ppe, hygiene.menstrual, food.groceries, "
            "transport.",
        ),
        click.option(
            "--region",
            default=None,
            help="Region code, e.g. CN-HB-WH (default: the node's region).",
        ),
        click.option(
            "--urgency",
            type=click.Choice(URGENCIES),
            default="3d",
            show_default=True,
            help="24h, 3d (within 3 days), 1w (within a week) or any.",
        ),
        click.option(
            "--expires",
            default="14d",
            show_default=True,
            metavar="WHEN",
            help="When it stops being listed: a duration (14d, 36h) or a date (2020-02-20).",
        ),
        click.option(
            "--contact",
            required=True,
            help="How to reach your group about it. Public, unless --contact-sealed-to is given.",
        ),
        click.option(
            "--contact-sealed-to",
            "sealed_to",
            multiple=True,
            metavar="KEY",
            help="Seal the contact so only these groups (their aid1… keys; repeat) and your "
            "own can read it.",
        ),
        click.option(
            "--sensitive",
            is_flag=True,
            help="For HIV medicine, people's situations…: needs --contact-sealed-to and "
            "--detail; keep the line items generic, the specifics go in --detail.",
        ),
        click.option(
            "--detail", default=None, help="Details sealed to the same groups as the contact."
        ),
        click.option("--place", default=None, help="A coarse place (district, hospital name)."),
        click.option(
            "--needed-by", default=None, metavar="WHEN", help="Deadline: 3d or 2020-02-20."
        ),
        click.option("--source", default=None, help="Where this came from (a board, a call)."),
        click.option(
            "--transport",
            type=click.Choice([t.value for t in Transport]),
            default=None,
            help="needed (someone must deliver), provided (delivery included), not_needed.",
        ),
        click.option("--note", default=None, help="Anything else, public."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _add_command(kind: str, about: str, example: str) -> Callable[..., Any]:
    @_record_options
    @node_options
    @pass_context
    @run_async
    async def add(
        ctx: Context,
        title: str,
        lines: tuple[str, ...],
        region: str | None,
        urgency: str,
        expires: str,
        contact: str,
        sealed_to: tuple[str, ...],
        sensitive: bool,
        detail: str | None,
        place: str | None,
        needed_by: str | None,
        source: str | None,
        transport: str | None,
        note: str | None,
    ) -> None:
        now = ctx.clock.now_ms()
        specs = tuple(parse_line(text) for text in lines)
        recipients = tuple(parse_key("--contact-sealed-to", key) for key in sealed_to)
        async with ctx.node() as node:
            draft = RecordDraft(
                kind=kind,
                title=title,
                lines=specs,
                region=region or node.config.region,
                urgency=urgency,
                expires_ms=parse_when("--expires", expires, now),
                contact=ContactSpec(text=contact, sealed_to=recipients),
                sensitive=sensitive,
                detail=detail,
                place=place,
                needed_by_ms=parse_when("--needed-by", needed_by, now) if needed_by else None,
                source=source,
                transport=transport,
                note=note,
            )
            if not draft.region:
                raise InputError("--region", "give a region code (the node has none configured)")
            done = await post_record(node, draft)
        report(ctx, done, f"{kind} {short(done.event.id)} posted: {title}")

    add.__doc__ = (
        f"Post a new {kind}: what, how many, where, how urgent, how to reach you.\n\n"
        f"{about}\n\n\b\nExample:\n{example}\n"
    )
    return add


@cli.group()
def need() -> None:
    """Post what your group needs (aidnode need add --help)."""


@cli.group()
def offer() -> None:
    """Post what your group can give (aidnode offer add --help)."""


need.command("add")(
    _add_command(
        "need",
        "Each --line is one item: ITEM:CATEGORY:QTY:UNIT. Every node shows how much of each "
        "line is pledged, sent and received, so donors send what is still missing.",
        '  aidnode need add --title "PPE for ward 3" \\\n'
        '    --line "N95 respirator:medical.ppe:2000:pieces" \\\n'
        '    --line "disposable protective suit:medical.ppe:500:pieces" \\\n'
        "    --urgency 24h --expires 14d \\\n"
        '    --contact "Nurse Wang 027-8572-0000" --contact-sealed-to aid1…',
    )
)
offer.command("add")(
    _add_command(
        "offer",
        "Each --line is one item: ITEM:CATEGORY:QTY:UNIT (QTY may be 'unlimited'). Groups "
        "that need it claim from it with `aidnode pledge OFFER-ID`.",
        '  aidnode offer add --title "Van and driver for supply runs in Wuhan" \\\n'
        '    --line "van for supply delivery:transport:20:trips" --urgency any \\\n'
        '    --contact "convoy dispatch, WeChat wh-convoy" --transport provided',
    )
)


STATUS_CHOICES = [*(s.value for s in Status), "all"]


@cli.command("list")
@click.argument("kind", required=False, type=click.Choice(["needs", "offers"]))
@click.option("--region", default=None, help="Only this region and its sub-regions (CN-HB).")
@click.option("--category", default=None, help="Only lines in this category or below (medical).")
@click.option(
    "--status",
    type=click.Choice(STATUS_CHOICES),
    default="open",
    show_default=True,
    help="open, fulfilled, withdrawn, expired, void, or all.",
)
@click.option(
    "--verified/--unverified",
    default=None,
    help="Only records attested by a group this node trusts as a verifier (or only not).",
)
@click.option("--text", default=None, help="Words in the title or an item.")
@click.option("--org", default=None, metavar="KEY", help="Only records of this group.")
@click.option(
    "--pledged",
    type=click.Choice([p.value for p in Progress]),
    default=None,
    help="How far pledges cover the record: none, partial, complete.",
)
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@node_options
@pass_context
@run_async
async def list_records(
    ctx: Context,
    kind: str | None,
    region: str | None,
    category: str | None,
    status: str,
    verified: bool | None,
    text: str | None,
    org: str | None,
    pledged: str | None,
    limit: int,
    offset: int,
) -> None:
    """List needs and offers, most urgent first.

    \b
    Examples:
      aidnode list needs --region CN-HB-WH --category medical.ppe
      aidnode list --status all --text mask --json
    """
    query = RecordQuery(
        kind=kind[:-1] if kind else None,
        region=region,
        category=category,
        text=text,
        status=None if status == "all" else Status(status),
        verified=verified,
        org=parse_key("--org", org) if org else None,
        pledge_status=Progress(pledged) if pledged else None,
        limit=limit,
        offset=offset,
    )
    async with ctx.store() as (_, store):
        rows = await store.list_records(query)
        names = await org_names(store)
    data = [summary_json(row, names) for row in rows]
    now = ctx.clock.now_ms()

    def render() -> None:
        if not data:
            click.echo("nothing matches")
            return
        table = new_table(
            "id",
            "kind",
            "title",
            "group",
            "region",
            "urgency",
            "status",
            "lines",
            "verified",
            "updated",
        )
        for row in data:
            lines = "; ".join(
                f"{line['item']} {line['received']:,}/{quantity(line['qty'], line['unit'])}"
                for line in row["lines"][:3]
            ) + ("; …" if len(row["lines"]) > 3 else "")
            table.add_row(
                short(row["id"]),
                row["kind"],
                row["title"][:40],
                (row["org_name"] or row["org"] or "")[:30],
                row["region"],
                row["urgency"],
                row["status"]
                + (f", pledges {row['pledge_status']}" if row["status"] == "open" else ""),
                lines,
                "✓" if row["verified"] else "",
                relative(row["updated_ms"], now),
            )
        console().print(table)

    emit(ctx, data, render)


@cli.command()
@click.argument("record_id", metavar="ID")
@node_options
@pass_context
@run_async
async def show(ctx: Context, record_id: str) -> None:
    """Show one need or offer in full: lines, pledges, who verified it, its history, and
    statements that had no effect (with the reason). ID may be a pledge's id too.

    Sealed contact and detail are opened if this node is a recipient (the key file is read,
    so the passphrase is asked for on a terminal).

    \b
    Example:
      aidnode show 3fa9c2e1
    """
    running = ctx.running()
    if running is not None:  # it holds the trust state that decides "verified"
        data = await api_call(ctx.home, running, "GET", f"/api/v1/records/{record_id}")
        found_pledge = next(
            (p["id"] for p in data["pledges"] if p["id"].startswith(record_id)), None
        )
        emit(ctx, data, lambda: _render_record(data, ctx.clock.now_ms(), found_pledge))
        return
    async with ctx.store() as (config, store):
        found = await find_event(store, record_id, ("need", "offer", "pledge"))
        record = found.record or found.id
        loaded = await store.record(record)
        if loaded is None:
            raise InputError("ID", f"{record_id}: its record has not reached this node yet")
        view, history = loaded
        names = await org_names(store)
        keeper = await ctx.trust(config, store)
        sealed = view.contact.sealed is not None or view.detail is not None
        opener = ctx.signer_if_available(may_prompt=True) if sealed else None
        data = record_json(
            view,
            history,
            now_ms=ctx.clock.now_ms(),
            identity=store.identity,
            names=names,
            verified_by=keeper.verified_by(view),
            opener=opener,
        )
    pledge = found.id.hex() if found.kind == "pledge" else None
    emit(ctx, data, lambda: _render_record(data, ctx.clock.now_ms(), pledge))


def _who(entry: dict[str, Any], key: str = "org") -> str:
    return entry.get(f"{key}_name") or entry.get(key) or "?"


def _sealed_text(field: dict[str, Any]) -> str:
    if "public" in field:
        return str(field["public"])
    if field["opened"]:
        return f"{field['text']}  [dim](sealed to {field['recipients']} groups; you are one)[/dim]"
    return f"[dim]sealed to {field['recipients']} groups (this node cannot open it)[/dim]"


def _render_record(data: dict[str, Any], now: int, pledge: str | None) -> None:
    out = console()
    status = data["status"]
    colour = {"open": "green", "fulfilled": "blue", "withdrawn": "yellow"}.get(status, "red")
    out.print(
        f"[bold]{data['kind'].upper()} {data['id'][:12]}[/bold]  {data['title']}  "
        f"[{colour}]{status}[/{colour}]" + ("  [bold]SENSITIVE[/bold]" if data["sensitive"] else "")
    )
    out.print(f"  by        {_who(data)}  ({data['org']})")
    region = data["region"] + (f", {data['place']}" if data["place"] else "")
    out.print(f"  region    {region}")
    out.print(f"  urgency   {URGENCY_WORDS.get(data['urgency'], data['urgency'])}")
    posted, updated = relative(data["created_ms"], now), relative(data["updated_ms"], now)
    out.print(f"  posted    {posted}, updated {updated}")
    out.print(f"  expires   {relative(data['expires_ms'], now)}")
    if data["needed_by_ms"]:
        out.print(f"  needed by {relative(data['needed_by_ms'], now)}")
    out.print(f"  contact   {_sealed_text(data['contact'])}")
    if data["detail"]:
        out.print(f"  detail    {_sealed_text(data['detail'])}")
    for label in ("source", "transport", "note"):
        if data[label]:
            out.print(f"  {label:<9} {data[label]}")
    if data["verified"]:
        names = ", ".join(_who(v) for v in data["verified_by"])
        out.print(f"  verified  [green]✓[/green] by {names}")
    elif data["verifications"]:
        out.print("  verified  not by a group this node trusts as a verifier")
    if data["withdrawal"]:
        withdrawal = data["withdrawal"]
        out.print(f"  withdrawn {relative(withdrawal['at_ms'], now)}: {withdrawal['reason']}")
    if data["void_reason"]:
        out.print(f"  [red]void: {data['void_reason']}[/red]")

    lines = new_table(
        "#", "item", "category", "asked", "pledged", "delivered", "received", "still unpledged"
    )
    for line in data["lines"]:
        unit = line["unit"]
        lines.add_row(
            str(line["line"]), line["item"], line["category"], quantity(line["qty"], unit),
            f"{line['pledged']:,}", f"{line['delivered']:,}", f"{line['received']:,}",
            "-" if line["unpledged"] is None else quantity(line["unpledged"], unit),
        )  # fmt: skip
    out.print(lines)
    if data["pledges"]:
        table = new_table("pledge", "by", "line", "qty", "delivered", "received", "when")
        for p in data["pledges"]:
            marker = " ←" if p["id"] == pledge else ""
            table.add_row(
                short(p["id"]) + marker,
                _who(p) + (" (cancelled)" if p["cancelled"] else ""),
                str(p["line"]), f"{p['qty']:,}", f"{p['delivered']:,}", f"{p['received']:,}",
                relative(p["created_ms"], now),
            )  # fmt: skip
        out.print(table)
    if data["verifications"]:
        table = new_table("verified by", "method", "counts here", "note", "when")
        for v in data["verifications"]:
            table.add_row(
                _who(v), v["method"], "yes" if v["counts"] else "no (not a trusted verifier)",
                v["note"] or "", relative(v["at_ms"], now),
            )  # fmt: skip
        out.print(table)
    if data["ignored"]:
        table = new_table("no effect", "kind", "by", "why")
        for i in data["ignored"]:
            table.add_row(short(i["id"]), i["kind"], i["author"][:16] + "…", i["reason_text"])
        out.print(table)
    history = new_table("history", "kind", "by", "when")
    for h in data["history"]:
        history.add_row(
            short(h["id"]) + ("" if h["effective"] else " (no effect)"),
            h["kind"], _who(h), relative(h["at_ms"], now),
        )  # fmt: skip
    out.print(history)


@cli.command()
@click.argument("record_id", metavar="ID")
@click.option("--title", default=None)
@click.option("--urgency", type=click.Choice(URGENCIES), default=None)
@click.option("--region", default=None)
@click.option("--expires", default=None, metavar="WHEN", help="14d, 36h or a date.")
@click.option("--needed-by", default=None, metavar="WHEN")
@click.option("--place", default=None)
@click.option("--note", default=None)
@click.option("--source", default=None)
@click.option("--transport", type=click.Choice([t.value for t in Transport]), default=None)
@click.option(
    "--line-qty",
    "line_qtys",
    multiple=True,
    metavar="N=QTY",
    help="New quantity for line N (from 1): 2=500 or 1=unlimited. Repeat for more lines.",
)
@click.option("--contact", default=None, help="New contact (public unless sealed).")
@click.option("--contact-sealed-to", "sealed_to", multiple=True, metavar="KEY")
@click.option("--detail", default=None, help="New sealed detail (needs --contact-sealed-to).")
@node_options
@pass_context
@run_async
async def update(
    ctx: Context,
    record_id: str,
    title: str | None,
    urgency: str | None,
    region: str | None,
    expires: str | None,
    needed_by: str | None,
    place: str | None,
    note: str | None,
    source: str | None,
    transport: str | None,
    line_qtys: tuple[str, ...],
    contact: str | None,
    sealed_to: tuple[str, ...],
    detail: str | None,
) -> None:
    """Change one of your group's needs or offers. Only the fields you give change; if two
    people change the same field, the later change wins on every node alike.

    \b
    Examples:
      aidnode update 3fa9c2e1 --urgency 24h
      aidnode update 3fa9c2e1 --line-qty 1=3000 --expires 7d
    """
    now = ctx.clock.now_ms()
    changes = {
        "title": title,
        "urgency": urgency,
        "region": region,
        "expires": parse_when("--expires", expires, now) if expires else None,
        "needed_by": parse_when("--needed-by", needed_by, now) if needed_by else None,
        "place": place,
        "note": note,
        "source": source,
        "transport": transport,
    }
    quantities = [parse_line_qty(text) for text in line_qtys]
    if sealed_to and contact is None:
        raise InputError("--contact-sealed-to", "give the new --contact text to seal")
    spec = (
        None
        if contact is None
        else ContactSpec(
            text=contact, sealed_to=tuple(parse_key("--contact-sealed-to", k) for k in sealed_to)
        )
    )
    async with ctx.node() as node:
        done = await update_record(
            node, record_id, changes, line_qtys=quantities, contact=spec, detail=detail
        )
    report(ctx, done, f"updated {short(done.record or b'')} ({short(done.event.id)})")


@cli.command("withdraw")
@click.argument("record_id", metavar="ID")
@click.option("--reason", default="no longer needed", show_default=True)
@node_options
@pass_context
@run_async
async def withdraw_command(ctx: Context, record_id: str, reason: str) -> None:
    """Withdraw one of your group's needs or offers (final: it cannot be reopened).

    \b
    Example:
      aidnode withdraw 3fa9c2e1 --reason "covered by the city's delivery"
    """
    async with ctx.node() as node:
        done = await withdraw(node, record_id, reason)
    report(ctx, done, f"withdrew {short(done.record or b'')}")
