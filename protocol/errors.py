"""The protocol layer's error: a :class:`ProtocolError` always carries a stable reason code."""

from __future__ import annotations

from crypto.errors import AidError
from protocol.codes import ReasonCode

__all__ = ["ProtocolError"]


class ProtocolError(AidError):
    """An event or message breaks the protocol. ``code`` is a :class:`ReasonCode`.

    ``detail`` is a short human explanation (which field, which limit); it is diagnostic
    only and not part of the protocol.
    """

    def __init__(self, code: ReasonCode, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
