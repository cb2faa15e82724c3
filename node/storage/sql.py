"""Small SQL helpers shared by the storage modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

__all__ = ["CHUNK", "chunks", "marks", "scalar"]

CHUNK = 500  # parameters per IN (...) list: well under SQLite's limit, and cheap to plan

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(count: int) -> str:
    """``?,?,…`` with ``count`` placeholders, for ``IN (...)`` lists."""
    return ",".join("?" * count)


async def scalar(db: aiosqlite.Connection, sql: str, args: Sequence[Any] = ()) -> int:
    """The first column of the first row as an int (0 for no row or NULL)."""
    async with db.execute(sql, args) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0
