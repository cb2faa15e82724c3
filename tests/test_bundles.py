"""Offline bundles: the file format, damage detection, and import through Store.ingest."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from node.bundles import MAGIC, BundleError, import_bundle, read_bundle, write_bundle
from node.storage import Store
from sync.clock import ManualClock
from tests.builders import START_MS, World
from tests.operator_support import aidnode, init_node, inproc, ok, org_of


def _bundle(path: Path, wires: list[bytes]) -> Path:
    buffer = io.BytesIO()
    write_bundle(buffer, wires, created_ms=START_MS, name="ward 3")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def wires() -> list[bytes]:
    world = World()
    ward, shenzhen = world.org("ward"), world.org("shenzhen")
    need = world.need(ward)
    events = [world.incept(ward), world.incept(shenzhen), need, world.pledge(shenzhen, need)]
    return [event.wire for event in events]


def test_round_trip(tmp_path: Path, wires: list[bytes]) -> None:
    header, read = read_bundle(_bundle(tmp_path / "b.aidb", wires))
    assert read == wires and header.count == 4 and header.name == "ward 3"


def test_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list")
    with pytest.raises(BundleError, match="not an aidnode bundle"):
        read_bundle(path)


def test_a_changed_byte_is_caught_before_anything_is_imported(
    tmp_path: Path, wires: list[bytes]
) -> None:
    path = _bundle(tmp_path / "b.aidb", wires)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="damaged"):
        read_bundle(path)


def test_truncated_copy(tmp_path: Path, wires: list[bytes]) -> None:
    path = _bundle(tmp_path / "b.aidb", wires)
    path.write_bytes(path.read_bytes()[:-60])
    with pytest.raises(BundleError, match="damaged"):
        read_bundle(path)
    _, salvaged = read_bundle(path, salvage=True)
    assert salvaged == wires[: len(salvaged)] and 1 <= len(salvaged) <= len(wires)


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "b.aidb"
    path.write_bytes(MAGIC)
    with pytest.raises(BundleError, match="ends before its header"):
        read_bundle(path)


async def test_import_goes_through_ingest_and_reports_each_outcome(
    tmp_path: Path, wires: list[bytes]
) -> None:
    clock = ManualClock(START_MS)
    store = await Store.open(tmp_path / "node.sqlite", clock=clock)
    try:
        forged = bytearray(wires[2])
        forged[-1] ^= 0xFF  # the signature no longer verifies
        report = await import_bundle(store, [*wires, bytes(forged), b"junk"])
        assert (report.accepted, report.rejected) == (4, 2)
        assert report.rejections == {"bad_signature": 1, "malformed": 1}
        again = await import_bundle(store, wires)
        assert again.duplicate == 4 and again.accepted == 0
    finally:
        await store.close()


# -- the commands ------------------------------------------------------------------------------


def test_export_import_between_groups(tmp_path: Path) -> None:
    ward = init_node(tmp_path, "ward3", "Xiehe Hospital ward 3 support group")
    village = init_node(tmp_path, "village", "Huanggang county hospital volunteers", "CN-HB-HG")
    ok(inproc(ward, "need", "add", "--title", "t", "--line", "a:medical:5:p", "--contact", "c"))
    stick = tmp_path / "stick.aidb"
    exported = aidnode(ward, "export", str(stick), "--json")
    assert exported.code == 0, str(exported)
    assert exported.json()["events"] == 3  # incept, profile, need
    refused = inproc(ward, "export", str(stick))
    assert refused.code == 2 and "exists" in refused.err
    # the village does not trust the ward yet: its events wait in quarantine
    first = aidnode(village, "import", str(stick), "--json")
    assert first.code == 0, str(first)
    assert first.json() | {"file": None} == {
        "file": None, "from": "Xiehe Hospital ward 3 support group", "total": 3,
        "accepted": 0, "duplicate": 0, "quarantined": 3, "rejected": 0, "rejections": {},
    }  # fmt: skip
    ok(inproc(village, "endorse", org_of(ward), "--name", "ward 3", "--level", "member"))
    assert len(ok(inproc(village, "list", "--json")).json()) == 1  # promoted from quarantine
    text = ok(aidnode(village, "import", str(stick))).out
    assert "3 already here" in text
    recent = ok(inproc(ward, "export", str(tmp_path / "recent.aidb"), "--since", "1h", "--json"))
    assert recent.json()["events"] == 3
    later = ok(
        inproc(ward, "export", str(tmp_path / "none.aidb"), "--since", "2999-01-01", "--json")
    )
    assert later.json()["events"] == 0


def test_import_of_a_corrupted_bundle_fails_and_stores_nothing(tmp_path: Path) -> None:
    ward = init_node(tmp_path, "ward3", "Xiehe Hospital ward 3 support group")
    other = init_node(tmp_path, "other", "Isolated elders grocery team")
    ok(inproc(other, "endorse", org_of(ward), "--name", "ward 3", "--level", "member"))
    ok(inproc(ward, "need", "add", "--title", "t", "--line", "a:medical:5:p", "--contact", "c"))
    stick = tmp_path / "stick.aidb"
    ok(inproc(ward, "export", str(stick)))
    data = bytearray(stick.read_bytes())
    data[-40] ^= 0x01
    stick.write_bytes(bytes(data))
    result = aidnode(other, "import", str(stick))
    assert result.code == 1
    assert result.err == "aidnode: damaged: the checksum does not match (a changed byte?)\n"
    assert ok(inproc(other, "list", "--json")).json() == []
    missing = aidnode(other, "import", str(tmp_path / "nowhere.aidb"))
    assert missing.code == 1 and "cannot read" in missing.err
    stick.write_bytes(bytes(data[: len(data) // 2]))
    salvaged = ok(inproc(other, "import", str(stick), "--salvage", "--json")).json()
    assert salvaged["total"] >= 1 and salvaged["rejected"] == 0
