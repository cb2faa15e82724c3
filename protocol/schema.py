"""The mechanism shared by every body schema: map ⇄ frozen value, with one validation path.

A body class is a ``@dataclass(frozen=True, slots=True, kw_only=True)`` subclass of
:class:`Schema` whose ``__post_init__`` validates every field (so an invalid value cannot be
built, whether it came from the wire or from our own code). ``from_map`` adds what only a map
can get wrong: unknown keys, missing keys, and nested values that are maps themselves.

Optional fields default to ``None`` (or ``False`` for flags) and are *absent* from the map when
unset: a body never carries nil, so every value has exactly one encoding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Self

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from protocol.fields import check_true, fail

__all__ = ["Schema", "nested", "nested_tuple"]


def nested(cls: type[Schema]) -> Callable[[str, Any], Any]:
    """Converter for a field holding one nested schema value."""

    def convert(name: str, value: Any) -> Any:
        if isinstance(value, Schema):
            return value
        return cls.from_map(value, path=name)

    return convert


def nested_tuple(cls: type[Schema], max_items: int) -> Callable[[str, Any], Any]:
    """Converter for a field holding an array of nested schema values."""

    def convert(name: str, value: Any) -> Any:
        if type(value) is not tuple and type(value) is not list:
            raise fail(name, "must be an array")
        if len(value) > max_items:
            raise ProtocolError(ReasonCode.TOO_LARGE, f"{name}: more than {max_items} items")
        return tuple(
            item if isinstance(item, Schema) else cls.from_map(item, path=f"{name}[{i}]")
            for i, item in enumerate(value)
        )

    return convert


class Schema:
    """Base of every body and nested value. Subclasses are frozen dataclasses."""

    __slots__ = ()

    # Filled in per subclass by __init_subclass__ (after @dataclass has run, see _prepare).
    _required: ClassVar[frozenset[str]]
    _allowed: ClassVar[frozenset[str]]
    _fields: ClassVar[tuple[str, ...]]
    _flags: ClassVar[frozenset[str]]
    # Fields whose map value must be converted (nested schema values); name -> converter.
    _converters: ClassVar[dict[str, Callable[[str, Any], Any]]] = {}

    @classmethod
    def _prepare(cls) -> None:
        if "_fields" in cls.__dict__:
            return
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # subclasses are dataclasses
        cls._fields = tuple(f.name for f in fields)
        cls._allowed = frozenset(cls._fields)
        cls._required = frozenset(
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        cls._flags = frozenset(f.name for f in fields if f.default is False)

    @classmethod
    def from_map(cls, raw: Any, *, path: str = "body") -> Self:
        """Build from a decoded map. Raises :class:`ProtocolError` (``bad_field``,
        ``missing_field``, ``unknown_field`` or ``too_large``) naming the offending field.

        Unset optional fields must be absent: a field present as nil is ``bad_field``, so a
        typed value has exactly one map (and one encoding)."""
        if "_fields" not in cls.__dict__:
            cls._prepare()
        if type(raw) is not dict:
            raise fail(path, "must be a map")
        keys = raw.keys()
        if not keys <= cls._allowed:
            unknown = ", ".join(sorted(keys - cls._allowed))
            raise ProtocolError(ReasonCode.UNKNOWN_FIELD, f"{path}: {unknown}")
        if not cls._required <= keys:
            missing = ", ".join(sorted(cls._required - keys))
            raise ProtocolError(ReasonCode.MISSING_FIELD, f"{path}: {missing}")
        if None in raw.values():  # nil would be a second spelling of "absent"
            nil = ", ".join(sorted(name for name, value in raw.items() if value is None))
            raise fail(f"{path}.{nil}", "nil is not allowed; leave an unset field out")
        for flag in cls._flags:
            if raw.get(flag, True) is not True:
                check_true(f"{path}.{flag}", raw[flag])
        if cls._converters and not keys.isdisjoint(cls._converters):
            raw = dict(raw)  # never mutate the caller's map
            for name, convert in cls._converters.items():
                if name in raw:
                    raw[name] = convert(f"{path}.{name}", raw[name])
        return cls(**raw)

    def to_map(self) -> dict[str, Any]:
        """The body as a map, unset optional fields left out (ready for canonical encoding).

        Shaped like :func:`protocol.canonical.decode`'s output (arrays as tuples), so
        ``S.to_map(S.from_map(m)) == m`` for every valid decoded map ``m``."""
        type(self)._prepare()
        out: dict[str, Any] = {}
        for name in self._fields:
            value = getattr(self, name)
            if value is None or value is False:
                continue
            if isinstance(value, Schema):
                value = value.to_map()
            elif type(value) is tuple and value and isinstance(value[0], Schema):
                value = tuple(item.to_map() for item in value)
            out[name] = value
        return out
