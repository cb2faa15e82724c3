"""What reconciliation reads from a replica's set, and the digests it computes over it.

A :class:`RangeStore` exposes ranks over keys in ``(hlc, id)`` order; the keyed fingerprints
and id hashes of docs/reconciliation.md §4 are computed from what it returns, so the node can
serve reconciliation from its in-memory :class:`sync.fingerprint_index.FingerprintIndex`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from sync.reconcile_wire import FINGERPRINT_BYTES, ID_HASH_BYTES, INFINITY, Bound

__all__ = [
    "LOWEST_BOUND",
    "RangeStore",
    "RankCache",
    "child_ranks",
    "id_hash",
    "range_fingerprint",
    "set_fingerprint",
]

LOWEST_BOUND = Bound(hlc=0)  # the lower end of the first range: (0, zero id)


class RangeStore(Protocol):
    """What reconciliation reads from a replica's set: ranks over keys in ``(hlc, id)`` order.

    :class:`sync.fingerprint_index.FingerprintIndex` implements it in O(log n) a call.
    """

    def __len__(self) -> int: ...

    def rank(self, bound: tuple[int, bytes]) -> int:
        """How many keys are strictly below ``bound`` (hlc may be 2**64: above all keys)."""
        ...

    def key_at(self, rank: int) -> tuple[int, bytes]:
        """The key of rank ``rank``, 0 <= rank < len."""
        ...

    def prefix_id_sum(self, rank: int) -> int:
        """Sum of the ``rank`` lowest ids as little-endian ints, modulo 2**256 - 1."""
        ...

    def keys(self, start: int, stop: int) -> Sequence[tuple[int, bytes]]:
        """The keys of ranks ``start`` to ``stop - 1``, ascending."""
        ...


def range_fingerprint(salt: bytes, count: int, id_sum: int) -> bytes:
    """The keyed 8-byte fingerprint of a range of ``count`` keys with this id sum (§4.2)."""
    # negentropy hashes (sum, count) too; keying the hash with the session salt is ours.
    data = count.to_bytes(8, "little") + id_sum.to_bytes(32, "little")
    return hashlib.blake2b(
        data, digest_size=FINGERPRINT_BYTES, key=salt, person=b"aidnode/rfp/v1"
    ).digest()


def id_hash(salt: bytes, item_id: bytes) -> bytes:
    """The keyed 8-byte hash of an id that ID_LIST carries; SHORT_ID_LIST its first 4 (§4.3)."""
    return hashlib.blake2b(
        item_id, digest_size=ID_HASH_BYTES, key=salt, person=b"aidnode/rid/v1"
    ).digest()


def set_fingerprint(store: RangeStore) -> bytes:
    """A 16-byte digest of the whole set (unkeyed): equal on two replicas iff in sync.

    For the "in sync" flag shown per peer; it is not used on the reconciliation wire.
    """
    count = len(store)
    data = count.to_bytes(8, "little") + store.prefix_id_sum(count).to_bytes(32, "little")
    return hashlib.blake2b(data, digest_size=16, person=b"aidnode/set/v1").digest()


class RankCache:
    """Ranks and prefix sums of the bounds of consecutive ranges, each computed once."""

    __slots__ = ("_bound", "_rank", "_store", "_sum")

    def __init__(self, store: RangeStore) -> None:
        self._store = store
        self._bound = LOWEST_BOUND
        self._rank = 0
        self._sum = 0

    def at(self, bound: Bound) -> tuple[int, int]:
        if bound != self._bound:
            self._bound = bound
            self._rank = len(self._store) if bound == INFINITY else self._store.rank(bound.key)
            self._sum = self._store.prefix_id_sum(self._rank)
        return self._rank, self._sum


def child_ranks(start: int, stop: int, parts: int) -> list[int]:
    """The upper ranks of ``parts`` children of ``[start, stop)`` of equal count (±1)."""
    count = stop - start
    parts = max(1, min(parts, count))
    return [start + count * index // parts for index in range(1, parts + 1)]
