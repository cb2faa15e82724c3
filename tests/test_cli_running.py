"""The commands against running nodes: peering, writes pushed to peers, sync through the
running node and in-process, status while running and after, trust decisions by the running
node, and an unreachable peer reported in words."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.operator_support import (
    RunningNode,
    aidnode,
    free_port,
    init_node,
    inproc,
    ok,
    org_of,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def groups(tmp_path: Path) -> tuple[Path, Path]:
    ward = init_node(tmp_path, "ward3", "Xiehe Hospital ward 3 support group")
    shenzhen = init_node(tmp_path, "shenzhen", "Shenzhen sanitation-worker mask drive", "CN-GD-SZ")
    for by, subject, name in ((ward, shenzhen, "Shenzhen"), (shenzhen, ward, "ward 3")):
        ok(inproc(by, "endorse", org_of(subject), "--name", name, "--level", "member"))
    return ward, shenzhen


def test_two_running_nodes(tmp_path: Path, groups: tuple[Path, Path]) -> None:
    ward, shenzhen = groups
    with RunningNode(ward) as ward_run, RunningNode(shenzhen) as shenzhen_run:
        added = aidnode(ward, "peer", "add", shenzhen_run.url)
        assert added.code == 0, str(added)
        assert "first sync ok: it is 'Shenzhen sanitation-worker mask drive'" in added.out
        ok(inproc(shenzhen, "peer", "add", ward_run.url, "--no-check"))

        # a write made while the node runs is stored by it and pushed to the peer
        posted = aidnode(
            ward, "need", "add", "--title", "PPE for ward 3",
            "--line", "N95 respirator:medical.ppe:2000:pieces", "--contact", "desk", "--json",
        )  # fmt: skip
        assert posted.code == 0, str(posted)
        need = posted.json()["id"]
        wait_until(lambda: ok(inproc(shenzhen, "list", "--json")).json(), timeout=10)
        pledge = ok(aidnode(shenzhen, "pledge", need[:8], "--qty", "500", "--json")).json()["id"]
        wait_until(
            lambda: (
                ok(inproc(ward, "show", pledge[:8], "--json")).json()["lines"][0]["pledged"] == 500
            )
        )
        shown = ok(aidnode(ward, "show", pledge[:8])).out  # through the running node's API
        assert "Shenzhen sanitation-worker mask drive" in shown and "←" in shown

        synced = aidnode(ward, "sync")
        assert synced.code == 0, str(synced)
        assert "in sync" in synced.out
        status = ok(aidnode(ward, "status", "--json")).json()
        assert status["node"]["running"] is True and status["node"]["pid"] == ward_run.process.pid
        assert status["events"]["set_fingerprint"]
        assert status["trust"]["accepted"]["member"] == 2 and status["trust"]["quarantine"] == 0
        [peer] = status["peers"]
        assert peer["in_sync"] and peer["name"] == "Shenzhen sanitation-worker mask drive"
        assert peer["lag_ms"] == 0 and peer["last_error"] is None
        assert {"events_in", "events_out", "bytes_in", "bytes_out", "backoff_ms"} <= set(peer)

        # an unreachable peer: kept, failing, said in words, and `sync` exits 1
        dead = f"http://127.0.0.1:{free_port()}"
        warned = aidnode(ward, "peer", "add", dead)
        assert warned.code == 0 and "first sync failed" in warned.err
        failed = aidnode(ward, "sync", "--peer", dead)
        assert failed.code == 1
        assert failed.err.startswith(f"aidnode: sync failed with {dead}: unreachable")
        human = ok(aidnode(ward, "status")).out
        assert "running" in human and "failing" in human and "unreachable" in human
        unknown = aidnode(ward, "sync", "--peer", "http://127.0.0.1:9")
        assert unknown.code == 1 and "is not a peer of this node" in unknown.err
        ok(aidnode(ward, "peer", "remove", dead))
        assert aidnode(ward, "peer", "remove", dead).code == 1

        # trust decisions are the running node's
        blocked = aidnode(ward, "trust", "block", org_of(shenzhen))
        assert blocked.code == 0, str(blocked)
        rows = ok(aidnode(ward, "trust", "list", "--all", "--json")).json()
        assert any(r["blocked"] and r["standing"] is None for r in rows)
        ok(aidnode(ward, "trust", "unblock", org_of(shenzhen)))

        # importing while the node runs: the running node ingests (and quarantines)
        stick = tmp_path / "stick.aidb"
        ok(inproc(shenzhen, "export", str(stick)))
        imported = ok(aidnode(ward, "import", str(stick), "--json")).json()
        assert imported["rejected"] == 0 and imported["accepted"] == 0

    # stopped: status reads what it persisted; sync runs rounds in this process
    stopped = ok(aidnode(ward, "status", "--json")).json()
    assert stopped["node"]["running"] is False and stopped["peers"][0]["in_sync"] is True
    assert "not running" in ok(aidnode(ward, "status")).out
    with RunningNode(shenzhen) as shenzhen_run:
        ok(inproc(ward, "peer", "remove", stopped["peers"][0]["url"]))
        ok(inproc(ward, "peer", "add", shenzhen_run.url, "--no-check"))
        here = aidnode(ward, "sync", "--json")
        assert here.code == 0, str(here)
        assert here.json()["peers"][0]["in_sync"] is True


def test_run_refuses_a_second_instance(groups: tuple[Path, Path]) -> None:
    ward, _ = groups
    with RunningNode(ward):
        again = aidnode(ward, "run")
        assert again.code == 1 and "already running" in again.err


def test_the_peers_table_says_a_failing_peer_in_words() -> None:
    from rich.console import Console

    from node.cli.sync import peers_table

    url = "http://192.0.2.7:7420"
    now = 1_600_000_000_000
    failing = {
        "url": url, "name": None, "in_sync": False, "failures": 2, "rounds": 2,
        "last_success_ms": None, "lag_ms": None, "next_attempt_ms": now - 5_000,
        "last_error": f"{url}: unreachable (connection refused)", "events_in": 0,
        "bytes_in": 0, "events_out": 0, "bytes_out": 0, "stream_open": None,
    }  # fmt: skip
    later = {**failing, "url": "http://192.0.2.8:7420", "next_attempt_ms": now + 90_000}
    console = Console(width=250, record=True, color_system=None)
    console.print(peers_table([failing, later], now))
    text = console.export_text()
    first, second = (line for line in text.splitlines() if "192.0.2." in line)
    assert "failing ×2" in first and "unreachable (connection refused)" in first
    assert f"{url}: unreachable" not in first  # the URL is in the first column already
    assert "due" in first.split()  # overdue: at the node's next round, not "5 s ago"
    assert "due" not in second.split() and "in 1 min" in second
