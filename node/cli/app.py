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


# One line per command for `aidnode --help` (each command's own --help says more).
SUMMARIES = {
    "init": "Create this group's node: keys, configuration, database.",
    "run": "Run the node: serve peers, sync, push (until Ctrl-C).",
    "id": "Show the group's key and fingerprint, to give to other groups.",
    "peer": "Add, list or remove the nodes this node syncs with.",
    "need": "Post what your group needs (need add).",
    "offer": "Post what your group can give (offer add).",
    "list": "List needs and offers (filters: region, category, status…).",
    "show": "Show one need or offer in full, with its history.",
    "update": "Change one of your group's needs or offers.",
    "withdraw": "Withdraw one of your group's needs or offers.",
    "match": "Suggest offers that could meet open needs.",
    "pledge": "Promise to give against a need (or take from an offer).",
    "deliver": "Record goods sent against a pledge.",
    "receive": "Record goods received against a pledge.",
    "cancel": "Cancel one of your group's pledges.",
    "verify": "Attest that a need or offer is genuine.",
    "endorse": "Vouch for another group (member or verifier).",
    "revoke": "Take back an endorsement or delegation, or revoke a key.",
    "delegate": "Let an operator key act for your group.",
    "trust": "See whom this node trusts and why; block a group.",
    "key": "Rotate the group's key; keep the next key offline.",
    "status": "How the node and its sync with each peer are doing.",
    "sync": "Sync with peers now and show the outcome.",
    "export": "Write signed events to a file (USB stick) for offline nodes.",
    "import": "Import a bundle made by aidnode export.",
    "demo": "Watch four real nodes on this machine tell the story.",
}


class _Group(click.Group):
    """Lists commands by topic, in the order of the operator guide."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        ordered = [name for _, names in SECTIONS for name in names if name in self.commands]
        return ordered + sorted(set(self.commands) - set(ordered))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        width = formatter.width - 6 - max(len(name) for name in self.commands)
        for title, names in SECTIONS:
            rows = [
                (name, SUMMARIES.get(name) or self.commands[name].get_short_help_str(width))
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
