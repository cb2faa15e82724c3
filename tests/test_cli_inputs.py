"""What operators type: line specs, quantities, durations, ids by prefix, passphrases, help
texts; and the exit codes for each kind of mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from node.cli import cli
from node.inputs import (
    DAY_MS,
    InputError,
    LineSpec,
    parse_duration_ms,
    parse_line,
    parse_line_qty,
    parse_quantity,
    parse_when,
)
from node.lookup import AmbiguousIdError, UnknownIdError, find_event
from node.storage import Store
from sync.clock import ManualClock
from tests.builders import START_MS, World
from tests.operator_support import CHEAP_KDF, aidnode, init_node, inproc, ok

NOW = 1_581_000_000_000  # 2020-02-06


def test_line_specs() -> None:
    assert parse_line("N95 respirator:medical.ppe:2000:pieces") == LineSpec(
        "N95 respirator", "medical.ppe", 2000, "pieces"
    )
    assert parse_line(" rice (10 kg) : food.groceries : Unlimited : bags ").qty is None
    assert parse_line("ratio 3:1 mix:medical.supplies:4:litres").item == "ratio 3:1 mix"
    for bad in ("N95", "a:medical:5", "a:medical:5:", "a:Medical:5:p", "a:medical:1e3:p"):
        with pytest.raises(InputError):
            parse_line(bad)


def test_quantities() -> None:
    assert parse_quantity("qty", "1000") == 1000
    assert parse_quantity("qty", 7) == 7
    assert parse_quantity("qty", "unlimited", allow_unlimited=True) is None
    for bad in ("-1", "0", "1.5", "ten", "unlimited", True, "1000000001"):
        with pytest.raises(InputError):
            parse_quantity("qty", bad)
    assert parse_line_qty("2=500") == (2, 500)
    assert parse_line_qty("1=unlimited") == (1, None)
    for bad in ("0=5", "x=5", "2:500", "2=-5"):
        with pytest.raises(InputError):
            parse_line_qty(bad)


def test_durations_and_dates() -> None:
    assert parse_duration_ms("x", "14d") == 14 * DAY_MS
    assert parse_duration_ms("x", "1d12h") == DAY_MS + 12 * 3_600_000
    assert parse_duration_ms("x", "2w") == 14 * DAY_MS
    assert parse_when("x", "90m", NOW) == NOW + 90 * 60_000
    end_of_day = datetime(2020, 2, 20, 23, 59, 59, tzinfo=UTC)
    assert parse_when("x", "2020-02-20", NOW) == int(end_of_day.timestamp() * 1000)
    assert parse_when("x", "2020-02-20T18:00+08:00", NOW) == int(
        datetime(2020, 2, 20, 10, tzinfo=UTC).timestamp() * 1000
    )
    for bad in ("soon", "14", "d", "0d", "-3d", "14 days", "2020-02-30"):
        with pytest.raises(InputError):
            parse_when("x", bad, NOW)


async def test_ids_by_unique_prefix(tmp_path: Path) -> None:
    world = World()
    ward = world.org("ward")
    store = await Store.open(tmp_path / "node.sqlite", clock=ManualClock(START_MS))
    try:
        events = [world.need(ward, title=f"need {n}") for n in range(700)]
        await store.add(events)
        by_prefix: dict[str, list[bytes]] = {}
        for event in events:
            by_prefix.setdefault(event.id.hex()[:4], []).append(event.id)
        shared = next(prefix for prefix, ids in by_prefix.items() if len(ids) > 1)
        with pytest.raises(AmbiguousIdError, match=f"id {shared} is ambiguous"):
            await find_event(store, shared)
        full = by_prefix[shared][0].hex()
        assert (await find_event(store, full[:12])).id == bytes.fromhex(full)
        assert (await find_event(store, full.upper())).kind == "need"
        with pytest.raises(UnknownIdError, match="is a need, not a pledge"):
            await find_event(store, full, ("pledge",))
        missing = next(f"{n:04x}" for n in range(65536) if f"{n:04x}" not in by_prefix)
        with pytest.raises(UnknownIdError, match=f"no event with id {missing} on this node"):
            await find_event(store, missing)
        for bad in ("abc", "not-hex", "f" * 65):
            with pytest.raises(InputError):
                await find_event(store, bad)
    finally:
        await store.close()


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help_with_an_example() -> None:
    commands = _commands(cli)
    expected = {
        ("init",), ("run",), ("id",), ("peer", "add"), ("peer", "list"), ("peer", "remove"),
        ("need", "add"), ("offer", "add"), ("list",), ("show",), ("update",), ("withdraw",),
        ("pledge",), ("deliver",), ("receive",), ("cancel",), ("verify",), ("endorse",),
        ("revoke",), ("delegate",), ("trust", "list"), ("trust", "explain"),
        ("trust", "block"), ("trust", "unblock"), ("key", "rotate"), ("key", "export-next"),
        ("key", "consent"), ("status",), ("sync",), ("match",), ("export",), ("import",),
        ("demo",),
    }  # fmt: skip
    assert expected <= set(commands)
    for command in commands:
        result = inproc(None, *command, "--help")
        assert result.code == 0, command
        assert "Example" in result.out, f"aidnode {' '.join(command)} --help has no example"


def test_usage_errors_exit_2_and_failures_exit_1(tmp_path: Path) -> None:
    assert aidnode(tmp_path, "frobnicate").code == 2
    nowhere = aidnode(tmp_path / "none", "list")
    assert nowhere.code == 1
    assert (
        nowhere.err
        == f"aidnode: no node at {tmp_path / 'none'}: run `aidnode init --name NAME` first\n"
    )
    home = init_node(tmp_path, "ward3", "Ward 3")
    twice = inproc(home, "init", "--name", "Ward 3", "--insecure-no-passphrase")
    assert twice.code == 1 and "a node already exists" in twice.err
    assert ok(inproc(None, "peer", "list", "--json", "--home", str(home))).json() == []
    bad_peer = inproc(home, "peer", "add", "ftp://example.org")
    assert bad_peer.code == 1 and "http://HOST:PORT" in bad_peer.err


def test_passphrases(tmp_path: Path) -> None:
    home = tmp_path / "ward3"
    secret = {"AIDNODE_PASSPHRASE": "correct horse battery staple"}
    ok(aidnode(home, "init", "--name", "Ward 3", "--region", "CN-HB-WH", *CHEAP_KDF, env=secret))
    need = ("need", "add", "--title", "t", "--line", "a:medical:5:p", "--contact", "c")
    ok(aidnode(home, *need, env=secret))
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("Tr0ub4dor&3\n")
    refused = aidnode(home, "--passphrase-file", str(wrong), *need)
    assert refused.code == 1 and refused.err == "aidnode: wrong passphrase for the key file\n"
    right = tmp_path / "right.txt"
    right.write_text("correct horse battery staple\n")
    ok(aidnode(home, *need, "--passphrase-file", str(right)))
    none = aidnode(home, *need)
    assert none.code == 1 and "a passphrase is needed" in none.err
    # reading needs no passphrase
    assert len(ok(aidnode(home, "list", "--json")).json()) == 2
    insecure = aidnode(tmp_path / "demo", "init", "--name", "Demo", "--insecure-no-passphrase")
    assert insecure.code == 0 and "UNENCRYPTED" in insecure.err
