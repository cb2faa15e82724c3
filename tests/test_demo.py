"""``aidnode demo`` runs, shows every node converging, and leaves nothing behind."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.operator_support import AIDNODE, aidnode

pytestmark = pytest.mark.slow


def test_demo_converges_and_cleans_up() -> None:
    started = time.monotonic()
    result = aidnode(None, "demo", timeout=120)
    elapsed = time.monotonic() - started
    assert result.code == 0, str(result)
    assert elapsed < 60
    out = result.out
    assert "✓ all 4 nodes converged" in out
    for step in ("posts what it needs", "vouch for the need", "pledges 1,000", "receives them"):
        assert step in out
    assert "the two sides disagree" in out and "the links are back" in out
    # the closing table: one event-set fingerprint, on all four nodes
    table = out[out.index("event set") :]
    prints = set(re.findall(r"\b\d+:[0-9a-f]{16}\b", table.split("sync status")[0]))
    assert len(prints) == 1
    assert out.count("in sync") >= 8  # every node, both its peers
    directory = Path(re.search(r"\(in (/\S+aidnode-demo-\w+)\)", out)[1])  # type: ignore[index]
    assert not directory.exists()
    leftover = subprocess.run(
        ["pgrep", "-f", f"{directory}|--home ward3 run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert leftover.stdout.strip() == ""


def test_demo_help_says_what_it_does() -> None:
    result = aidnode(None, "demo", "--help")
    assert result.code == 0 and "four real nodes" in result.out and AIDNODE
