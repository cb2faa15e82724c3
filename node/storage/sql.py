"""Small SQL helpers shared by the storage modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

__all__ = ["CHUNK", "chunks", "marks", "scalar", "select_in"]

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
    rows = list(await db.execute_fetchall(sql, args))
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


async def select_in(
    db: aiosqlite.Connection, sql: str, keys: Iterable[Any], repeat: int = 1
) -> list[Any]:
    """Every row of ``sql`` for ``keys``, where each ``{in}`` in ``sql`` stands for an
    ``IN (...)`` list of a slice of the keys (``repeat``: how many ``{in}`` there are).

    One round trip to SQLite's thread per slice (``execute_fetchall``): iterating a cursor
    costs a round trip per 64 rows plus one to close it, and ingest runs dozens of these
    queries per batch."""
    rows: list[Any] = []
    for chunk in chunks(list(keys)):
        query = sql.format(**{"in": f"({marks(len(chunk))})"})
        rows += await db.execute_fetchall(query, [*chunk] * repeat)
    return rows
