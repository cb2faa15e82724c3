"""Quarantine: valid events whose author this node does not (yet) accept (DESIGN §4).

They are kept, so that when their author becomes accepted they are promoted without being
fetched again, but never relayed and never folded. The table is bounded: at most
``per_author`` events per org and ``total`` overall, the oldest evicted first, so a flood of
events from unknown keys can never grow storage (or memory: nothing here is held in memory)
beyond the caps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import aiosqlite

from node.storage.sql import chunks, marks, scalar, select_in
from protocol import Event

__all__ = [
    "QuarantineCaps",
    "quarantine",
    "quarantine_authors",
    "quarantined_ids",
    "take_quarantined",
]


@dataclass(frozen=True, slots=True)
class QuarantineCaps:
    per_author: int = 200
    total: int = 20_000


async def quarantine(
    db: aiosqlite.Connection,
    events: Sequence[tuple[Event, bytes]],
    now_ms: int,
    caps: QuarantineCaps,
) -> int:
    """Inside an open transaction: keep ``(event, org)`` pairs, then enforce the caps.
    Returns how many events were evicted."""
    await db.executemany(
        "INSERT OR IGNORE INTO quarantine (id, author, org, kind, hlc, received_ms, wire) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(e.id, e.author, org, e.kind, e.hlc, now_ms, e.wire) for e, org in events],
    )
    evicted = 0
    for org in sorted({org for _, org in events}):
        async with db.execute(
            "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE org = ? "
            "ORDER BY received_ms DESC, id DESC LIMIT -1 OFFSET ?)",
            (org, caps.per_author),
        ) as cursor:
            evicted += max(0, cursor.rowcount)
    excess = await scalar(db, "SELECT count(*) FROM quarantine") - caps.total
    if excess > 0:
        async with db.execute(
            "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine "
            "ORDER BY received_ms, id LIMIT ?)",
            (excess,),
        ) as cursor:
            evicted += max(0, cursor.rowcount)
    return evicted


async def quarantined_ids(db: aiosqlite.Connection, ids: Iterable[bytes]) -> set[bytes]:
    rows = await select_in(db, "SELECT id FROM quarantine WHERE id IN {in}", ids)
    return {row[0] for row in rows}


async def quarantine_authors(db: aiosqlite.Connection) -> list[bytes]:
    async with db.execute("SELECT DISTINCT author FROM quarantine") as cursor:
        return [row[0] async for row in cursor]


async def take_quarantined(db: aiosqlite.Connection, authors: Sequence[bytes]) -> list[bytes]:
    """Inside an open transaction: remove and return the wires of ``authors``' events."""
    wires: list[bytes] = []
    for chunk in chunks(list(authors)):
        async with db.execute(
            f"SELECT wire FROM quarantine WHERE author IN ({marks(len(chunk))})", chunk
        ) as cursor:
            wires += [row[0] async for row in cursor]
        await db.execute(f"DELETE FROM quarantine WHERE author IN ({marks(len(chunk))})", chunk)
    return wires
