"""Trust between groups: ``endorse``, ``revoke``, ``delegate``."""

from __future__ import annotations

from pathlib import Path

import click

from crypto import (
    DEFAULT_KDF_PARAMS,
    KeyBundle,
    SigningIdentity,
    encode_key,
    fingerprint,
    key_file_info,
    write_key_file,
)
from node.cli.app import cli
from node.cli.context import Context, emit, node_options, pass_context, report, run_async
from node.cli.local import api_call
from node.cli.render import console, new_table, short
from node.inputs import DAY_MS, InputError, parse_key, parse_when
from node.lookup import find_event, org_names
from node.operations import Done, RefusedError, endorse
from node.presentation import INEFFECTIVE_TEXT
from node.runtime import Node
from node.status import explanation_json, trust_rows
from protocol import Level, RevokeReason, Scope

__all__ = ["delegate", "endorse_command", "parse_scopes", "revoke", "trust_group"]


@cli.command("endorse")
@click.argument("key", metavar="KEY")
@click.option("--name", required=True, help="The group's name as you know it.")
@click.option(
    "--level",
    type=click.Choice([level.value for level in Level]),
    required=True,
    help="member: a real group you vouch for. verifier: also trusted to check that needs "
    "are genuine.",
)
@click.option(
    "--max-depth",
    type=click.IntRange(0, 16),
    default=3,
    show_default=True,
    help="How many hops further the groups it endorses may reach through you (0: none).",
)
@click.option("--expires", default="365d", show_default=True, metavar="WHEN")
@node_options
@pass_context
@run_async
async def endorse_command(
    ctx: Context, key: str, name: str, level: str, max_depth: int, expires: str
) -> None:
    """Vouch for another group: a signed introduction other nodes use to decide whom to
    trust. Check the key's fingerprint with the group (by phone, in person) first.

    \b
    Example:
      aidnode endorse aid1qq… --name "Wuhan volunteer driver convoy" --level member
    """
    subject = parse_key("KEY", key)
    expires_ms = parse_when("--expires", expires, ctx.clock.now_ms())
    async with ctx.node() as node:
        done = await endorse(node, subject, name, level, max_depth, expires_ms)
    report(
        ctx,
        done,
        f"endorsed {name} ({fingerprint(subject)}) as {level}: {short(done.event.id)}",
    )


def _identity_effect(node: Node, done: Done) -> Done:
    reason = node.store.identity.ineffective.get(done.event.id)
    if reason is not None:
        raise RefusedError(
            "no_effect",
            f"stored as {short(done.event.id)}, but it has no effect: "
            f"{INEFFECTIVE_TEXT.get(reason, reason.value)}",
        )
    return done


@cli.command()
@click.argument("event_id", metavar="ID", required=False)
@click.option("--key", default=None, metavar="KEY", help="Revoke a key instead of a statement.")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in RevokeReason]),
    default=None,
    help="retired / superseded: earlier statements stay valid (default for a statement). "
    "compromised: the key was stolen, NONE of its statements count any more.",
)
@node_options
@pass_context
@run_async
async def revoke(ctx: Context, event_id: str | None, key: str | None, reason: str | None) -> None:
    """Take back an endorsement or delegation your group made (by its ID), or revoke a key
    (--key) your group owns or delegated to, e.g. a stolen laptop's operator key.

    \b
    Examples:
      aidnode revoke 5d2e71b0                                  # an endorsement
      aidnode revoke --key aid1… --reason compromised          # a stolen key
    """
    if (event_id is None) == (key is None):
        raise InputError("revoke", "give either an endorsement/delegation ID or --key KEY")
    if key is not None and reason is None:
        raise InputError(
            "--reason", "say why the key is revoked: retired, superseded or compromised"
        )
    async with ctx.node() as node:
        if event_id is not None:
            found = await find_event(node.store, event_id, ("endorse", "delegate"))
            rows = await node.store.fetch("SELECT author FROM events WHERE id = ?", (found.id,))
            author = rows[0][0]
            if node.store.identity.org_of(author) != node.org:
                raise RefusedError(
                    "not_yours",
                    f"that {found.kind} was made by another group: only it may revoke it",
                )
            published = await node.revoke(
                target=found.id, key=None, reason=reason or RevokeReason.RETIRED.value
            )
        else:
            assert key is not None and reason is not None
            target = parse_key("--key", key)
            published = await node.revoke(target=None, key=target, reason=reason)
        done = _identity_effect(node, Done(published.event, None))
    what = f"key {fingerprint(parse_key('--key', key))}" if key else f"{short(event_id or '')}"
    report(ctx, done, f"revoked {what} ({done.event.kind} {short(done.event.id)})")


SCOPES = [s.value for s in Scope]


def parse_scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(sorted({s.strip() for s in text.split(",") if s.strip()}))
    bad = [s for s in scopes if s not in SCOPES]
    if not scopes or bad:
        raise InputError("--scopes", f"choose from {', '.join(SCOPES)} (comma-separated)")
    return scopes


@cli.command()
@click.argument("key", metavar="KEY", required=False)
@click.option(
    "--scopes",
    required=True,
    help="What the key may do, comma-separated: post (needs, offers, updates), pledge "
    "(pledges, deliveries, receipts), verify, endorse.",
)
@click.option("--expires", default="90d", show_default=True, metavar="WHEN", help="90d, or a date.")
@click.option("--name", default=None, help='Whose key this is, e.g. "Li\'s phone".')
@click.option(
    "--generate",
    "generate",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Make a new operator key here, save it to FILE (encrypted with this node's "
    "passphrase) and sign its consent with it.",
)
@click.option(
    "--proof",
    default=None,
    metavar="HEX",
    help="The consent the key's holder made with `aidnode key consent` (with --expires-at).",
)
@click.option(
    "--expires-at",
    type=int,
    default=None,
    metavar="MS",
    help="The exact expiry (Unix ms) the consent was made for.",
)
@node_options
@pass_context
@run_async
async def delegate(
    ctx: Context,
    key: str | None,
    scopes: str,
    expires: str,
    name: str | None,
    generate: str | None,
    proof: str | None,
    expires_at: int | None,
) -> None:
    """Let an operator key act for your group (so the group key can stay offline), within
    scopes and until it expires. The key's holder must consent: either generate the key here
    (--generate FILE), or have its holder run `aidnode key consent` and pass --proof.

    \b
    Examples:
      aidnode delegate --generate li-phone.key --scopes post,pledge --name "Li's phone"
      aidnode delegate aid1… --scopes pledge --expires-at 1583020800000 --proof 5f0c…
    """
    chosen = parse_scopes(scopes)
    if (key is None) == (generate is None):
        raise InputError("delegate", "give the operator KEY (with --proof) or --generate FILE")
    async with ctx.node() as node:
        if generate is not None:
            target = Path(generate)
            if target.exists():
                raise InputError("--generate", f"{target} exists already")
            identity = SigningIdentity.generate()
            expires_ms = parse_when("--expires", expires, ctx.clock.now_ms())
            signature = node.delegation_proof(identity, chosen, expires_ms)
            info = key_file_info(node.home.key_path)
            write_key_file(
                target,
                KeyBundle(current_seed=identity.seed),
                ctx.passphrase(),
                params=info.kdf or DEFAULT_KDF_PARAMS,
            )
            subject = identity.public_key
        else:
            assert key is not None
            if proof is None or expires_at is None:
                raise InputError(
                    "--proof", "a key made elsewhere needs its holder's --proof and --expires-at"
                )
            try:
                signature = bytes.fromhex(proof)
            except ValueError:
                raise InputError("--proof", "must be hex digits") from None
            subject, expires_ms = parse_key("KEY", key), expires_at
        published = await node.delegate(subject, chosen, expires_ms, signature, name)
        done = _identity_effect(node, Done(published.event, None))
    where = f", key saved to {generate}" if generate else ""
    report(
        ctx,
        done,
        f"delegated {','.join(chosen)} to {encode_key(subject)} until "
        f"{expires_ms // DAY_MS - ctx.clock.now_ms() // DAY_MS} days from now{where}",
    )


# -- what this node trusts ----------------------------------------------------------------------


@cli.group("trust")
def trust_group() -> None:
    """See and adjust whom this node trusts (computed from endorsements; docs/trust.md)."""


@trust_group.command("list")
@click.option("--all", "everyone", is_flag=True, help="Also orgs this node does not accept.")
@node_options
@pass_context
@run_async
async def trust_list(ctx: Context, everyone: bool) -> None:
    """List the groups this node accepts, as member or verifier, and those it knows of but
    does not accept (--all), with how many of their events wait in quarantine.

    \b
    Example:
      aidnode trust list --all
    """
    config = ctx.config()
    running = ctx.running()
    if running is not None:  # it holds the trust state
        rows = await api_call(ctx.home, running, "GET", "/api/v1/trust")
    else:
        async with ctx.store() as (config, store):
            keeper = await ctx.trust(config, store)
            rows = await trust_rows(keeper, store, config)
    if not everyone:
        rows = [r for r in rows if r["standing"] or r["seed"]]

    def text() -> None:
        table = new_table("group", "fingerprint", "standing", "quarantined", "")
        for row in rows:
            notes = []
            if row["seed"]:
                notes.append("this node" if row["org"] == config.org else "pinned root")
            if row["blocked"]:
                notes.append("blocked")
            table.add_row(
                row["name"] or row["org"][:20] + "…",
                row["fingerprint"],
                row["standing"] or "not accepted",
                str(row["quarantined"] or ""),
                ", ".join(notes),
            )
        console().print(table)

    emit(ctx, rows, text)


@trust_group.command("explain")
@click.argument("key", metavar="KEY")
@node_options
@pass_context
@run_async
async def trust_explain(ctx: Context, key: str) -> None:
    """Explain why this node accepts a group (the endorsement paths and their capacities)
    or why not (no path from a group it trusts, paths too long, capacity used up, blocked).

    \b
    Example:
      aidnode trust explain aid1…
    """
    subject = parse_key("KEY", key)
    running = ctx.running()
    if running is not None:  # it holds the trust state
        data = await api_call(ctx.home, running, "GET", f"/api/v1/trust/{encode_key(subject)}")
    else:
        async with ctx.store() as (config, store):
            keeper = await ctx.trust(config, store)
            data = explanation_json(await keeper.explain(subject), await org_names(store))
    emit(ctx, data, lambda: click.echo("\n".join(data["describe"])))


async def _block(ctx: Context, key: str, block: bool) -> None:
    subject = parse_key("KEY", key)
    running = ctx.running()
    verb = "block" if block else "unblock"
    if running is not None:  # the running node holds the trust state: it must do it
        await api_call(
            ctx.home, running, "POST", f"/api/v1/trust/{verb}", {"key": encode_key(subject)}
        )
    else:
        async with ctx.store() as (config, store):
            keeper = await ctx.trust(config, store)
            if block:
                await keeper.block(subject, ctx.home)
            else:
                await keeper.unblock(subject, ctx.home)
    emit(
        ctx,
        {"key": encode_key(subject), "blocked": block},
        lambda: click.echo(
            f"{verb}ed {fingerprint(subject)} on this node"
            + (
                " (its events are no longer accepted here; other nodes decide for themselves)"
                if block
                else ""
            )
        ),
    )


@trust_group.command("block")
@click.argument("key", metavar="KEY")
@node_options
@pass_context
@run_async
async def trust_block(ctx: Context, key: str) -> None:
    """Stop accepting a group on this node, whoever endorses it (saved in config.toml, never
    sent to other nodes). What it already published stays stored but its new events wait in
    quarantine, and its endorsements stop counting here.

    \b
    Example:
      aidnode trust block aid1…
    """
    await _block(ctx, key, True)


@trust_group.command("unblock")
@click.argument("key", metavar="KEY")
@node_options
@pass_context
@run_async
async def trust_unblock(ctx: Context, key: str) -> None:
    """Undo `aidnode trust block`.

    \b
    Example:
      aidnode trust unblock aid1…
    """
    await _block(ctx, key, False)
