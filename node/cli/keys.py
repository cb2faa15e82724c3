"""``aidnode key rotate | export-next | consent``: the group's keys over time.

Pre-rotation (DESIGN §4): the group committed, when it was created, to the digest of its
*next* key. ``export-next`` moves that next key to a file you keep offline (a USB stick in a
drawer), so a thief of this computer cannot take the group's identity over. ``rotate`` reveals
the next key and makes it the current one, committing to a fresh next key.
"""

from __future__ import annotations

from pathlib import Path

import click

from crypto import (
    DEFAULT_KDF_PARAMS,
    KdfParams,
    encode_key,
    export_next_key,
    fingerprint,
    import_next_key,
    key_file_info,
    read_key_file,
    write_key_file,
)
from node.cli.app import cli
from node.cli.context import Context, emit, fail, node_options, pass_context, run_async
from node.cli.local import running_node
from node.cli.render import short
from node.cli.trust import parse_scopes
from node.inputs import parse_key, parse_when
from protocol import DELEGATION_DOMAIN, delegation_message

__all__ = ["key"]


@cli.group()
def key() -> None:
    """Keep the group's keys safe: rotate them, keep the next key offline."""


def _kdf(ctx: Context) -> KdfParams:
    return key_file_info(ctx.home.key_path).kdf or DEFAULT_KDF_PARAMS


@key.command("export-next")
@click.argument("file", type=click.Path(dir_okay=False))
@node_options
@pass_context
def export_next(ctx: Context, file: str) -> None:
    """Move the group's next key to FILE and remove it from this computer's key file.

    Keep FILE offline (a USB stick in a safe place, not on this computer): if this
    computer is stolen, the thief cannot rotate your group's identity away from you, and you
    can rotate to the next key with `aidnode key rotate --next-key FILE`. FILE is encrypted
    with the same passphrase as the key file.

    \b
    Example:
      aidnode key export-next /media/usb/ward3-next.key
    """
    passphrase = ctx.passphrase()
    bundle = read_key_file(ctx.home.key_path, passphrase)
    if bundle.next_seed is None:
        fail("the next key is not in the key file (already exported?)")
    export_next_key(file, bundle, passphrase, params=_kdf(ctx))
    # Only once the export is safely written: remove the seed from the main key file.
    write_key_file(
        ctx.home.key_path,
        bundle.without_next_seed(),
        passphrase,
        params=_kdf(ctx),
        overwrite=True,
    )
    emit(
        ctx,
        {"exported_to": str(Path(file).resolve())},
        lambda: click.echo(
            f"next key written to {file} and removed from {ctx.home.key_path}.\n"
            "Move that file to offline storage now and delete any copy on this computer."
        ),
    )


@key.command("rotate")
@click.option(
    "--next-key",
    default=None,
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="The next key file made by `key export-next`, if it is not in the key file.",
)
@node_options
@pass_context
@run_async
async def rotate(ctx: Context, next_key: str | None) -> None:
    """Replace the group's current key by its committed next key (and commit to a new one).

    Do this on a schedule, or at once if the current key may have been copied. Everything
    your group published stays valid; other nodes follow the rotation automatically. Stop
    `aidnode run` first: it would keep signing with the old key.

    \b
    Example:
      aidnode key rotate --next-key /media/usb/ward3-next.key
    """
    config = ctx.config()
    running = running_node(ctx.home, config)
    if running is not None:
        fail(
            f"stop `aidnode run` (pid {running.pid}) first: it would keep signing with the old key"
        )
    passphrase = ctx.passphrase()
    if next_key is not None:
        bundle = import_next_key(next_key, passphrase, read_key_file(ctx.home.key_path, passphrase))
        write_key_file(ctx.home.key_path, bundle, passphrase, params=_kdf(ctx), overwrite=True)
    async with ctx.node() as node:
        old = node.signer.public_key
        published = await node.rotate_key(passphrase, _kdf(ctx))
        new = node.signer.public_key
    emit(
        ctx,
        {
            "event": published.event.id.hex(),
            "old_key": encode_key(old),
            "new_key": encode_key(new),
            "new_fingerprint": fingerprint(new),
        },
        lambda: click.echo(
            f"rotated: the group now signs with {fingerprint(new)} "
            f"(rotate {short(published.event.id)}); the org key stays {fingerprint(node.org)}.\n"
            "A new next key is in the key file: move it offline with `aidnode key export-next`."
        ),
    )


@key.command("consent")
@click.option(
    "--key-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The operator key file (its holder's, not the group's).",
)
@click.option("--to", "delegator", required=True, metavar="KEY", help="The group's current key.")
@click.option("--scopes", required=True, help="Comma-separated: post, pledge, verify, endorse.")
@click.option("--expires", default="90d", show_default=True, metavar="WHEN")
@node_options
@pass_context
def consent(ctx: Context, key_file: str, delegator: str, scopes: str, expires: str) -> None:
    """Consent, as the holder of an operator key, to act for a group: prints the proof and
    the exact `aidnode delegate` command the group's operator runs.

    \b
    Example:
      aidnode key consent --key-file li-phone.key --to aid1… --scopes pledge --expires 30d
    """
    chosen = parse_scopes(scopes)
    expires_ms = parse_when("--expires", expires, ctx.clock.now_ms())
    group = parse_key("--to", delegator)
    identity = read_key_file(key_file, ctx.passphrase()).current_identity()
    proof = identity.sign(DELEGATION_DOMAIN, delegation_message(group, chosen, expires_ms))
    command = (
        f"aidnode delegate {encode_key(identity.public_key)} --scopes {','.join(chosen)} "
        f"--expires-at {expires_ms} --proof {proof.hex()}"
    )
    emit(
        ctx,
        {
            "key": encode_key(identity.public_key),
            "scopes": list(chosen),
            "expires_ms": expires_ms,
            "proof": proof.hex(),
            "command": command,
        },
        lambda: click.echo(f"give this to the group's operator to run:\n  {command}"),
    )
