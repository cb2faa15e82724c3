"""The binary messages of range-based set reconciliation, version 1 (docs/reconciliation.md §3).

A message is a header and a list of *ranges*. The ranges tile the key space in order: each one
runs from the previous range's upper bound (the first from the lowest key) to its own upper
bound, and the last one ends at infinity, so a message always covers every key exactly once
and a message cut short at any point is detectably incomplete. ::

    message := type salt? reply_limit? range+
    type    := u8: version << 4 | kind     (0x11 query, 0x12 reply)
    salt    := 16 bytes                    (query only: keys every fingerprint and id hash)
    reply_limit := varint                  (query only: the most bytes the reply may take)
    range   := head bound payload
    head    := u8: bound_code << 3 | mode

Bounds are encoded against the previous bound's hlc (0 before the first): ``bound_code`` 0-15
means the bound is ``(hlc, zero id)`` with ``hlc = ((previous_hlc >> 4c) + varint) << 4c``;
16 means ``hlc = previous_hlc + varint`` followed by ``u8 length`` and that many id-prefix
bytes (for bounds between two keys of equal hlc); 31 is infinity. Like negentropy, a bound is
any value separating two neighbouring keys, chosen as short as possible; unlike it, the hlc is
chosen with as many trailing zero bits as the gap allows and those bits are not sent, which
takes a bound from ~6 bytes to ~2 for millisecond HLCs (docs/reconciliation.md §3.2).

Parsing is strict: every way bytes can fail to be exactly one canonical message raises
:class:`ProtocolError` (``malformed``, ``non_canonical``, ``too_large``, ``unknown_version``),
and nothing else escapes, whatever the input. A parsed message re-encodes to the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError

__all__ = [
    "FINGERPRINT_BYTES",
    "ID_BYTES",
    "ID_HASH_BYTES",
    "INFINITY",
    "LOWEST",
    "MIN_FRAME_BYTES",
    "SALT_BYTES",
    "SHORT_HASH_BYTES",
    "VERSION",
    "Bound",
    "Defer",
    "Entry",
    "Fingerprint",
    "IdList",
    "Ids",
    "MessageKind",
    "MessageWriter",
    "Mode",
    "Query",
    "Reply",
    "ShortIdList",
    "Skip",
    "encode_query",
    "encode_reply",
    "parse_query",
    "parse_reply",
]

VERSION = 1
SALT_BYTES = 16
FINGERPRINT_BYTES = 8
ID_HASH_BYTES = 8
SHORT_HASH_BYTES = 4
ID_BYTES = 32
# The smallest frame any peer must accept: room for one range with the longest bound, one id
# and a bitfield, so every reply can make progress (docs/reconciliation.md §5).
MIN_FRAME_BYTES = 512
_MAX_UINT64 = (1 << 64) - 1
_INFINITE_HLC = 1 << 64
_PREFIX_CODE = 16
_INFINITY_CODE = 31


class MessageKind(IntEnum):
    """The low nibble of a message's first byte (docs/reconciliation.md §3.1)."""

    QUERY = 1  # initiator → responder
    REPLY = 2  # responder → initiator


class Mode(IntEnum):
    """What a range carries: the low three bits of its head byte (docs/reconciliation.md §3.3).

    SKIP, FINGERPRINT and an id list are Meyer 2023's three answers for a range (negentropy's
    modes 0-2); IDS replaces negentropy's reply id list with "the ids you lack, and a bitfield
    of yours I lack", and DEFER marks where a reply ran out of room.
    """

    SKIP = 0  # nothing to do in this range
    FINGERPRINT = 1  # the sender's fingerprint of the range
    ID_LIST = 2  # query: keyed hashes of all the initiator's ids in the range
    IDS = 3  # reply: responder's ids the initiator lacks + which listed ids it lacks
    DEFER = 4  # reply: not processed from here on; ask again (always the last range)
    SHORT_ID_LIST = 5  # query: as ID_LIST with 4-byte hashes; the initiator verifies the answer


_QUERY_MODES = frozenset({Mode.SKIP, Mode.FINGERPRINT, Mode.ID_LIST, Mode.SHORT_ID_LIST})
_REPLY_MODES = frozenset({Mode.SKIP, Mode.FINGERPRINT, Mode.IDS, Mode.DEFER})


def _fail(code: ReasonCode, detail: str) -> ProtocolError:
    return ProtocolError(code, detail)


def _shift_for(hlc: int) -> int:
    # The canonical shift: the largest multiple of 4 (up to 60) dividing hlc's trailing zeros.
    if hlc == 0:
        return 0
    return min(60, ((hlc & -hlc).bit_length() - 1) // 4 * 4)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    """A point between keys: ``(hlc, prefix + zero bytes)``; ``hlc == 2**64`` is infinity.

    ``prefix`` is at most 32 bytes and never ends in a zero byte (that would be a longer
    spelling of the same bound). Raises :class:`ValueError` otherwise.
    """

    hlc: int
    prefix: bytes = b""

    def __post_init__(self) -> None:
        if type(self.hlc) is not int or not 0 <= self.hlc <= _INFINITE_HLC:
            raise ValueError("bound hlc out of range")
        if len(self.prefix) > ID_BYTES or self.prefix.endswith(b"\x00"):
            raise ValueError("bound prefix too long or not minimal")
        if self.hlc == _INFINITE_HLC and self.prefix:
            raise ValueError("infinity has no prefix")

    @property
    def key(self) -> tuple[int, bytes]:
        """The bound as a key-shaped tuple, comparable with ``(hlc, id)`` keys."""
        return (self.hlc, self.prefix.ljust(ID_BYTES, b"\x00"))

    @classmethod
    def between(cls, below: tuple[int, bytes], above: tuple[int, bytes]) -> Bound:
        """The cheapest bound ``b`` with ``below < b.key <= above`` (requires below < above)."""
        low_hlc, low_id = below
        high_hlc, high_id = above
        if low_hlc < high_hlc:
            # Keep ``high_hlc``'s bits down to the highest one where the two differ: the
            # result is above ``low_hlc`` and has the most trailing zeros possible.
            top = (low_hlc ^ high_hlc).bit_length() - 1
            return cls(hlc=(high_hlc >> top) << top)
        for index in range(ID_BYTES):
            if low_id[index] != high_id[index]:
                return cls(hlc=high_hlc, prefix=high_id[: index + 1])
        raise ValueError("below must be less than above")


INFINITY = Bound(hlc=_INFINITE_HLC)
LOWEST: tuple[int, bytes] = (0, bytes(ID_BYTES))  # the lower end of the first range


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    """Nothing to do up to ``upper``."""

    upper: Bound


@dataclass(frozen=True, slots=True, kw_only=True)
class Defer:
    """Reply only, and always last: the responder stopped here (frame or work budget)."""

    upper: Bound = INFINITY

    def __post_init__(self) -> None:
        if self.upper != INFINITY:
            raise ValueError("a deferred range runs to infinity")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fingerprint:
    """The sender's keyed fingerprint of its keys in the range."""

    upper: Bound
    fingerprint: bytes

    def __post_init__(self) -> None:
        if len(self.fingerprint) != FINGERPRINT_BYTES:
            raise ValueError("fingerprint must be 8 bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class IdList:
    """Query only: keyed 8-byte hashes of every id the initiator holds in the range, in order."""

    upper: Bound
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if any(len(item) != ID_HASH_BYTES for item in self.hashes):
            raise ValueError("id hashes must be 8 bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortIdList:
    """Query only: like :class:`IdList` with the first 4 bytes of each hash, never empty.

    Sent only for a range whose reply fingerprint the initiator holds, so it can check that
    the answer accounts for the responder's whole range and retry with 8-byte hashes if a
    4-byte collision hid a key (docs/reconciliation.md §4.3)."""

    upper: Bound
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.hashes or any(len(item) != SHORT_HASH_BYTES for item in self.hashes):
            raise ValueError("a short id list has one or more 4-byte hashes")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ids:
    """Reply only: ids the responder holds in the range that the query did not list, and for
    each hash the query listed for a range starting here, whether the responder lacks it."""

    upper: Bound
    ids: tuple[bytes, ...]
    lacks: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if any(len(item) != ID_BYTES for item in self.ids):
            raise ValueError("ids must be 32 bytes")


Entry = Skip | Fingerprint | IdList | ShortIdList | Ids | Defer

_MODE_OF: dict[type, Mode] = {
    Skip: Mode.SKIP,
    Fingerprint: Mode.FINGERPRINT,
    IdList: Mode.ID_LIST,
    ShortIdList: Mode.SHORT_ID_LIST,
    Ids: Mode.IDS,
    Defer: Mode.DEFER,
}


def _check_entries(entries: tuple[Entry, ...], allowed: frozenset[Mode]) -> None:
    if not entries:
        raise ValueError("a message has at least one range")
    previous = LOWEST
    previous_mode: Mode | None = None
    for entry in entries:
        mode = _MODE_OF[type(entry)]
        if mode not in allowed:
            raise ValueError(f"{mode.name} is not allowed in this message")
        key = entry.upper.key
        if not key > previous:
            raise ValueError("range bounds must increase")
        if mode is Mode.SKIP and previous_mode is Mode.SKIP:
            raise ValueError("adjacent skips must be merged")
        previous, previous_mode = key, mode
    if entries[-1].upper != INFINITY:
        raise ValueError("the last range must end at infinity")


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """Initiator → responder. ``reply_limit`` caps the reply's size in bytes."""

    salt: bytes
    reply_limit: int
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        if len(self.salt) != SALT_BYTES:
            raise ValueError("salt must be 16 bytes")
        if not MIN_FRAME_BYTES <= self.reply_limit <= _MAX_UINT64:
            raise ValueError("reply limit below the minimum frame")
        _check_entries(self.entries, _QUERY_MODES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """Responder → initiator."""

    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        _check_entries(self.entries, _REPLY_MODES)
        if any(isinstance(entry, Defer) for entry in self.entries[:-1]):
            raise ValueError("a deferred range is always the last")


def _varint(value: int) -> bytes:
    # Unsigned LEB128, the shortest form only.
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class MessageWriter:
    """Encodes ranges one at a time, so a sender can stop when the next would not fit.

    ``add`` returns the encoded size of the range it appended; ``mark``/``rollback`` undo
    appends. The caller keeps ranges ordered; :meth:`finish` returns the bytes.
    """

    __slots__ = ("_buffer", "_previous_hlc")

    def __init__(self, header: bytes) -> None:
        self._buffer = bytearray(header)
        self._previous_hlc = 0

    def __len__(self) -> int:
        return len(self._buffer)

    def mark(self) -> tuple[int, int]:
        return len(self._buffer), self._previous_hlc

    def rollback(self, mark: tuple[int, int]) -> None:
        del self._buffer[mark[0] :]
        self._previous_hlc = mark[1]

    def add(self, entry: Entry) -> int:
        start = len(self._buffer)
        out = self._buffer
        bound = entry.upper
        mode = _MODE_OF[type(entry)]
        if bound.hlc == _INFINITE_HLC:
            out.append(_INFINITY_CODE << 3 | mode)
        elif bound.prefix:
            out.append(_PREFIX_CODE << 3 | mode)
            out += _varint(bound.hlc - self._previous_hlc)
            out.append(len(bound.prefix))
            out += bound.prefix
            self._previous_hlc = bound.hlc
        else:
            shift = _shift_for(bound.hlc)
            out.append((shift // 4) << 3 | mode)
            out += _varint((bound.hlc >> shift) - (self._previous_hlc >> shift))
            self._previous_hlc = bound.hlc
        if isinstance(entry, Fingerprint):
            out += entry.fingerprint
        elif isinstance(entry, IdList | ShortIdList):
            out += _varint(len(entry.hashes))
            out += b"".join(entry.hashes)
        elif isinstance(entry, Ids):
            out += _varint(len(entry.ids))
            out += b"".join(entry.ids)
            out += _varint(len(entry.lacks))
            bits = bytearray((len(entry.lacks) + 7) // 8)
            for index, lacking in enumerate(entry.lacks):
                if lacking:
                    bits[index >> 3] |= 1 << (index & 7)
            out += bits
        return len(out) - start

    def finish(self) -> bytes:
        return bytes(self._buffer)


def query_header(salt: bytes, reply_limit: int) -> bytes:
    """The bytes before a query's first range."""
    return bytes([VERSION << 4 | MessageKind.QUERY]) + salt + _varint(reply_limit)


REPLY_HEADER = bytes([VERSION << 4 | MessageKind.REPLY])


def encode_query(query: Query) -> bytes:
    """The canonical bytes of ``query``."""
    writer = MessageWriter(query_header(query.salt, query.reply_limit))
    for entry in query.entries:
        writer.add(entry)
    return writer.finish()


def encode_reply(reply: Reply) -> bytes:
    """The canonical bytes of ``reply``."""
    writer = MessageWriter(REPLY_HEADER)
    for entry in reply.entries:
        writer.add(entry)
    return writer.finish()


class _Reader:
    __slots__ = ("_data", "_position")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    @property
    def at_end(self) -> bool:
        return self._position == len(self._data)

    @property
    def remaining(self) -> int:
        return len(self._data) - self._position

    def byte(self) -> int:
        if self._position >= len(self._data):
            raise _fail(ReasonCode.MALFORMED, "message ends inside a range")
        value = self._data[self._position]
        self._position += 1
        return value

    def take(self, count: int) -> bytes:
        if count > self.remaining:
            raise _fail(ReasonCode.MALFORMED, "message ends inside a field")
        start = self._position
        self._position += count
        return self._data[start : self._position]

    def varint(self) -> int:
        value = 0
        shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and shift:
                    raise _fail(ReasonCode.NON_CANONICAL, "varint not in its shortest form")
                if value > _MAX_UINT64:
                    raise _fail(ReasonCode.MALFORMED, "varint above 2**64 - 1")
                return value
            shift += 7
            if shift > 63:
                raise _fail(ReasonCode.MALFORMED, "varint longer than 10 bytes")


def _read_bound(reader: _Reader, code: int, previous_hlc: int) -> Bound:
    if code == _INFINITY_CODE:
        return INFINITY
    if code == _PREFIX_CODE:
        hlc = previous_hlc + reader.varint()
        length = reader.byte()
        if not 1 <= length <= ID_BYTES:
            raise _fail(ReasonCode.MALFORMED, "bound prefix length must be 1-32")
        prefix = reader.take(length)
        if prefix[-1] == 0:
            raise _fail(ReasonCode.NON_CANONICAL, "bound prefix ends in a zero byte")
    elif code < _PREFIX_CODE:
        shift = code * 4
        hlc = ((previous_hlc >> shift) + reader.varint()) << shift
        prefix = b""
        if hlc <= _MAX_UINT64 and _shift_for(hlc) != shift:
            raise _fail(ReasonCode.NON_CANONICAL, "bound hlc not in its shortest form")
    else:
        raise _fail(ReasonCode.MALFORMED, f"unknown bound code {code}")
    if hlc > _MAX_UINT64:
        raise _fail(ReasonCode.MALFORMED, "bound hlc above 2**64 - 1")
    return Bound(hlc=hlc, prefix=prefix)


def _read_entry(reader: _Reader, mode: Mode, upper: Bound) -> Entry:
    if mode is Mode.SKIP:
        return Skip(upper=upper)
    if mode is Mode.DEFER:
        if upper != INFINITY:
            raise _fail(ReasonCode.MALFORMED, "a deferred range must run to infinity")
        return Defer(upper=upper)
    if mode is Mode.FINGERPRINT:
        return Fingerprint(upper=upper, fingerprint=reader.take(FINGERPRINT_BYTES))
    if mode is Mode.ID_LIST or mode is Mode.SHORT_ID_LIST:
        size = ID_HASH_BYTES if mode is Mode.ID_LIST else SHORT_HASH_BYTES
        count = reader.varint()
        if count * size > reader.remaining:
            raise _fail(ReasonCode.MALFORMED, "id list longer than the message")
        raw = reader.take(count * size)
        hashes = tuple(raw[i : i + size] for i in range(0, len(raw), size))
        if mode is Mode.ID_LIST:
            return IdList(upper=upper, hashes=hashes)
        if not hashes:
            raise _fail(ReasonCode.NON_CANONICAL, "an empty list is sent as ID_LIST")
        return ShortIdList(upper=upper, hashes=hashes)
    count = reader.varint()
    if count * ID_BYTES > reader.remaining:
        raise _fail(ReasonCode.MALFORMED, "id list longer than the message")
    raw = reader.take(count * ID_BYTES)
    ids = tuple(raw[i : i + ID_BYTES] for i in range(0, len(raw), ID_BYTES))
    listed = reader.varint()
    if (listed + 7) // 8 > reader.remaining:
        raise _fail(ReasonCode.MALFORMED, "bitfield longer than the message")
    bits = reader.take((listed + 7) // 8)
    if listed % 8 and bits[-1] >> (listed % 8):
        raise _fail(ReasonCode.NON_CANONICAL, "bitfield padding bits are set")
    lacks = tuple(bool(bits[i >> 3] >> (i & 7) & 1) for i in range(listed))
    return Ids(upper=upper, ids=ids, lacks=lacks)


def _read_entries(reader: _Reader, allowed: frozenset[Mode]) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    previous = LOWEST
    previous_hlc = 0
    previous_mode: Mode | None = None
    while True:
        head = reader.byte()
        try:
            mode = Mode(head & 7)
        except ValueError:
            raise _fail(ReasonCode.MALFORMED, f"unknown mode {head & 7}") from None
        if mode not in allowed:
            raise _fail(ReasonCode.MALFORMED, f"{mode.name} is not allowed here")
        upper = _read_bound(reader, head >> 3, previous_hlc)
        if not upper.key > previous:
            raise _fail(ReasonCode.MALFORMED, "range bounds must increase")
        if mode is Mode.SKIP and previous_mode is Mode.SKIP:
            raise _fail(ReasonCode.NON_CANONICAL, "adjacent skips must be merged")
        entries.append(_read_entry(reader, mode, upper))
        if upper == INFINITY:
            break
        previous, previous_hlc, previous_mode = upper.key, upper.hlc, mode
    if not reader.at_end:
        raise _fail(ReasonCode.MALFORMED, "bytes after the last range")
    return tuple(entries)


def _read_type(reader: _Reader, data: bytes, max_bytes: int, kind: MessageKind) -> None:
    if len(data) > max_bytes:
        raise _fail(ReasonCode.TOO_LARGE, f"message of {len(data)} bytes over {max_bytes}")
    first = reader.byte()
    if first >> 4 != VERSION:
        raise _fail(ReasonCode.UNKNOWN_VERSION, f"reconciliation version {first >> 4}")
    if first & 0x0F != kind:
        raise _fail(ReasonCode.MALFORMED, f"expected a {kind.name.lower()}")


def parse_query(data: bytes, *, max_bytes: int) -> Query:
    """Decode a query of at most ``max_bytes`` bytes. Raises :class:`ProtocolError` only."""
    reader = _Reader(bytes(data))
    _read_type(reader, data, max_bytes, MessageKind.QUERY)
    salt = reader.take(SALT_BYTES)
    reply_limit = reader.varint()
    if reply_limit < MIN_FRAME_BYTES:
        raise _fail(ReasonCode.MALFORMED, f"reply limit below {MIN_FRAME_BYTES} bytes")
    return Query(salt=salt, reply_limit=reply_limit, entries=_read_entries(reader, _QUERY_MODES))


def parse_reply(data: bytes, *, max_bytes: int) -> Reply:
    """Decode a reply of at most ``max_bytes`` bytes. Raises :class:`ProtocolError` only."""
    reader = _Reader(bytes(data))
    _read_type(reader, data, max_bytes, MessageKind.REPLY)
    return Reply(entries=_read_entries(reader, _REPLY_MODES))
