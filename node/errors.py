"""Errors of the I/O layer. Both carry what an operator needs: which file or peer, and why."""

from __future__ import annotations

from crypto.errors import AidError

__all__ = ["ConfigError", "PeerError", "StorageError"]


class StorageError(AidError):
    """The node's database cannot be used: full disk, read-only file, corruption, bad schema.

    ``path`` names the file; ``cause`` says what went wrong in words. Nothing was half-applied:
    every write that raised this was rolled back.
    """

    def __init__(self, path: str, cause: str) -> None:
        self.path = path
        self.cause = cause
        super().__init__(f"{path}: {cause}")


class PeerError(AidError):
    """A peer could not be reached, refused us, or misbehaved. ``code`` is machine-readable."""

    def __init__(self, peer: str, code: str, detail: str = "") -> None:
        self.peer = peer
        self.code = code
        self.detail = detail
        super().__init__(f"{peer}: {code}" + (f" ({detail})" if detail else ""))


class ConfigError(AidError):
    """The node's home or configuration is missing or invalid; the message says what to do."""
