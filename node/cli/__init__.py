"""The ``aidnode`` command line (docs/operators.md), one module per command group.

Exit codes: 0 ok, 1 operational failure (one line on stderr saying why), 2 usage error (click
prints the usage). Every command works whether or not ``aidnode run`` is running for the same
home: commands write to the node's database directly, and a running node notices and pushes
those writes to its peers within a second.
"""

from node.cli import (  # noqa: F401  # each module attaches its commands to `cli`
    bundles,
    demo,
    keys,
    match,
    peers,
    pledges,
    records,
    setup,
    sync,
    trust,
)
from node.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Console-script entry point."""
    cli()
