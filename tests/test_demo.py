"""``aidnode demo`` runs, shows every node converging, and leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.operator_support import AIDNODE, aidnode

pytestmark = pytest.mark.slow


def _demo_nodes() -> str:
    """Pids of demo nodes still running (the demo runs them as `python -m node.cli`)."""
    pattern = "node.cli --home (ward3|verifiers|convoy|shenzhen) run"
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return found.stdout.strip()


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
    closing = out[out.rindex("sync status") :]
    assert "reconnecting" not in closing  # push resumed on the healed links
    directory = Path(re.search(r"\(in (/\S+aidnode-demo-\w+)\)", out)[1])  # type: ignore[index]
    assert not directory.exists()
    leftover = subprocess.run(
        ["pgrep", "-f", f"{directory}|--home ward3 run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert leftover.stdout.strip() == ""


def test_ctrl_c_stops_every_node_and_removes_the_files() -> None:
    command = [AIDNODE, "demo"]
    environment = {**os.environ, "NO_COLOR": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    ) as demo:
        assert demo.stdout is not None and demo.stderr is not None
        directory = None
        for line in demo.stdout:
            found = re.search(r"\(in (/\S+aidnode-demo-\w+)\)", line)
            if found:
                directory = Path(found[1])
            if "They peer" in line:  # four nodes are running
                break
        assert directory is not None and directory.exists()
        demo.send_signal(signal.SIGINT)
        demo.wait(30)
        assert demo.returncode == 1
        assert "demo interrupted; every node was stopped" in demo.stderr.read()
    assert not directory.exists()
    assert _demo_nodes() == ""


def test_demo_help_says_what_it_does() -> None:
    result = aidnode(None, "demo", "--help")
    assert result.code == 0 and "four real nodes" in result.out and AIDNODE
