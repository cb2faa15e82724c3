"""The ``aidnode`` command line. Grows with the operator issue; for now only the entry point."""

from __future__ import annotations

import click

from node import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aidnode")
def cli() -> None:
    """aidnode: a federated, hub-less coordination node for mutual-aid groups."""


def main() -> None:
    """Console-script entry point."""
    cli()
