"""``aidnode demo``: a local federation of four real nodes that tells the story."""

from __future__ import annotations

import asyncio
import signal

import click

from node.cli.app import cli
from node.cli.context import fail
from node.cli.render import console

__all__ = ["demo"]


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the nodes running afterwards (until Ctrl-C).")
@click.option("--pause", is_flag=True, help="Wait for Enter after each step.")
def demo(keep: bool, pause: bool) -> None:
    """Start four real nodes on this machine and watch a need travel between them.

    A hospital ward posts a need, a verifier association vouches for it, a mask drive pledges
    and sends, the ward receives; then the network splits, both sides edit the need, the
    network heals and every node agrees again. Every step is the `aidnode` command an
    operator would type. Uses a temporary directory and removes it (and stops every node)
    at the end, on Ctrl-C or on failure. Takes about 20 seconds.

    \b
    Example:
      aidnode demo
    """
    from node.demo import DemoError, run_demo

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        out = console()
        if not out.is_terminal:
            out.width = 110  # tables wide enough, rules not a thousand columns
        await run_demo(out, keep=keep, pause=pause)

    try:
        asyncio.run(main())
    except DemoError as exc:
        fail(f"demo failed: {exc}")
    except (KeyboardInterrupt, asyncio.CancelledError):
        fail("demo interrupted; every node was stopped and its files removed")
