"""Offline bundles: signed events on a USB stick, for places with no internet (DESIGN §5).

A bundle is a file::

    b"AIDNODE-BUNDLE\\n"
    msgpack header   {"format": "aidnode-bundle", "version": 1, "created_ms", "org", "name",
                      "since_ms", "count"}
    msgpack bin × count   one event in wire form [payload, sig] each, oldest arrival first
    msgpack trailer  {"end": true, "count", "digest"}   digest = BLAKE2b-256 over every wire,
                                                         each preceded by its 4-byte length

The digest catches a damaged or truncated copy before anything is imported; the events
themselves are signed, and :func:`import_bundle` sends every one through
:meth:`Store.ingest`, exactly like events from the network, so a bundle can never smuggle in
what a peer could not. ``salvage`` imports what can still be read from a damaged bundle (each
event is still verified on its own).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import msgpack

from crypto import AidError
from node.storage import Outcome, OutcomeStatus, Store
from protocol import encode
from protocol.limits import MAX_EVENT_BYTES

__all__ = [
    "MAGIC",
    "BundleError",
    "BundleHeader",
    "ImportReport",
    "export_bundle",
    "import_bundle",
    "read_bundle",
    "write_bundle",
]

MAGIC = b"AIDNODE-BUNDLE\n"
FORMAT = "aidnode-bundle"
VERSION = 1
BATCH = 500


class BundleError(AidError):
    """The file is not a bundle, or is damaged (the message says how)."""


@dataclass(frozen=True, slots=True)
class BundleHeader:
    created_ms: int
    org: bytes | None
    name: str | None
    since_ms: int | None
    count: int


class _Digest:
    def __init__(self) -> None:
        self._hash = hashlib.blake2b(digest_size=32)

    def add(self, wire: bytes) -> None:
        self._hash.update(len(wire).to_bytes(4, "big"))
        self._hash.update(wire)

    def digest(self) -> bytes:
        return self._hash.digest()


def write_bundle(
    out: BinaryIO,
    wires: Sequence[bytes],
    *,
    created_ms: int,
    org: bytes | None = None,
    name: str | None = None,
    since_ms: int | None = None,
    on_event: Callable[[], None] | None = None,
) -> None:
    """Write ``wires`` as a bundle to ``out``."""
    out.write(MAGIC)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "created_ms": created_ms,
        "org": org,
        "name": name,
        "since_ms": since_ms,
        "count": len(wires),
    }
    out.write(msgpack.packb(header, use_bin_type=True))
    digest = _Digest()
    for wire in wires:
        out.write(msgpack.packb(wire, use_bin_type=True))
        digest.add(wire)
        if on_event is not None:
            on_event()
    out.write(
        msgpack.packb(
            {"end": True, "count": len(wires), "digest": digest.digest()}, use_bin_type=True
        )
    )


def _header(raw: Any) -> BundleHeader:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BundleError("not an aidnode bundle (no bundle header)")
    if raw.get("version") != VERSION:
        raise BundleError(f"bundle version {raw.get('version')!r}: this aidnode reads version 1")
    count = raw.get("count")
    if type(count) is not int or count < 0:
        raise BundleError("damaged: the header's event count is not a number")
    org = raw.get("org")
    return BundleHeader(
        created_ms=int(raw.get("created_ms") or 0),
        org=org if isinstance(org, bytes) and len(org) == 32 else None,
        name=raw.get("name") if isinstance(raw.get("name"), str) else None,
        since_ms=raw.get("since_ms") if type(raw.get("since_ms")) is int else None,
        count=count,
    )


def read_bundle(path: Path, *, salvage: bool = False) -> tuple[BundleHeader, list[bytes]]:
    """The header and event wires of the bundle at ``path``.

    Raises :class:`BundleError` if it is not a bundle or is damaged (truncated, a changed
    byte, a wrong count); with ``salvage``, a damaged bundle yields whatever events can
    still be read instead (each will still be verified when imported).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror}") from None
    if not data.startswith(MAGIC):
        raise BundleError(f"{path} is not an aidnode bundle (made by `aidnode export`)")
    unpacker = msgpack.Unpacker(
        raw=False,
        max_bin_len=MAX_EVENT_BYTES,
        max_str_len=1024,
        max_map_len=16,
        max_array_len=16,
    )
    unpacker.feed(data[len(MAGIC) :])
    wires: list[bytes] = []
    digest = _Digest()
    try:
        header = _header(next(unpacker))
        for item in unpacker:
            if isinstance(item, bytes):
                wires.append(item)
                digest.add(item)
                continue
            if isinstance(item, dict) and item.get("end") is True:
                if item.get("count") != len(wires) or len(wires) != header.count:
                    raise BundleError(
                        f"damaged: {len(wires)} events read, the bundle says {header.count}"
                    )
                if item.get("digest") != digest.digest():
                    raise BundleError("damaged: the checksum does not match (a changed byte?)")
                return header, wires
            raise BundleError("damaged: unexpected data between the events")
        raise BundleError(
            f"damaged: the file ends after {len(wires)} of {header.count} events (truncated copy?)"
        )
    except BundleError:
        if salvage and wires:
            return BundleHeader(0, None, None, None, len(wires)), wires
        raise
    except StopIteration:
        raise BundleError("damaged: the file ends before its header") from None
    except (ValueError, msgpack.UnpackException) as exc:
        if salvage and wires:
            return BundleHeader(0, None, None, None, len(wires)), wires
        raise BundleError(
            f"damaged: {len(wires)} events read, then unreadable data ({exc})"
        ) from None


async def export_bundle(
    store: Store,
    path: Path,
    *,
    created_ms: int,
    org: bytes | None,
    name: str | None,
    since_ms: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_event: Callable[[], None] | None = None,
) -> int:
    """Write the events this node stored (received since ``since_ms``, if given) to a new
    bundle at ``path``; returns how many. Written to a temporary file first, then renamed,
    so a full USB stick never leaves a half bundle under the real name."""
    if since_ms is None:
        rows = await store.fetch("SELECT payload, sig FROM events ORDER BY seq")
    else:
        rows = await store.fetch(
            "SELECT payload, sig FROM events WHERE received_ms >= ? ORDER BY seq", (since_ms,)
        )
    wires = [encode([payload, sig]) for payload, sig in rows]
    if on_total is not None:
        on_total(len(wires))
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as out:
            write_bundle(
                out, wires, created_ms=created_ms, org=org, name=name, since_ms=since_ms,
                on_event=on_event,
            )  # fmt: skip
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BundleError(f"cannot write {path}: {exc.strerror}") from None
    return len(wires)


@dataclass(slots=True)
class ImportReport:
    """What happened to each event of a bundle."""

    total: int = 0
    accepted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    rejected: int = 0
    rejections: Counter[str] = field(default_factory=Counter)  # reason code → count

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "quarantined": self.quarantined,
            "rejected": self.rejected,
            "rejections": dict(sorted(self.rejections.items())),
        }


class Ingests(Protocol):
    """Where imported events go: a :class:`Store`, or the running node holding it."""

    async def ingest(self, wires: Sequence[bytes]) -> list[Outcome]: ...


async def import_bundle(
    store: Ingests, wires: Sequence[bytes], *, on_batch: Callable[[int], None] | None = None
) -> ImportReport:
    """Ingest ``wires`` in batches through :meth:`Store.ingest` (the network's path)."""
    report = ImportReport(total=len(wires))
    for start in range(0, len(wires), BATCH):
        batch = list(wires[start : start + BATCH])
        for outcome in await store.ingest(batch):
            if outcome.status is OutcomeStatus.ACCEPTED:
                report.accepted += 1
            elif outcome.status is OutcomeStatus.DUPLICATE:
                report.duplicate += 1
            elif outcome.status is OutcomeStatus.QUARANTINED:
                report.quarantined += 1
            else:
                report.rejected += 1
                report.rejections[outcome.code.value if outcome.code else "unknown"] += 1
        if on_batch is not None:
            on_batch(len(batch))
    return report
