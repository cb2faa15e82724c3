"""Canonical msgpack: exactly one byte string for every value (docs/protocol.md §2).

Rules: map keys are strings, sorted by their UTF-8 bytes, no duplicates; integers, strings,
binaries, arrays and maps use msgpack's shortest header; strings are UTF-8 in NFC; no floats,
no extension types, no nil inside bodies (absence is the only way to say "not set").

:func:`decode` refuses any byte string that is not the canonical encoding of what it decodes
to: it decodes strictly (sorted unique keys checked while decoding), re-encodes and compares.
So an event has one payload, one id and one signature, and no verifier can be tricked by two
encodings of "the same" event (the canonical-JSON trap of early Secure Scuttlebutt).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import msgpack

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from protocol.limits import MAX_NEST

__all__ = ["check_plain", "decode", "encode"]

_PLAIN_SCALARS = (bool, int, str, bytes)


def _canonical(value: Any, depth: int) -> Any:
    if depth > MAX_NEST:
        raise ProtocolError(ReasonCode.TOO_LARGE, "nested too deep")
    if isinstance(value, Mapping):
        keys = list(value)
        for key in keys:
            if type(key) is not str:
                raise ProtocolError(ReasonCode.BAD_FIELD, "map keys must be strings")
        keys.sort()  # str order is code-point order, which equals UTF-8 byte order
        return {key: _canonical(value[key], depth + 1) for key in keys}
    if isinstance(value, list | tuple):
        return [_canonical(item, depth + 1) for item in value]
    if value is None or isinstance(value, _PLAIN_SCALARS):
        return value
    raise ProtocolError(ReasonCode.BAD_FIELD, f"cannot encode {type(value).__name__}")


def encode(value: Any) -> bytes:
    """The canonical encoding of ``value`` (maps, lists/tuples, int, str, bytes, bool, None).

    Raises :class:`ProtocolError` (``bad_field``) for floats, non-string keys, other types or
    integers outside msgpack's 64-bit range.
    """
    try:
        return bytes(msgpack.packb(_canonical(value, 0), use_bin_type=True))
    except OverflowError as exc:
        raise ProtocolError(ReasonCode.BAD_FIELD, "integer out of range") from exc


def _sorted_map(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    # Key *types* are checked where maps are interpreted (schemas, check_plain); here only
    # order and uniqueness, which decoding into a dict would otherwise hide.
    value = dict(pairs)
    keys = list(value)
    try:
        if len(keys) != len(pairs) or keys != sorted(keys):
            raise ProtocolError(ReasonCode.NON_CANONICAL, "map keys unsorted or duplicated")
    except TypeError:  # keys of mixed types cannot be ordered
        raise ProtocolError(ReasonCode.NON_CANONICAL, "map keys of mixed types") from None
    return value


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(ReasonCode.NON_CANONICAL, "extension types are not allowed")


def decode(data: bytes) -> Any:
    """Decode one canonical msgpack value. Arrays come back as tuples, maps as dicts.

    Raises :class:`ProtocolError`: ``malformed`` if the bytes are not one msgpack value,
    ``non_canonical`` if they are but not in canonical form. Floats, nil and non-NFC strings
    are left for the schema (or :func:`check_plain`) to refuse, since they are legal msgpack.
    """
    size = len(data)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=False,
            strict_map_key=True,  # str or bytes keys only; schemas then insist on str
            object_pairs_hook=_sorted_map,
            ext_hook=_no_ext,
            max_str_len=size,
            max_bin_len=size,
            max_array_len=size,
            max_map_len=size,
            max_ext_len=size,
        )
    except ProtocolError:
        raise
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        # ValueError covers truncated data, extra bytes, bad UTF-8 and the C stack limit.
        raise ProtocolError(ReasonCode.MALFORMED, f"not msgpack: {exc}") from None
    try:
        again = msgpack.packb(value, use_bin_type=True)
    except (OverflowError, ValueError, TypeError) as exc:
        raise ProtocolError(ReasonCode.NON_CANONICAL, str(exc)) from None
    if again != data:
        raise ProtocolError(ReasonCode.NON_CANONICAL, "bytes differ from the canonical encoding")
    return value


def check_plain(value: Any, depth: int = 0) -> None:
    """Refuse anything a canonical body may not hold: floats, nil, non-NFC strings, deep nests.

    Used for the bodies of kinds this version does not know (their schema is unknown, so the
    generic rules are all that can be checked). Raises :class:`ProtocolError`.
    """
    if depth > MAX_NEST:
        raise ProtocolError(ReasonCode.TOO_LARGE, "nested too deep")
    if type(value) is str:
        if not unicodedata.is_normalized("NFC", value):
            raise ProtocolError(ReasonCode.NON_CANONICAL, "string not in NFC")
    elif isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str:
                raise ProtocolError(ReasonCode.BAD_FIELD, "map keys must be strings")
            check_plain(key, depth + 1)
            check_plain(item, depth + 1)
    elif isinstance(value, tuple):
        for item in value:
            check_plain(item, depth + 1)
    elif value is None:
        raise ProtocolError(ReasonCode.BAD_FIELD, "nil is not allowed in a body")
    elif not isinstance(value, _PLAIN_SCALARS):
        raise ProtocolError(ReasonCode.BAD_FIELD, f"{type(value).__name__} is not allowed")
