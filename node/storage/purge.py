"""Purging expired records (DESIGN §3, data minimisation).

A record whose ``expires`` lies more than the horizon (default 30 days) in the past is removed
with every event about it, including events still waiting for one of its events. Each removed
event leaves a 40-byte tombstone (id, hlc): late copies are recognised and dropped instead of
re-stored, and the tombstone keeps its key in the reconciliation index so a node that has
purged and one that has not yet still agree on the set and never offer each other the events.
"""

from __future__ import annotations

import aiosqlite

from node.storage.sql import chunks, marks, select_in

__all__ = ["purge_expired"]

_MATERIALISED = (("records", "id"), ("record_lines", "record"), ("pledges", "record"),
                 ("verifications", "record"))  # fmt: skip


async def purge_expired(db: aiosqlite.Connection, cutoff_ms: int) -> list[tuple[bytes, int]]:
    """Inside an open transaction: purge records with ``expires < cutoff_ms``; returns the
    (id, hlc) of every event removed (each now a tombstone)."""
    async with db.execute("SELECT id FROM records WHERE expires < ?", (cutoff_ms,)) as cursor:
        records = [row[0] async for row in cursor]
    purged: list[tuple[bytes, int]] = []
    for chunk in chunks(records):
        sql = f"SELECT id, hlc FROM events WHERE record IN ({marks(len(chunk))})"
        async with db.execute(sql, chunk) as cursor:
            members = [(row[0], row[1]) async for row in cursor]
        purged += members
        purged += await _waiting_on(db, [m[0] for m in members])
        for table, column in _MATERIALISED:
            await db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks(len(chunk))})", chunk)
    for chunk in chunks([p[0] for p in purged]):
        await db.execute(f"DELETE FROM events WHERE id IN ({marks(len(chunk))})", chunk)
        await db.execute(f"DELETE FROM waiting WHERE event IN ({marks(len(chunk))})", chunk)
    await db.executemany("INSERT OR IGNORE INTO tombstones (id, hlc) VALUES (?, ?)", purged)
    return purged


async def _waiting_on(db: aiosqlite.Connection, ids: list[bytes]) -> list[tuple[bytes, int]]:
    """Events still waiting for one of ``ids`` (or for those, transitively)."""
    found: list[tuple[bytes, int]] = []
    frontier = ids
    sql = (
        "SELECT e.id, e.hlc FROM waiting w JOIN events e ON e.id = w.event "
        "WHERE w.missing IN {in}"
    )
    while frontier:
        rows = [(row[0], row[1]) for row in await select_in(db, sql, frontier)]
        found += rows
        frontier = [row[0] for row in rows]
    return found
