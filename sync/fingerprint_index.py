"""An ordered index of event keys with O(log n) counts and id sums over any key range.

Keys are ``(hlc, id)``: ``hlc`` an unsigned 64-bit int, ``id`` a 32-byte BLAKE2b-256 digest.
They are ordered as tuples, which is the order of the 40-byte string ``hlc(8, big-endian) ||
id`` and the order every range-based reconciliation step uses (docs/reconciliation.md §2).

Layout, and why. A million keys as Python tuples cost ~160 bytes each; here they live packed in
*chunks* of at most ``MAX_CHUNK`` keys (an ``array('Q')`` of hlcs and a ``bytearray`` of ids,
~42 bytes a key), so 10⁶ keys take ~45 MB. The chunks sit in a list, with a Fenwick tree over
them holding each chunk's count and id sum. That gives:

* rank (how many keys lie below a bound): bisect over the chunks' last keys, bisect inside the
  chunk, one Fenwick prefix: O(log n);
* select (the key of a given rank): a Fenwick descent, then an index: O(log n);
* id sum of the first ``r`` keys: the Fenwick prefix of whole chunks plus the sum of a part of
  one chunk, which is the shorter of its two sides read as *one* big integer (see below);
* insert/remove: a memmove inside one chunk and a Fenwick update; a chunk that grows past
  ``MAX_CHUNK`` splits and one that shrinks below ``MIN_CHUNK`` merges, which rebuilds the
  Fenwick tree in O(n / chunk) -- amortised over the hundreds of updates between two of them.

The id sum. Ids are added as 256-bit little-endian integers modulo ``ID_SUM_MODULUS`` =
2²⁵⁶ − 1 (the one's-complement sum of the Internet checksum, widened), not modulo 2²⁵⁶ as in
negentropy. Because 2²⁵⁶ ≡ 1 (mod 2²⁵⁶ − 1), the sum of ``k`` packed ids equals the integer
formed by their ``32·k`` bytes reduced modulo 2²⁵⁶ − 1, so CPython sums a run of ids with one
``int.from_bytes`` and a few shift-and-add folds instead of ``k`` interpreter steps (~40 ns
instead of ~200 ns a key). Both are abelian groups of about 2²⁵⁶ elements, so the additive
fingerprint's strength against collisions (Meyer 2023, §3; Wagner's k-sum bound) is the same.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from typing import NamedTuple

__all__ = [
    "ID_BYTES",
    "ID_SUM_MODULUS",
    "MAX_CHUNK",
    "MIN_CHUNK",
    "FingerprintIndex",
    "ItemKey",
    "id_sum_of",
]

ID_BYTES = 32
ID_SUM_MODULUS = (1 << 256) - 1
MAX_CHUNK = 512  # a chunk splits above this; the partial sums it needs stay ~12 µs
MIN_CHUNK = 64  # a chunk merges with a neighbour below this (after removals)
_BUILD_CHUNK = 384  # bulk build leaves each chunk 3/4 full, so inserts rarely split at once
_MAX_HLC = (1 << 64) - 1


class ItemKey(NamedTuple):
    """The sort key of one event: its hybrid logical clock, then its id."""

    hlc: int
    id: bytes


def _fold(value: int) -> int:
    # Reduce modulo 2^256 - 1 by adding the high half to the low half, halves a multiple of
    # 256 bits wide (2^256 ≡ 1): linear time, where % on a long dividend is quadratic-ish.
    while value.bit_length() > 256:
        half = ((value.bit_length() + 511) // 512) * 256
        value = (value & ((1 << half) - 1)) + (value >> half)
    return 0 if value == ID_SUM_MODULUS else value


def id_sum_of(ids: Iterable[bytes]) -> int:
    """The id sum of ``ids`` (each 32 bytes), computed naively: the reference for the index."""
    total = 0
    for item_id in ids:
        total += int.from_bytes(item_id, "little")
    return total % ID_SUM_MODULUS


def _check_key(hlc: int, item_id: bytes) -> None:
    if type(hlc) is not int or not 0 <= hlc <= _MAX_HLC:
        raise ValueError("hlc must be an unsigned 64-bit integer")
    if type(item_id) is not bytes or len(item_id) != ID_BYTES:
        raise ValueError("id must be 32 bytes")


class _Chunk:
    """Up to MAX_CHUNK consecutive keys, packed, with the id sum of all of them."""

    __slots__ = ("hlcs", "id_sum", "ids")

    def __init__(self, hlcs: array[int], ids: bytearray) -> None:
        self.hlcs = hlcs
        self.ids = ids
        self.id_sum = _fold(int.from_bytes(ids, "little"))

    def id_at(self, pos: int) -> bytes:
        return bytes(self.ids[pos * ID_BYTES : (pos + 1) * ID_BYTES])

    def lower_bound(self, hlc: int, item_id: bytes) -> int:
        """The position of the first key >= (hlc, item_id) (ids compare as bytes)."""
        hlcs = self.hlcs
        lo = bisect_left(hlcs, hlc)
        hi = bisect_right(hlcs, hlc, lo)
        if lo == hi:
            return lo
        # Equal hlcs are rare (two authors in one millisecond and counter), but a hostile
        # author can make many, so they are searched by bisection too, never scanned.
        return bisect_left(range(hi), item_id, lo, hi, key=self.id_at)

    def prefix_sum(self, count: int) -> int:
        """The id sum of the first ``count`` keys, reading the shorter side of the chunk."""
        view = memoryview(self.ids)
        if count * 2 <= len(self.hlcs):
            return _fold(int.from_bytes(view[: count * ID_BYTES], "little"))
        rest = _fold(int.from_bytes(view[count * ID_BYTES :], "little"))
        return (self.id_sum - rest) % ID_SUM_MODULUS


class _ChunkTotals:
    """A Fenwick tree over the chunks: prefix counts and prefix id sums in O(log chunks)."""

    __slots__ = ("_counts", "_size", "_sums", "_top")

    def __init__(self, chunks: list[_Chunk]) -> None:
        size = len(chunks)
        counts = [0] * (size + 1)
        sums = [0] * (size + 1)
        for index, chunk in enumerate(chunks, start=1):
            counts[index] += len(chunk.hlcs)
            sums[index] = (sums[index] + chunk.id_sum) % ID_SUM_MODULUS
            parent = index + (index & -index)
            if parent <= size:
                counts[parent] += counts[index]
                sums[parent] += sums[index]
        self._counts = counts
        self._sums = sums
        self._size = size
        self._top = 1 << (size.bit_length() - 1) if size else 0

    def add(self, chunk_index: int, count: int, id_sum: int) -> None:
        index = chunk_index + 1
        counts, sums, size = self._counts, self._sums, self._size
        while index <= size:
            counts[index] += count
            sums[index] = (sums[index] + id_sum) % ID_SUM_MODULUS
            index += index & -index

    def count_before(self, chunk_index: int) -> int:
        total = 0
        counts = self._counts
        index = chunk_index
        while index:
            total += counts[index]
            index &= index - 1
        return total

    def find(self, rank: int) -> tuple[int, int, int]:
        """(chunk, offset, id sum of the chunks before it) for the key of ``rank``."""
        counts, sums, size = self._counts, self._sums, self._size
        position = 0
        remaining = rank
        total = 0
        step = self._top
        while step:
            probe = position + step
            if probe <= size and counts[probe] <= remaining:
                position = probe
                remaining -= counts[probe]
                total += sums[probe]
            step >>= 1
        return position, remaining, total % ID_SUM_MODULUS


class FingerprintIndex:
    """An ordered set of ``(hlc, id)`` keys with range counts, id sums and select by rank.

    Ranks are 0-based positions in key order. A *bound* is any ``(hlc, id)`` pair with ``hlc``
    up to 2⁶⁴ (one past the largest hlc: the bound above every key) and a 32-byte ``id``;
    ``rank(bound)`` counts the keys strictly below it. Methods taking ``start, stop`` ranks
    require ``0 <= start <= stop <= len(self)`` and raise :class:`IndexError` otherwise.
    Updates raise :class:`ValueError` for a malformed key; nothing else raises.
    """

    __slots__ = ("_chunks", "_lasts", "_length", "_totals")

    def __init__(self) -> None:
        self._chunks: list[_Chunk] = []
        self._lasts: list[tuple[int, bytes]] = []
        self._length = 0
        self._totals = _ChunkTotals([])

    @classmethod
    def from_sorted(cls, keys: Iterable[tuple[int, bytes]]) -> FingerprintIndex:
        """Build from keys in strictly ascending order (as ``ORDER BY hlc, id`` yields them).

        Raises :class:`ValueError` if a key is malformed or out of order (or repeated).
        """
        index = cls()
        hlcs: array[int] = array("Q")
        ids = bytearray()
        previous: tuple[int, bytes] = (-1, b"")
        for key in keys:
            hlc, item_id = key
            if not key > previous:
                raise ValueError("keys are not in strictly ascending order")
            _check_key(hlc, item_id)
            hlcs.append(hlc)
            ids += item_id
            previous = key
            if len(hlcs) == _BUILD_CHUNK:
                index._chunks.append(_Chunk(hlcs, ids))
                index._length += _BUILD_CHUNK
                hlcs, ids = array("Q"), bytearray()
        if hlcs:
            index._chunks.append(_Chunk(hlcs, ids))
            index._length += len(hlcs)
        index._rebuild()
        return index

    def _rebuild(self) -> None:
        self._lasts = [(c.hlcs[-1], c.id_at(len(c.hlcs) - 1)) for c in self._chunks]
        self._totals = _ChunkTotals(self._chunks)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[ItemKey]:
        for chunk in self._chunks:
            for pos, hlc in enumerate(chunk.hlcs):
                yield ItemKey(hlc, chunk.id_at(pos))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        hlc, item_id = key
        if type(hlc) is not int or type(item_id) is not bytes or len(item_id) != ID_BYTES:
            return False
        chunk_index = bisect_left(self._lasts, (hlc, item_id))
        if chunk_index == len(self._chunks):
            return False
        chunk = self._chunks[chunk_index]
        pos = chunk.lower_bound(hlc, item_id)
        return pos < len(chunk.hlcs) and chunk.hlcs[pos] == hlc and chunk.id_at(pos) == item_id

    @property
    def total_id_sum(self) -> int:
        """The id sum of every key (modulo ``ID_SUM_MODULUS``)."""
        return self._totals.find(self._length)[2] if self._chunks else 0

    def rank(self, bound: tuple[int, bytes]) -> int:
        """The number of keys strictly below ``bound``."""
        chunk_index = bisect_left(self._lasts, bound)
        if chunk_index == len(self._chunks):
            return self._length
        hlc, item_id = bound
        offset = self._chunks[chunk_index].lower_bound(hlc, item_id)
        return self._totals.count_before(chunk_index) + offset

    def _locate(self, rank: int) -> tuple[int, int, int]:
        if not 0 <= rank <= self._length:
            raise IndexError("rank out of range")
        if rank == self._length:
            return len(self._chunks), 0, self.total_id_sum
        return self._totals.find(rank)

    def key_at(self, rank: int) -> ItemKey:
        """The key of rank ``rank`` (``0 <= rank < len(self)``), i.e. select."""
        if rank == self._length:
            raise IndexError("rank out of range")
        chunk_index, offset, _ = self._locate(rank)
        chunk = self._chunks[chunk_index]
        return ItemKey(chunk.hlcs[offset], chunk.id_at(offset))

    def prefix_id_sum(self, rank: int) -> int:
        """The id sum of the ``rank`` lowest keys."""
        chunk_index, offset, total = self._locate(rank)
        if offset:
            total = (total + self._chunks[chunk_index].prefix_sum(offset)) % ID_SUM_MODULUS
        return total

    def id_sum(self, start: int, stop: int) -> int:
        """The id sum of the keys of ranks ``start`` to ``stop - 1``."""
        if not 0 <= start <= stop <= self._length:
            raise IndexError("ranks out of range")
        if start == stop:
            return 0
        return (self.prefix_id_sum(stop) - self.prefix_id_sum(start)) % ID_SUM_MODULUS

    def keys(self, start: int, stop: int) -> list[ItemKey]:
        """The keys of ranks ``start`` to ``stop - 1``, ascending."""
        if not 0 <= start <= stop <= self._length:
            raise IndexError("ranks out of range")
        found: list[ItemKey] = []
        if start == stop:
            return found
        chunk_index, offset, _ = self._locate(start)
        wanted = stop - start
        while wanted:
            chunk = self._chunks[chunk_index]
            end = min(len(chunk.hlcs), offset + wanted)
            ids = chunk.ids
            for pos in range(offset, end):
                found.append(ItemKey(chunk.hlcs[pos], bytes(ids[pos * 32 : pos * 32 + 32])))
            wanted -= end - offset
            chunk_index += 1
            offset = 0
        return found

    def insert(self, hlc: int, item_id: bytes) -> bool:
        """Add a key; False (and no change) if it is already present."""
        _check_key(hlc, item_id)
        key = (hlc, item_id)
        if not self._chunks:
            self._chunks.append(_Chunk(array("Q", [hlc]), bytearray(item_id)))
            self._length = 1
            self._rebuild()
            return True
        chunk_index = min(bisect_left(self._lasts, key), len(self._chunks) - 1)
        chunk = self._chunks[chunk_index]
        pos = chunk.lower_bound(hlc, item_id)
        size = len(chunk.hlcs)
        if pos < size and chunk.hlcs[pos] == hlc and chunk.id_at(pos) == item_id:
            return False
        chunk.hlcs.insert(pos, hlc)
        chunk.ids[pos * ID_BYTES : pos * ID_BYTES] = item_id
        value = int.from_bytes(item_id, "little")
        chunk.id_sum = (chunk.id_sum + value) % ID_SUM_MODULUS
        if pos == size:
            self._lasts[chunk_index] = key
        self._length += 1
        if size + 1 > MAX_CHUNK:
            half = (size + 1) // 2
            upper = _Chunk(chunk.hlcs[half:], chunk.ids[half * ID_BYTES :])
            self._chunks[chunk_index] = _Chunk(chunk.hlcs[:half], chunk.ids[: half * ID_BYTES])
            self._chunks.insert(chunk_index + 1, upper)
            self._rebuild()
        else:
            self._totals.add(chunk_index, 1, value)
        return True

    def remove(self, hlc: int, item_id: bytes) -> bool:
        """Remove a key; False (and no change) if it is absent."""
        _check_key(hlc, item_id)
        key = (hlc, item_id)
        chunk_index = bisect_left(self._lasts, key)
        if chunk_index == len(self._chunks):
            return False
        chunk = self._chunks[chunk_index]
        pos = chunk.lower_bound(hlc, item_id)
        if not (pos < len(chunk.hlcs) and chunk.hlcs[pos] == hlc and chunk.id_at(pos) == item_id):
            return False
        del chunk.hlcs[pos]
        del chunk.ids[pos * ID_BYTES : (pos + 1) * ID_BYTES]
        value = int.from_bytes(item_id, "little")
        chunk.id_sum = (chunk.id_sum - value) % ID_SUM_MODULUS
        self._length -= 1
        size = len(chunk.hlcs)
        if size >= MIN_CHUNK or (size and len(self._chunks) == 1):
            if pos == size:
                self._lasts[chunk_index] = (chunk.hlcs[-1], chunk.id_at(size - 1))
            self._totals.add(chunk_index, -1, -value)
            return True
        self._merge(chunk_index)
        return True

    def _merge(self, chunk_index: int) -> None:
        # An underfull chunk joins its smaller neighbour; if that overfills, the pair is
        # re-split evenly. Either way the chunk list changed shape, so totals are rebuilt.
        chunks = self._chunks
        if len(chunks) == 1:
            chunks.clear()
        else:
            if chunk_index == 0:
                other = 1
            elif chunk_index == len(chunks) - 1:
                other = chunk_index - 1
            else:
                left, right = chunks[chunk_index - 1], chunks[chunk_index + 1]
                other = chunk_index - 1 if len(left.hlcs) <= len(right.hlcs) else chunk_index + 1
            first, second = sorted((chunk_index, other))
            hlcs = chunks[first].hlcs + chunks[second].hlcs
            ids = chunks[first].ids + chunks[second].ids
            if len(hlcs) > MAX_CHUNK:
                half = len(hlcs) // 2
                chunks[first] = _Chunk(hlcs[:half], ids[: half * ID_BYTES])
                chunks[second] = _Chunk(hlcs[half:], ids[half * ID_BYTES :])
            else:
                chunks[first] = _Chunk(hlcs, ids)
                del chunks[second]
        self._rebuild()
