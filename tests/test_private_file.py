"""crypto.private_file: atomic, owner-only writes."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.errors import KeyMaterialError
from crypto.private_file import write_private_file


@pytest.fixture
def open_umask() -> Iterator[None]:
    # The most permissive umask: any mode wider than 0600 would show.
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_the_data_with_mode_0600(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "key.json"
    write_private_file(target, b"secret", overwrite=False)
    assert target.read_bytes() == b"secret"
    assert _mode(target) == 0o600
    assert sorted(tmp_path.iterdir()) == [target]


def test_the_file_is_private_from_the_moment_it_is_created(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open
    created: list[tuple[int, int]] = []

    def watching_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        fd = real_open(path, flags, mode, **kwargs)
        if flags & os.O_CREAT:
            created.append((flags, stat.S_IMODE(os.fstat(fd).st_mode)))
        return fd

    monkeypatch.setattr(os, "open", watching_open)
    write_private_file(tmp_path / "key.json", b"secret", overwrite=False)
    assert created, "no file was created"
    for flags, mode in created:
        assert flags & os.O_EXCL, "an existing file (or planted symlink) could be reused"
        assert mode == 0o600


def test_refuses_to_replace_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "key.json"
    target.write_bytes(b"old")
    with pytest.raises(KeyMaterialError, match="already exists"):
        write_private_file(target, b"new", overwrite=False)
    assert target.read_bytes() == b"old"
    assert sorted(tmp_path.iterdir()) == [target]


def test_overwrite_replaces_the_file_whole(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "key.json"
    target.write_bytes(b"old and longer")
    target.chmod(0o644)
    write_private_file(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_a_failed_write_leaves_the_old_file_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "key.json"
    target.write_bytes(b"old")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(KeyMaterialError, match="No space left") as raised:
        write_private_file(target, b"new", overwrite=True)
    monkeypatch.undo()
    assert isinstance(raised.value.__cause__, OSError)
    assert target.read_bytes() == b"old"
    assert sorted(tmp_path.iterdir()) == [target]


def test_a_missing_directory_is_reported_with_the_path(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "key.json"
    with pytest.raises(KeyMaterialError, match=re.escape(str(target.parent))):
        write_private_file(target, b"x", overwrite=False)
