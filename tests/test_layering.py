"""The pure layers (crypto/, protocol/, sync/) never import node/ or any I/O framework.

Checked on the source (every import statement, including ones inside functions) and at run
time (importing the pure packages in a fresh interpreter loads none of the forbidden modules).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = ("crypto", "protocol", "sync")
FORBIDDEN = ("node", "asyncio", "aiohttp", "aiosqlite", "sqlite3", "socket", "threading")
LOWER = {"crypto": set(), "protocol": {"crypto"}, "sync": {"crypto", "protocol"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PURE)
def test_pure_package_sources_import_no_io(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    for path in files:
        imported = _imports(path)
        bad = imported & set(FORBIDDEN)
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
        upward = imported & (set(PURE) - LOWER[package] - {package})
        assert not upward, f"{path.relative_to(ROOT)} imports a higher layer: {sorted(upward)}"


def test_importing_pure_packages_loads_no_io_modules() -> None:
    code = (
        "import sys, crypto, protocol, sync\n"
        "import pkgutil, importlib\n"
        "for pkg in (crypto, protocol, sync):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "", f"pure packages pulled in: {out.stdout.strip()}"
