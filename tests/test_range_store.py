"""The digests of docs/reconciliation.md §4, checked against the spec's own recipe, and the
helpers that walk a RangeStore."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from sync.fingerprint_index import FingerprintIndex
from sync.range_store import (
    LOWEST_BOUND,
    RankCache,
    child_ranks,
    id_hash,
    range_fingerprint,
    set_fingerprint,
)
from sync.reconcile_wire import INFINITY, Bound

SALT = bytes(range(16))
KEYS = [(n, bytes([n]) * 32) for n in range(1, 50)]


def test_range_fingerprint_follows_the_spec() -> None:
    data = (3).to_bytes(8, "little") + (12345).to_bytes(32, "little")
    expected = hashlib.blake2b(data, digest_size=8, key=SALT, person=b"aidnode/rfp/v1").digest()
    assert range_fingerprint(SALT, 3, 12345) == expected
    assert range_fingerprint(bytes(16), 3, 12345) != expected  # the salt keys it


def test_id_hash_follows_the_spec() -> None:
    item_id = b"\x42" * 32
    expected = hashlib.blake2b(item_id, digest_size=8, key=SALT, person=b"aidnode/rid/v1")
    assert id_hash(SALT, item_id) == expected.digest()


def test_set_fingerprint_tracks_set_equality() -> None:
    built = FingerprintIndex.from_sorted(KEYS)
    grown = FingerprintIndex()
    for key in reversed(KEYS):
        grown.insert(*key)
    assert set_fingerprint(built) == set_fingerprint(grown)
    grown.remove(*KEYS[7])
    assert set_fingerprint(built) != set_fingerprint(grown)
    assert len(set_fingerprint(built)) == 16


@given(st.integers(0, 500), st.integers(0, 500), st.integers(1, 40))
def test_child_ranks_split_evenly(start: int, length: int, parts: int) -> None:
    ranks = child_ranks(start, start + length, parts)
    assert ranks[-1] == start + length
    sizes = [high - low for low, high in zip([start, *ranks], ranks, strict=False)]
    assert max(sizes) - min(sizes) <= 1
    assert len(ranks) == max(1, min(parts, length))


def test_rank_cache_gives_ranks_and_prefix_sums() -> None:
    index = FingerprintIndex.from_sorted(KEYS)
    cache = RankCache(index)
    assert cache.at(LOWEST_BOUND) == (0, 0)
    bound = Bound(hlc=10)
    assert cache.at(bound) == (index.rank(bound.key), index.prefix_id_sum(9))
    assert cache.at(INFINITY) == (len(KEYS), index.total_id_sum)
