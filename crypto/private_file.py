"""Writing a small secret file atomically, readable by its owner only from its first moment.

Used for key files. Plain synchronous os/pathlib calls: crypto/ stays free of I/O frameworks.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from crypto.errors import KeyMaterialError

__all__ = ["write_private_file"]


def _fsync_directory(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_file(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Put ``data`` at ``path`` all at once, with mode 0600 from its first moment on disk.

    A failure at any point leaves whatever was at ``path`` before untouched, and no temporary
    file behind. Without ``overwrite`` the final step is a hard link, which fails atomically
    if ``path`` appeared meanwhile, instead of a rename, which would replace it.

    Raises :class:`KeyMaterialError` naming ``path`` if it exists and ``overwrite`` is false,
    or if any step fails (the cause is chained).
    """
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            temporary.replace(path)
        else:
            path.hardlink_to(temporary)
        _fsync_directory(path.parent)
    except FileExistsError as exc:
        raise KeyMaterialError(
            f"{path} already exists: refusing to overwrite it (overwrite=True replaces it)"
        ) from exc
    except OSError as exc:
        raise KeyMaterialError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
