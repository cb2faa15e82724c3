"""Canonical msgpack: exactly one byte string for every value (docs/protocol.md §2).

Rules: map keys are strings, sorted by their UTF-8 bytes, no duplicates; integers, strings,
binaries, arrays and maps use msgpack's shortest header; strings are UTF-8 in NFC; no floats,
no extension types, no nil inside bodies (absence is the only way to say "not set").

:func:`decode` refuses any byte string that is not the canonical encoding of what it decodes
to: it decodes, checks what re-encoding cannot see (key order and type, floats, depth),
re-encodes and compares.
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

    Raises :class:`ProtocolError`: ``bad_field`` for floats, non-string keys, other types,
    integers outside msgpack's 64-bit range or strings with lone surrogates; ``too_large``
    for nesting deeper than MAX_NEST.
    """
    try:
        return bytes(msgpack.packb(_canonical(value, 0), use_bin_type=True))
    except OverflowError as exc:
        raise ProtocolError(ReasonCode.BAD_FIELD, "integer out of range") from exc
    except UnicodeEncodeError as exc:  # lone surrogates cannot be written as UTF-8
        raise ProtocolError(ReasonCode.BAD_FIELD, "string is not valid Unicode") from exc


# Re-encodes every decoded value (once per event received), so it is made once: msgpack.packb
# builds a Packer with a 256 KiB buffer per call. Sharing it is safe under the GIL: pack()
# runs to completion in C without calling back into Python for the plain types decode yields.
_REPACKER = msgpack.Packer(use_bin_type=True, autoreset=True)

# What msgpack decodes that a canonical value may hold. Anything else is a float or an
# extension msgpack decodes itself without asking ext_hook (the timestamp type, -1).
_DECODED_SCALARS = frozenset({str, bytes, int, bool, type(None)})


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(ReasonCode.NON_CANONICAL, "extension types are not allowed")


def _check_tree(value: dict[Any, Any] | tuple[Any, ...], depth: int) -> None:
    """Refuse what re-encoding cannot reveal: unsorted or non-string map keys, floats (a
    float64 re-encodes to the same bytes), msgpack timestamps (decoded natively, never
    passed to ext_hook) and nesting deeper than MAX_NEST.

    Duplicate keys need no check here: the decoded dict holds fewer entries than the map
    header announced, so the re-encoding is shorter and differs from the input.
    """
    if value and depth >= MAX_NEST:  # its elements would sit deeper than MAX_NEST
        raise ProtocolError(ReasonCode.TOO_LARGE, "nested too deep")
    items: Any = value
    if type(value) is dict:
        previous = ""
        for key in value:
            if type(key) is not str:  # a bin key: the string spelled as bytes
                raise ProtocolError(ReasonCode.NON_CANONICAL, "map keys must be strings")
            if key <= previous and previous:  # str order is code-point order = UTF-8 order
                raise ProtocolError(ReasonCode.NON_CANONICAL, "map keys unsorted")
            previous = key
        items = value.values()
    for item in items:
        kind = type(item)
        if kind is dict or kind is tuple:
            _check_tree(item, depth + 1)
        elif kind not in _DECODED_SCALARS:
            raise ProtocolError(ReasonCode.NON_CANONICAL, f"{kind.__name__} is not allowed")


def decode(data: bytes) -> Any:
    """Decode one canonical msgpack value. Arrays come back as tuples, maps as dicts.

    Exactly the byte strings :func:`encode` produces are accepted, and ``encode(decode(b))
    == b`` for each. Raises :class:`ProtocolError`: ``malformed`` if the bytes are not one
    msgpack value (or a map key is neither a string nor a binary), ``too_large`` if maps and
    arrays nest deeper than MAX_NEST, ``non_canonical`` if they are msgpack but not in
    canonical form (including floats, extension types and binary map keys). Nil and non-NFC
    strings are legal here; bodies refuse them (:func:`check_plain`, the schemas).
    """
    try:
        # unpackb bounds every length by len(data) itself (msgpack ≥ 1.0), so a short input
        # cannot make it allocate a huge string, array or map.
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=False,
            strict_map_key=True,  # str or bin keys only, so no hash flooding with other types
            ext_hook=_no_ext,
        )
    except ProtocolError:
        raise
    except msgpack.StackError:  # nested beyond the C decoder's own stack
        raise ProtocolError(ReasonCode.TOO_LARGE, "nested too deep") from None
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        # ValueError covers truncated data, extra bytes, bad UTF-8 and non-string map keys.
        raise ProtocolError(ReasonCode.MALFORMED, f"not msgpack: {exc}") from None
    kind = type(value)
    if kind is dict or kind is tuple:
        _check_tree(value, 0)
    elif kind not in _DECODED_SCALARS:
        raise ProtocolError(ReasonCode.NON_CANONICAL, f"{kind.__name__} is not allowed")
    if _REPACKER.pack(value) != data:
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
