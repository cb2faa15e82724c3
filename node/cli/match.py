"""``aidnode match``: which offers could meet which needs."""

from __future__ import annotations

from typing import Any

import click

from crypto import decode_key, encode_key
from node.cli.app import cli
from node.cli.context import Context, emit, node_options, pass_context, run_async
from node.cli.render import console, new_table, quantity, short
from node.lookup import org_names
from node.match import Suggestion, suggest
from node.storage import RecordQuery, RecordSummary, Store
from sync.views import Status

__all__ = ["match"]

PAGE = 500


async def _open_records(
    store: Store, kind: str, region: str | None, category: str | None
) -> list[RecordSummary]:
    records: list[RecordSummary] = []
    while True:
        query = RecordQuery(
            kind=kind, status=Status.OPEN, region=region, category=category, limit=PAGE,
            offset=len(records),
        )  # fmt: skip
        page = await store.list_records(query)
        records += page
        if len(page) < PAGE or len(records) >= 20 * PAGE:
            return records


def _command(s: Suggestion, mine: bytes) -> str:
    """What to run, from this node's point of view."""
    qty = s.qty or "N"
    if s.offer.org == mine:  # we offer it: pledge against the need
        return f"aidnode pledge {short(s.need.id)} --line {s.need_line.index + 1} --qty {qty}"
    if s.need.org == mine:  # we need it: claim from the offer
        return f"aidnode pledge {short(s.offer.id)} --line {s.offer_line.index + 1} --qty {qty}"
    return "(between two other groups: tell them)"


def suggestion_json(s: Suggestion, names: dict[bytes, str], mine: bytes) -> dict[str, Any]:
    def side(record: RecordSummary, line: Any) -> dict[str, Any]:
        return {
            "id": record.id.hex(),
            "title": record.title,
            "org": encode_key(record.org) if record.org else None,
            "org_name": names.get(record.org) if record.org else None,
            "region": record.region,
            "line": line.index + 1,
            "item": line.item,
            "category": line.category,
            "unit": line.unit,
            "unpledged": line.unpledged,
        }

    return {
        "need": side(s.need, s.need_line),
        "offer": side(s.offer, s.offer_line),
        "qty": s.qty,
        "score": s.score,
        "reasons": list(s.reasons),
        "command": _command(s, mine),
    }


@cli.command()
@click.option("--region", default=None, help="Only needs in this region (and below).")
@click.option("--category", default=None, help="Only this category (and below).")
@click.option("--mine", is_flag=True, help="Only suggestions involving your group.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@node_options
@pass_context
@run_async
async def match(
    ctx: Context, region: str | None, category: str | None, mine: bool, limit: int
) -> None:
    """Suggest offers that could meet open needs: same category, similar item, nearby,
    urgent and verified needs first, for what nobody has pledged yet. Prints the pledge
    command to run for suggestions that involve your group. Needs no passphrase.

    \b
    Examples:
      aidnode match
      aidnode match --mine --category medical
    """
    async with ctx.store() as (config, store):
        needs = await _open_records(store, "need", region, category)
        offers = await _open_records(store, "offer", None, category)
        names = await org_names(store)
    own = decode_key(config.org)
    if mine:
        needs_own = [n for n in needs if n.org == own]
        offers_own = [o for o in offers if o.org == own]
        found = suggest(needs_own, offers, limit=limit) + suggest(needs, offers_own, limit=limit)
        found = sorted(
            {
                (s.need.id, s.need_line.index, s.offer.id, s.offer_line.index): s for s in found
            }.values(),
            key=lambda s: -s.score,
        )[:limit]
    else:
        found = suggest(needs, offers, limit=limit)
    data = [suggestion_json(s, names, own) for s in found]

    def text() -> None:
        if not data:
            click.echo("no suggestions: no open offer fits an open need")
            return
        table = new_table("need", "line", "offer", "line", "qty", "why", "to do")
        for s, row in zip(found, data, strict=True):
            need, offer = row["need"], row["offer"]
            table.add_row(
                f"{short(need['id'])} {(need['org_name'] or '')[:24]}",
                f"{need['line']}: {need['item'][:24]}",
                f"{short(offer['id'])} {(offer['org_name'] or '')[:24]}",
                f"{offer['line']}: {offer['item'][:24]}",
                quantity(s.qty, s.need_line.unit),
                ", ".join(row["reasons"]),
                row["command"],
            )
        console().print(table)

    emit(ctx, data, text)
