"""The ``aidnode`` command group; each command module attaches its commands to :data:`cli`."""

from __future__ import annotations

import click

from node import __version__
from node.cli.context import HOME_HELP, JSON_HELP, PASSPHRASE_HELP, Context

__all__ = ["cli"]


SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Setting up", ("init", "run", "id", "peer")),
    ("Needs and offers", ("need", "offer", "list", "show", "update", "withdraw", "match")),
    ("Giving", ("pledge", "deliver", "receive", "cancel", "verify")),
    ("Trust between groups", ("endorse", "revoke", "delegate", "trust", "key")),
    ("Watching and syncing", ("status", "sync", "export", "import")),
    ("Trying it out", ("demo",)),
)


class _Group(click.Group):
    """Lists commands by topic, in the order of the operator guide."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        ordered = [name for _, names in SECTIONS for name in names if name in self.commands]
        return ordered + sorted(set(self.commands) - set(ordered))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        width = formatter.width - 6 - max(len(name) for name in self.commands)
        for title, names in SECTIONS:
            rows = [
                (name, self.commands[name].get_short_help_str(width))
                for name in names
                if name in self.commands
            ]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aidnode")
@click.option("--home", metavar="DIR", help=HOME_HELP)
@click.option(
    "--passphrase-file", metavar="FILE", type=click.Path(dir_okay=False), help=PASSPHRASE_HELP
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def cli(
    click_ctx: click.Context, home: str | None, passphrase_file: str | None, as_json: bool
) -> None:
    """aidnode: a coordination node for mutual-aid groups.

    Every group runs its own node. Needs, offers, pledges, deliveries and endorsements are
    signed statements that nodes exchange with the peers their operators choose; each node
    decides for itself whom it trusts. Nothing depends on a central server.

    \b
    First steps (docs/operators.md has the whole guide):
      aidnode init --name "Xiehe Hospital ward 3 support group" --region CN-HB-WH
      aidnode run                                  # leave it running
      aidnode peer add http://192.0.2.10:7420      # another group's node
      aidnode need add --title "PPE for ward 3" \\
          --line "N95 respirator:medical.ppe:2000:pieces" --contact "Nurse Wang 027-8572-0000"
      aidnode status

    Options such as --home, --json and --passphrase-file may also follow the command.
    Exit status: 0 ok, 1 the operation failed (the reason is printed), 2 usage error.
    """
    click_ctx.obj = Context(home, passphrase_file, as_json)
