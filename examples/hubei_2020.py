"""Hubei, February 2020, step by step: four groups' nodes on this machine.

The story `aidnode demo` tells, slowed down: after each step the script waits for Enter, so
you can read what each node shows (the table under every step says how many milliseconds the
statement took to arrive at each node). With --keep the nodes keep running at the end, for
you to try commands against them yourself (the script prints where they live).

    python examples/hubei_2020.py            # step by step (Enter after each step)
    python examples/hubei_2020.py --no-pause # straight through, like `aidnode demo`
    python examples/hubei_2020.py --keep     # leave the federation running afterwards

Run it from a checkout where aidnode is installed (`pip install -e .`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.console import Console

from node.demo import DemoError, run_demo

INTRO = """\
[bold]Hubei, February 2020.[/bold] A public board listed 608 hospital needs and 66 transport
resources, verified by hand, again and again, by every group; donors could not see what was
already pledged, and one central board could be shut down at any time.

Here four groups each run their own node instead:
  [bold]ward3[/bold]      Xiehe Hospital ward 3 support group (Wuhan) - posts a need
  [bold]verifiers[/bold]  Disaster prevention association verifiers (Changsha) - checks it
  [bold]convoy[/bold]     Wuhan volunteer driver convoy - carries goods, and a USB stick
  [bold]shenzhen[/bold]   Shenzhen sanitation-worker mask drive - pledges and sends masks

Every line starting with $ is the aidnode command that group's operator types.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pause", action="store_true", help="do not wait between steps")
    parser.add_argument("--keep", action="store_true", help="keep the nodes running at the end")
    args = parser.parse_args()
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 110
    out.print(INTRO)
    pause = not args.no_pause and sys.stdin.isatty()
    if pause:
        input("Press Enter to start the four nodes. ")
    try:
        asyncio.run(run_demo(out, keep=args.keep, pause=pause))
    except DemoError as exc:
        out.print(f"[red]the story could not finish: {exc}[/red]")
        return 1
    except KeyboardInterrupt:
        out.print("stopped; every node was shut down and its files removed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
