"""The fingerprint index agrees with a brute-force sorted list under any insert/remove history.

Chunk sizes are shrunk for the property tests (see ``small_chunks``) so that splits, merges and
multi-chunk ranges happen with a few dozen keys instead of thousands.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sync import fingerprint_index
from sync.fingerprint_index import (
    ID_SUM_MODULUS,
    FingerprintIndex,
    ItemKey,
    id_sum_of,
)

INFINITY = (1 << 64, bytes(32))


class SortedListReference:
    """The obvious implementation: a sorted Python list. Slow, and plainly right."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, bytes]] = []

    def insert(self, key: tuple[int, bytes]) -> bool:
        pos = bisect.bisect_left(self.keys, key)
        if pos < len(self.keys) and self.keys[pos] == key:
            return False
        self.keys.insert(pos, key)
        return True

    def remove(self, key: tuple[int, bytes]) -> bool:
        pos = bisect.bisect_left(self.keys, key)
        if pos < len(self.keys) and self.keys[pos] == key:
            del self.keys[pos]
            return True
        return False

    def rank(self, bound: tuple[int, bytes]) -> int:
        return bisect.bisect_left(self.keys, bound)

    def id_sum(self, start: int, stop: int) -> int:
        return id_sum_of(item_id for _, item_id in self.keys[start:stop])


@contextmanager
def small_chunks(maximum: int = 8, minimum: int = 2, build: int = 5) -> Iterator[None]:
    with (
        mock.patch.object(fingerprint_index, "MAX_CHUNK", maximum),
        mock.patch.object(fingerprint_index, "MIN_CHUNK", minimum),
        mock.patch.object(fingerprint_index, "_BUILD_CHUNK", build),
    ):
        yield


# Few distinct hlcs (many ties) and ids that share long prefixes, as a hostile author makes.
hlcs = st.integers(min_value=0, max_value=6) | st.integers(min_value=0, max_value=2**64 - 1)
ids = st.sampled_from([bytes(31) + bytes([n]) for n in range(4)] + [b"\xff" * 32]) | st.binary(
    min_size=32, max_size=32
)
keys = st.tuples(hlcs, ids)
bounds = keys | st.just(INFINITY) | st.just((0, bytes(32)))


class IndexMatchesReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._patch = small_chunks()
        self._patch.__enter__()
        self.index = FingerprintIndex()
        self.reference = SortedListReference()

    def teardown(self) -> None:
        self._patch.__exit__(None, None, None)

    @rule(key=keys)
    def insert(self, key: tuple[int, bytes]) -> None:
        assert self.index.insert(*key) == self.reference.insert(key)

    @rule(key=keys)
    def remove_absent_or_present(self, key: tuple[int, bytes]) -> None:
        assert self.index.remove(*key) == self.reference.remove(key)

    @precondition(lambda self: self.reference.keys)
    @rule(data=st.data())
    def remove_present(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.reference.keys))
        assert self.index.remove(*key)
        self.reference.remove(key)

    @rule(bound=bounds)
    def rank_matches(self, bound: tuple[int, bytes]) -> None:
        assert self.index.rank(bound) == self.reference.rank(bound)

    @rule(data=st.data())
    def range_queries_match(self, data: st.DataObject) -> None:
        size = len(self.reference.keys)
        start = data.draw(st.integers(0, size))
        stop = data.draw(st.integers(start, size))
        assert self.index.id_sum(start, stop) == self.reference.id_sum(start, stop)
        assert self.index.keys(start, stop) == self.reference.keys[start:stop]
        if start < size:
            assert self.index.key_at(start) == self.reference.keys[start]

    @invariant()
    def same_contents(self) -> None:
        assert len(self.index) == len(self.reference.keys)
        assert list(self.index) == self.reference.keys
        assert self.index.total_id_sum == self.reference.id_sum(0, len(self.reference.keys))


TestIndexMatchesReference = IndexMatchesReference.TestCase
TestIndexMatchesReference.settings = settings(max_examples=60, stateful_step_count=60)


@given(st.lists(keys, max_size=60, unique=True))
def test_bulk_build_equals_incremental_build(items: list[tuple[int, bytes]]) -> None:
    items.sort()
    with small_chunks():
        built = FingerprintIndex.from_sorted(items)
        grown = FingerprintIndex()
        for key in reversed(items):
            grown.insert(*key)
        assert list(built) == list(grown) == items
        for start in range(len(items) + 1):
            assert built.id_sum(start, len(items)) == grown.id_sum(start, len(items))


def test_keys_come_back_as_item_keys() -> None:
    index = FingerprintIndex.from_sorted([(1, b"\x01" * 32), (2, b"\x02" * 32)])
    assert index.key_at(1) == ItemKey(hlc=2, id=b"\x02" * 32)
    assert (1, b"\x01" * 32) in index
    assert (1, b"\x02" * 32) not in index
    assert "not a key" not in index


def test_id_sum_is_modulo_two_to_the_256_minus_one() -> None:
    ones = b"\xff" * 32
    index = FingerprintIndex.from_sorted([(0, bytes(31) + b"\x01"), (1, ones)])
    # 0xff..ff is the group's zero, so the sum is just the other id.
    assert index.total_id_sum == int.from_bytes(bytes(31) + b"\x01", "little")
    assert index.id_sum(1, 2) == 0 == ID_SUM_MODULUS % ID_SUM_MODULUS


def test_large_random_index_matches_reference_across_real_chunks() -> None:
    rng = random.Random(7)
    reference = SortedListReference()
    index = FingerprintIndex()
    for _ in range(6000):
        key = (rng.randrange(2000), rng.randbytes(32))
        assert index.insert(*key) == reference.insert(key)
    for key in rng.sample(reference.keys, 4500):
        assert index.remove(*key)
        reference.remove(key)
    assert list(index) == reference.keys
    size = len(reference.keys)
    for _ in range(200):
        start = rng.randrange(size + 1)
        stop = rng.randrange(start, size + 1)
        assert index.id_sum(start, stop) == reference.id_sum(start, stop)


@pytest.mark.parametrize(
    "bad",
    [
        [(2, b"\x00" * 32), (1, b"\x00" * 32)],  # descending
        [(1, b"\x00" * 32), (1, b"\x00" * 32)],  # repeated
        [(1, b"\x00" * 31)],  # short id
        [(-1, b"\x00" * 32)],  # negative hlc
        [(2**64, b"\x00" * 32)],  # hlc too large
    ],
)
def test_bulk_build_refuses_bad_input(bad: list[tuple[int, bytes]]) -> None:
    with pytest.raises(ValueError, match=r"order|hlc|id"):
        FingerprintIndex.from_sorted(bad)


def test_updates_refuse_malformed_keys_and_ranks_are_checked() -> None:
    index = FingerprintIndex()
    with pytest.raises(ValueError, match="id"):
        index.insert(1, b"short")
    with pytest.raises(ValueError, match="hlc"):
        index.remove(-5, bytes(32))
    assert index.rank(INFINITY) == 0
    assert index.id_sum(0, 0) == 0
    with pytest.raises(IndexError):
        index.key_at(0)
    with pytest.raises(IndexError):
        index.keys(0, 1)
