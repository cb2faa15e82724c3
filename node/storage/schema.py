"""The database schema and its forward-only migrations.

``PRAGMA user_version`` holds the schema version. :func:`migrate` applies, in order and each in
its own transaction, every migration above the file's version; a file from a *newer* aidnode
is refused rather than guessed at. Migrations may run Python (``data``) as well as SQL, e.g. to
fold events already stored into tables a later version adds.

Layout (docs/storage.md has the column meanings):

* ``events``: every stored event (payload + signature), its sort key, and the record it belongs
  to once known. ``seq`` is arrival order (bundles ``--since``, push streams).
* ``tombstones``: 40 bytes per purged event (id + hlc) so late copies are dropped.
* ``waiting``: events whose ref (or ref's ref) has not arrived yet.
* materialised fold: ``records``, ``record_lines``, ``pledges``, ``verifications``,
  ``profiles``, ``endorsements``, maintained in the same transaction as ``events``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiosqlite

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sql: str
    data: Callable[[aiosqlite.Connection], Awaitable[None]] | None = None


_V1_EVENTS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    hlc INTEGER NOT NULL,
    kind TEXT NOT NULL,
    author BLOB NOT NULL,
    ref BLOB,
    record BLOB,
    payload BLOB NOT NULL,
    sig BLOB NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX events_record ON events(record) WHERE record IS NOT NULL;
CREATE INDEX events_author ON events(author);
CREATE TABLE tombstones (id BLOB PRIMARY KEY, hlc INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE waiting (missing BLOB NOT NULL, event BLOB NOT NULL, PRIMARY KEY (missing, event))
    WITHOUT ROWID;
"""

_V2_MATERIALISED = """
CREATE TABLE records (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    org BLOB,
    author BLOB NOT NULL,
    hlc INTEGER NOT NULL,
    title TEXT NOT NULL,
    region TEXT NOT NULL,
    urgency TEXT NOT NULL,
    urgency_rank INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    needed_by INTEGER,
    state TEXT NOT NULL,
    pledge_status TEXT NOT NULL,
    fulfil_status TEXT NOT NULL,
    updated_hlc INTEGER NOT NULL,
    sensitive INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX records_listing ON records(state, urgency_rank, updated_hlc DESC, id);
CREATE INDEX records_region ON records(region);
CREATE INDEX records_expires ON records(expires);
CREATE TABLE record_lines (
    record BLOB NOT NULL,
    idx INTEGER NOT NULL,
    item TEXT NOT NULL,
    category TEXT NOT NULL,
    unit TEXT NOT NULL,
    qty INTEGER,
    pledged INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY (record, idx)
) WITHOUT ROWID;
CREATE INDEX record_lines_category ON record_lines(category);
CREATE TABLE pledges (
    id BLOB PRIMARY KEY,
    record BLOB NOT NULL,
    line INTEGER NOT NULL,
    org BLOB NOT NULL,
    author BLOB NOT NULL,
    hlc INTEGER NOT NULL,
    qty INTEGER NOT NULL,
    cancelled INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    received INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX pledges_record ON pledges(record);
CREATE INDEX pledges_org ON pledges(org);
CREATE TABLE verifications (
    id BLOB PRIMARY KEY,
    record BLOB NOT NULL,
    org BLOB NOT NULL,
    author BLOB NOT NULL,
    hlc INTEGER NOT NULL,
    method TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX verifications_record ON verifications(record);
CREATE TABLE profiles (
    org BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    regions TEXT NOT NULL,
    description TEXT,
    contact TEXT,
    org_type TEXT,
    event_id BLOB NOT NULL,
    hlc INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE endorsements (
    id BLOB PRIMARY KEY,
    issuer BLOB,
    author BLOB NOT NULL,
    subject BLOB NOT NULL,
    subject_org BLOB NOT NULL,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    max_depth INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    hlc INTEGER NOT NULL,
    effective INTEGER NOT NULL,
    reason TEXT,
    revoked_by BLOB
) WITHOUT ROWID;
CREATE INDEX endorsements_subject ON endorsements(subject_org);
CREATE TABLE accepted (org BLOB NOT NULL, level TEXT NOT NULL, PRIMARY KEY (org, level))
    WITHOUT ROWID;
"""


_V3_PEERS = """
CREATE TABLE peers (
    url TEXT PRIMARY KEY,
    node_key BLOB,
    org_key BLOB,
    name TEXT,
    added_ms INTEGER NOT NULL,
    last_attempt_ms INTEGER,
    last_success_ms INTEGER,
    last_in_sync_ms INTEGER,
    last_outcome TEXT,
    last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    backoff_ms INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    in_sync INTEGER NOT NULL DEFAULT 0,
    rounds INTEGER NOT NULL DEFAULT 0,
    events_in INTEGER NOT NULL DEFAULT 0,
    events_out INTEGER NOT NULL DEFAULT 0,
    bytes_in INTEGER NOT NULL DEFAULT 0,
    bytes_out INTEGER NOT NULL DEFAULT 0,
    rejected_in INTEGER NOT NULL DEFAULT 0,
    last_rejection TEXT
) WITHOUT ROWID;
CREATE TABLE inbound (
    node_key BLOB PRIMARY KEY,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    last_refusal TEXT,
    events_in INTEGER NOT NULL DEFAULT 0,
    rejected_in INTEGER NOT NULL DEFAULT 0,
    last_rejection TEXT
) WITHOUT ROWID;
"""


_V4_QUARANTINE = """
CREATE TABLE quarantine (
    id BLOB PRIMARY KEY,
    author BLOB NOT NULL,
    org BLOB NOT NULL,
    kind TEXT NOT NULL,
    hlc INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    wire BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX quarantine_author ON quarantine(author);
CREATE INDEX quarantine_org_age ON quarantine(org, received_ms);
CREATE INDEX quarantine_age ON quarantine(received_ms, id);
"""


# Listings: "open" needs the unexpired open records, which an expiry-ordered index finds
# directly (the planner cannot know most open records may have expired, and would walk them
# all in display order); listings without a status filter walk the display order itself.
_V5_LISTING_INDEXES = """
CREATE INDEX records_open ON records(state, expires);
CREATE INDEX records_order ON records(urgency_rank, updated_hlc DESC, id);
"""


async def _refold_everything(db: aiosqlite.Connection) -> None:
    # Imported here: the materialiser imports this module for SCHEMA_VERSION.
    from node.storage.materialise import rebuild_materialised

    await rebuild_materialised(db)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events, tombstones, waiting refs", _V1_EVENTS),
    Migration(2, "materialised fold", _V2_MATERIALISED, _refold_everything),
    Migration(3, "peers and their sync state", _V3_PEERS),
    Migration(4, "quarantine for events by authors not (yet) accepted", _V4_QUARANTINE),
    Migration(5, "indexes for listings by status and display order", _V5_LISTING_INDEXES),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


class SchemaTooNewError(Exception):
    """The file was written by a newer aidnode (its user_version is above ours)."""


async def migrate(db: aiosqlite.Connection, upto: int = SCHEMA_VERSION) -> int:
    """Bring the schema to version ``upto``; returns the version the file had before.

    Each migration runs in one transaction: a crash mid-migration leaves the previous version.
    Raises :class:`SchemaTooNewError` for files from a newer aidnode.
    """
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    found = int(row[0]) if row else 0
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(f"schema version {found} is newer than {SCHEMA_VERSION}")
    for migration in MIGRATIONS:
        if found < migration.version <= upto:
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(migration.sql):
                    await db.execute(statement)
                if migration.data is not None:
                    await migration.data(db)
                await db.execute(f"PRAGMA user_version = {migration.version:d}")
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
    return found


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT the open transaction first; run statements one by one.
    return [s.strip() for s in script.split(";") if s.strip()]
