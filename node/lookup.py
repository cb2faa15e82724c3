"""Finding things by what operators type: event ids (full or a unique prefix, like git) and
the names of orgs.

``find_event(store, "3fa9c2")`` answers the stored event whose id starts with those hex digits,
or raises :class:`UnknownIdError` / :class:`AmbiguousIdError` with a sentence an operator can
act on. The CLI maps both to exit status 1, the API to 404 and 400.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from crypto import AidError, encode_key
from node.inputs import InputError
from node.storage import Store

__all__ = [
    "MIN_PREFIX",
    "AmbiguousIdError",
    "Found",
    "UnknownIdError",
    "accepted_orgs",
    "find_event",
    "org_label",
    "org_names",
]

MIN_PREFIX = 4  # hex digits, as git
_HEX = re.compile(r"[0-9a-f]+")


class UnknownIdError(AidError):
    """No stored event has an id starting with the given digits (or not of the wanted kind)."""


class AmbiguousIdError(AidError):
    """Several stored events start with the given digits: more are needed."""


@dataclass(frozen=True, slots=True)
class Found:
    id: bytes
    kind: str
    record: bytes | None  # the need or offer it belongs to (itself for a need or offer)


def _bounds(prefix: str) -> tuple[bytes, bytes]:
    return bytes.fromhex(prefix.ljust(64, "0")), bytes.fromhex(prefix.ljust(64, "f"))


def _what(kinds: Iterable[str]) -> str:
    names = sorted(kinds)
    return names[0] if len(names) == 1 else " or ".join([", ".join(names[:-1]), names[-1]])


async def find_event(store: Store, text: str, kinds: Iterable[str] | None = None) -> Found:
    """The stored event whose id is or starts with ``text`` (hex), among ``kinds`` if given.

    Raises :class:`InputError` if ``text`` is not hex or shorter than :data:`MIN_PREFIX`
    digits, :class:`UnknownIdError` if nothing matches (saying so if an event of another kind
    does), :class:`AmbiguousIdError` if several do.
    """
    prefix = text.strip().lower()
    if not _HEX.fullmatch(prefix) or len(prefix) > 64:
        raise InputError("id", f"{text!r} is not an id (hex digits, as `aidnode list` shows)")
    if len(prefix) < MIN_PREFIX:
        raise InputError("id", f"{text!r} is too short: give at least {MIN_PREFIX} hex digits")
    low, high = _bounds(prefix)
    rows = await store.fetch(
        "SELECT id, kind, record FROM events WHERE id BETWEEN ? AND ? ORDER BY id LIMIT 11",
        (low, high),
    )
    wanted = set(kinds) if kinds is not None else None
    matches = [row for row in rows if wanted is None or row[1] in wanted]
    if not matches:
        if rows:
            other = rows[0][1]
            raise UnknownIdError(f"{prefix} is a {other}, not a {_what(wanted or ())}")
        gone = await store.fetch(
            "SELECT 1 FROM tombstones WHERE id BETWEEN ? AND ? LIMIT 1", (low, high)
        )
        waiting = await store.fetch(
            "SELECT author FROM quarantine WHERE id BETWEEN ? AND ? LIMIT 1", (low, high)
        )
        if waiting:
            raise UnknownIdError(
                f"{prefix} waits in quarantine: this node does not trust its author yet "
                f"(aidnode trust explain {encode_key(waiting[0][0])})"
            )
        if gone:
            raise UnknownIdError(f"{prefix} was purged (it expired more than the horizon ago)")
        what = _what(wanted) if wanted else "event"
        raise UnknownIdError(f"no {what} with id {prefix} on this node")
    if len(matches) > 1:
        listed = ", ".join(f"{row[0].hex()[:12]} ({row[1]})" for row in matches[:5])
        raise AmbiguousIdError(f"id {prefix} is ambiguous: it starts {listed}; give more digits")
    event_id, kind, record = matches[0]
    return Found(event_id, kind, record)


async def org_names(store: Store) -> dict[bytes, str]:
    """Each known org's profile name."""
    return {org: name for org, name in await store.fetch("SELECT org, name FROM profiles")}


async def accepted_orgs(store: Store, level: str) -> set[bytes]:
    """The orgs this node's trust layer accepts at ``level`` (empty until it has run)."""
    rows = await store.fetch("SELECT org FROM accepted WHERE level = ?", (level,))
    return {row[0] for row in rows}


def org_label(org: bytes | None, names: dict[bytes, str]) -> str:
    """An org's name if known, else its key (shortened for tables by the caller)."""
    if org is None:
        return "(nobody)"
    return names.get(org) or encode_key(org)
