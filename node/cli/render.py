"""Human output: aligned tables, relative times, quantities, colour only on a terminal.

rich decides about colour itself (a terminal, ``NO_COLOR`` unset); when stdout is not a
terminal, tables are rendered plain and wide enough not to wrap, so scripts that do not use
``--json`` still get one row per line.
"""

from __future__ import annotations

import sys

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = [
    "console",
    "duration",
    "err_console",
    "new_table",
    "progress",
    "quantity",
    "relative",
    "short",
    "size",
]

_PLAIN_WIDTH = 1000  # never squeeze or wrap a row when the output goes to a file or a pipe


def _make(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    width = None if tty else _PLAIN_WIDTH
    return Console(file=stream, highlight=False, soft_wrap=not tty, width=width, emoji=False)


def console() -> Console:
    return _make(stderr=False)


def err_console() -> Console:
    return _make(stderr=True)


def new_table(*columns: str, title: str | None = None) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for column in columns:
        justify = "right" if column.endswith((" #", "qty", "events", "bytes")) else "left"
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    return table


def progress(console: Console) -> Progress:
    """A progress display that draws only on a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )


def short(event_id: bytes | str) -> str:
    """The 12 hex digits tables show (any unique prefix is accepted back)."""
    text = event_id.hex() if isinstance(event_id, bytes) else event_id
    return text[:12]


def quantity(qty: int | None, unit: str = "") -> str:
    text = "unlimited" if qty is None else f"{qty:,}"
    return f"{text} {unit}".strip()


def relative(ms: int | None, now_ms: int) -> str:
    """``3 min ago``, ``in 2 days``, ``just now``; ``never`` for None."""
    if ms is None:
        return "never"
    delta = (now_ms - ms) / 1000
    future = delta < 0
    seconds = abs(delta)
    if seconds < 5:
        return "just now"
    for limit, size, unit in (
        (60, 1, "s"),
        (3600, 60, "min"),
        (86400 * 2, 3600, "h"),
        (86400 * 60, 86400, "days"),
        (float("inf"), 86400 * 30, "months"),
    ):
        if seconds < limit:
            amount = int(seconds // size)
            return f"in {amount} {unit}" if future else f"{amount} {unit} ago"
    raise AssertionError("unreachable")


def duration(ms: int | None) -> str:
    """``850 ms``, ``12 s``, ``3 min``, ``2 h``; ``-`` for None."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def size(count: int) -> str:
    """Bytes for people: ``812 B``, ``4.2 kB``, ``3.1 MB``."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
