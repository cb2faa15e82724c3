"""The record commands, as operators run them: need/offer add, list, show, update, withdraw,
pledge, deliver, receive, verify, with the exact exit code and message on bad input.

Nodes here do not run: what one group posts reaches another by an offline bundle (export /
import), which goes through the same ingest as the network. The behaviour under test runs
the installed ``aidnode`` as a subprocess; set-up steps and the larger matrices of bad input
run the same commands in-process (:func:`inproc`), to keep the suite fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.operator_support import aidnode, init_node, inproc, ok, org_of

PPE = ("--line", "N95 respirator:medical.ppe:2000:pieces")
SUITS = ("--line", "disposable protective suit:medical.ppe:500:pieces")


def post_need(home: Path, *extra: str) -> str:
    result = ok(
        inproc(
            home, "need", "add", "--title", "PPE for ward 3", *PPE, *SUITS,
            "--contact", "Nurse Wang 027-8572-0000", *extra, "--json",
        )
    )  # fmt: skip
    return str(result.json()["id"])


def carry(source: Path, target: Path, tmp: Path) -> dict[str, int]:
    """Everything ``source`` holds, into ``target``, on a 'USB stick'."""
    stick = tmp / f"{source.name}-to-{target.name}.aidb"
    stick.unlink(missing_ok=True)
    ok(inproc(source, "export", str(stick)))
    return dict(ok(inproc(target, "import", str(stick), "--json")).json())


def endorse(by: Path, subject: Path, name: str, level: str = "member") -> None:
    ok(inproc(by, "endorse", org_of(subject), "--name", name, "--level", level))


@pytest.fixture
def ward(tmp_path: Path) -> Path:
    return init_node(tmp_path, "ward3", "Xiehe Hospital ward 3 support group")


@pytest.fixture
def shenzhen(tmp_path: Path, ward: Path) -> Path:
    """The Shenzhen mask drive, which trusts the ward and is trusted by it."""
    home = init_node(tmp_path, "shenzhen", "Shenzhen sanitation-worker mask drive", "CN-GD-SZ")
    endorse(home, ward, "Xiehe Hospital ward 3 support group")
    endorse(ward, home, "Shenzhen sanitation-worker mask drive")
    return home


def test_need_add_then_list_and_show_in_both_forms(ward: Path) -> None:
    posted = aidnode(
        ward, "need", "add", "--title", "PPE for ward 3", *PPE, *SUITS, "--urgency", "24h",
        "--contact", "Nurse Wang 027-8572-0000",
    )  # fmt: skip
    assert posted.code == 0, str(posted)
    assert posted.out.startswith("need ") and "posted: PPE for ward 3" in posted.out
    need = ok(inproc(ward, "list", "--json")).json()[0]["id"]
    listed = ok(aidnode(ward, "list", "--json")).json()
    assert [row["id"] for row in listed] == [need]
    row = listed[0]
    assert row["kind"] == "need" and row["status"] == "open" and row["urgency"] == "24h"
    assert row["org_name"] == "Xiehe Hospital ward 3 support group"
    assert row["lines"][0] == {
        "line": 1, "item": "N95 respirator", "category": "medical.ppe", "unit": "pieces",
        "qty": 2000, "unlimited": False, "pledged": 0, "delivered": 0, "received": 0,
        "remaining": 2000, "unpledged": 2000,
    }  # fmt: skip
    # global options before the command work as well as after it
    assert ok(aidnode(None, "--home", str(ward), "--json", "list", "needs")).json() == listed
    text = ok(aidnode(ward, "list")).out
    assert need[:12] in text and "PPE for ward 3" in text
    shown = ok(aidnode(ward, "show", need[:6], "--json")).json()
    assert shown["id"] == need and shown["contact"] == {"public": "Nurse Wang 027-8572-0000"}
    assert [h["kind"] for h in shown["history"]] == ["need"]
    human = ok(aidnode(ward, "show", need[:8])).out
    assert "N95 respirator" in human and "2,000 pieces" in human
    assert ok(aidnode(ward, "list", "offers", "--json")).json() == []


def test_list_filters(ward: Path) -> None:
    need = post_need(ward, "--region", "CN-HB-WH")
    ok(
        inproc(
            ward, "offer", "add", "--title", "Rice for elders",
            "--line", "rice (10 kg):food.groceries:unlimited:bags", "--contact", "c",
        )
    )  # fmt: skip

    def ids(*args: str) -> list[str]:
        return [row["id"] for row in ok(inproc(ward, "list", *args, "--json")).json()]

    assert ids("needs", "--region", "CN-HB") == [need]
    assert ids("--category", "medical") == [need]
    assert ids("--text", "RESPIRATOR") == [need]
    assert ids("--region", "CN-GD") == []
    assert ids("--verified") == []
    assert len(ids("--unverified")) == 2
    offer = ok(aidnode(ward, "list", "offers", "--json")).json()[0]
    assert offer["lines"][0]["qty"] is None and offer["lines"][0]["unlimited"] is True


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("N95 respirator:medical.ppe:-5:pieces", "between 1 and"),
        ("N95 respirator:medical.ppe:0:pieces", "between 1 and"),
        ("N95 respirator:medical.ppe:lots:pieces", "not a whole number"),
        ("N95 respirator:medical.ppe:2.5:pieces", "not a whole number"),
        ("N95 respirator", "ITEM:CATEGORY:QTY:UNIT"),
        ("N95 respirator:Medical PPE:5:pieces", "category code"),
    ],
)
def test_bad_lines_are_usage_errors(ward: Path, line: str, message: str) -> None:
    result = inproc(ward, "need", "add", "--title", "t", "--line", line, "--contact", "c")
    assert result.code == 2, str(result)
    assert message in result.err
    assert ok(inproc(ward, "list", "--json")).json() == []  # nothing was stored


def test_negative_and_non_numeric_quantities_exit_2_from_the_console_script(ward: Path) -> None:
    negative = aidnode(
        ward, "need", "add", "--title", "t", "--line", "a:medical:-5:p", "--contact", "c"
    )
    assert negative.code == 2 and "line qty: must be between 1 and" in negative.err
    need = post_need(ward)
    words = aidnode(ward, "pledge", need[:8], "--qty", "many")
    assert words.code == 2 and "'many' is not a valid integer" in words.err
    assert [row["id"] for row in ok(inproc(ward, "list", "--json")).json()] == [need]


def test_bad_options_are_usage_errors(ward: Path) -> None:
    need = post_need(ward)
    cases = [
        ("need", "add", "--title", "t", *PPE, "--contact", "c", "--expires", "soon"),
        ("need", "add", "--title", "t", *PPE, "--contact", "c", "--urgency", "now"),
        ("need", "add", "--title", "t", *PPE, "--contact", "c", "--region", "Wuhan"),
        ("need", "add", "--title", "t", *PPE, "--contact", "c", "--contact-sealed-to", "bob"),
        ("pledge", need, "--qty", "-5"),
        ("pledge", need, "--qty", "abc"),
        ("pledge", need, "--qty", "0"),
        ("pledge", need),
        ("update", need),
        ("update", need, "--line-qty", "3=5"),
        ("update", need, "--line-qty", "1=-2"),
        ("show", "zz-not-hex"),
        ("show", "abc"),
        ("list", "--status", "lost"),
        ("verify", need),
    ]
    for args in cases:
        result = inproc(ward, *args)
        assert result.code == 2, f"{args}: {result}"
        assert "Usage:" in result.err or "Error:" in result.err, f"{args}: {result}"


def test_unknown_id_fails_with_one_clear_line(ward: Path) -> None:
    post_need(ward)
    result = aidnode(ward, "show", "ffffffff")
    assert (
        result.code == 1
        and result.err == "aidnode: no need, offer or pledge with id ffffffff on this node\n"
    )
    for command in (["update", "--urgency", "24h"], ["withdraw"], ["verify", "--method", "phone"]):
        result = inproc(ward, command[0], "ffffffff", *command[1:])
        assert result.code == 1, str(result)
        assert result.err.strip().count("\n") == 0
        assert "ffffffff" in result.err and "on this node" in result.err
    result = inproc(ward, "deliver", "ffffffff", "--qty", "5")
    assert result.code == 1 and "no pledge with id ffffffff" in result.err


def test_pledge_deliver_receive_between_two_groups(
    tmp_path: Path, ward: Path, shenzhen: Path
) -> None:
    need = post_need(ward)
    assert carry(ward, shenzhen, tmp_path)["accepted"] >= 1
    over = aidnode(shenzhen, "pledge", need[:8], "--line", "1", "--qty", "3000")
    assert over.code == 1
    assert "2000 pieces nobody has pledged yet" in over.err and "--over" in over.err
    no_line = aidnode(shenzhen, "pledge", need[:8], "--line", "3", "--qty", "5")
    assert no_line.code == 2 and "no line 3" in no_line.err
    own = aidnode(ward, "pledge", need[:8], "--qty", "5")
    assert own.code == 1 and "its own need" in own.err
    pledge = ok(aidnode(shenzhen, "pledge", need[:8], "--line", "1", "--qty", "1000", "--json"))
    pledge_id = pledge.json()["id"]
    ok(aidnode(shenzhen, "deliver", pledge_id[:8], "--qty", "1000"))
    carry(shenzhen, ward, tmp_path)
    wrong_side = aidnode(ward, "deliver", pledge_id[:8], "--qty", "1")
    assert wrong_side.code == 1 and "giving side" in wrong_side.err
    not_theirs = aidnode(shenzhen, "receive", pledge_id[:8], "--qty", "1")
    assert not_theirs.code == 1 and "receiving side" in not_theirs.err
    ok(aidnode(ward, "receive", pledge_id[:8], "--qty", "1000"))
    view = ok(aidnode(ward, "show", need, "--json")).json()
    line = view["lines"][0]
    assert (line["pledged"], line["delivered"], line["received"]) == (1000, 1000, 1000)
    assert view["fulfil_status"] == "partial" and view["pledges"][0]["org_name"].startswith(
        "Shenzhen"
    )
    # `show PLEDGE` shows the pledge's record
    assert ok(aidnode(ward, "show", pledge_id[:10], "--json")).json()["id"] == need
    # cancelling: only the pledging group, once
    assert aidnode(ward, "cancel", pledge_id[:8]).code == 1
    ok(aidnode(shenzhen, "cancel", pledge_id[:8], "--reason", "seized at the checkpoint"))
    again = aidnode(shenzhen, "cancel", pledge_id[:8])
    assert again.code == 1 and "already cancelled" in again.err


def test_sealed_contact_is_read_only_by_its_recipients(tmp_path: Path, ward: Path) -> None:
    convoy = init_node(tmp_path, "convoy", "Wuhan volunteer driver convoy")
    stranger = init_node(tmp_path, "stranger", "Alumni supply crowdfund", "CN-HB")
    for home in (convoy, stranger):
        endorse(home, ward, "ward 3")
    need = post_need(ward, "--contact-sealed-to", org_of(convoy))
    carry(ward, convoy, tmp_path)
    carry(ward, stranger, tmp_path)
    mine = ok(aidnode(ward, "show", need, "--json")).json()["contact"]
    theirs = ok(aidnode(convoy, "show", need, "--json")).json()["contact"]
    other = ok(aidnode(stranger, "show", need, "--json")).json()["contact"]
    assert mine["text"] == theirs["text"] == "Nurse Wang 027-8572-0000"
    assert theirs["opened"] and theirs["recipients"] == 2
    assert other == {"sealed": True, "recipients": 2, "opened": False, "text": None}
    assert "027-8572" not in ok(aidnode(stranger, "show", need)).out


def test_sensitive_needs_sealed_contact_and_detail(tmp_path: Path, ward: Path) -> None:
    circle = init_node(tmp_path, "circle", "Wuhan community medicine circle")
    medicine = ("--line", "medicine:medical.medicine:3:packs")
    base = ("need", "add", "--title", "Refills", *medicine, "--contact", "ask Li", "--sensitive")
    unsealed = aidnode(ward, *base, "--detail", "ARV refills, 30 days")
    assert unsealed.code == 2 and "--contact-sealed-to" in unsealed.err
    no_detail = aidnode(ward, *base, "--contact-sealed-to", org_of(circle))
    assert no_detail.code == 2 and "--detail" in no_detail.err
    good = ok(
        aidnode(
            ward, *base, "--contact-sealed-to", org_of(circle),
            "--detail", "ARV refills, 30 days", "--json",
        )
    )  # fmt: skip
    view = ok(aidnode(ward, "show", good.json()["id"], "--json")).json()
    assert view["sensitive"] and view["detail"]["text"] == "ARV refills, 30 days"


def test_update_and_withdraw(tmp_path: Path, ward: Path, shenzhen: Path) -> None:
    need = post_need(ward)
    ok(aidnode(ward, "update", need[:8], "--urgency", "24h", "--line-qty", "2=800"))
    view = ok(aidnode(ward, "show", need, "--json")).json()
    assert view["urgency"] == "24h" and [line["qty"] for line in view["lines"]] == [2000, 800]
    assert [h["kind"] for h in view["history"]] == ["need", "update"]
    carry(ward, shenzhen, tmp_path)
    not_theirs = aidnode(shenzhen, "update", need[:8], "--urgency", "1w")
    assert not_theirs.code == 1 and "only the group that posted" in not_theirs.err
    ok(aidnode(ward, "withdraw", need[:8], "--reason", "covered by the city"))
    assert ok(aidnode(ward, "show", need, "--json")).json()["status"] == "withdrawn"
    assert ok(aidnode(ward, "list", "--json")).json() == []  # `list` shows open records
    assert len(ok(aidnode(ward, "list", "--status", "all", "--json")).json()) == 1
    again = aidnode(ward, "withdraw", need[:8])
    assert again.code == 1 and "already withdrawn" in again.err
    carry(ward, shenzhen, tmp_path)
    late = aidnode(shenzhen, "pledge", need[:8], "--qty", "5")
    assert late.code == 1 and "withdrawn" in late.err


def test_verify(tmp_path: Path, ward: Path) -> None:
    verifiers = init_node(tmp_path, "verifiers", "Disaster prevention association verifiers")
    endorse(verifiers, ward, "ward 3")
    endorse(ward, verifiers, "verifiers", "verifier")
    need = post_need(ward)
    own = aidnode(ward, "verify", need[:8], "--method", "phone")
    assert own.code == 1 and "cannot verify its own" in own.err
    carry(ward, verifiers, tmp_path)
    ok(aidnode(verifiers, "verify", need[:8], "--method", "phone", "--note", "called the desk"))
    carry(verifiers, ward, tmp_path)
    view = ok(aidnode(ward, "show", need, "--json")).json()
    assert view["verified"] is True
    assert view["verified_by"][0]["org_name"] == "Disaster prevention association verifiers"
    assert [row["id"] for row in ok(aidnode(ward, "list", "--verified", "--json")).json()] == [need]


def test_match_suggests_offers_for_needs(tmp_path: Path, ward: Path, shenzhen: Path) -> None:
    need = post_need(ward)
    ok(
        aidnode(
            shenzhen, "offer", "add", "--title", "Masks from Shenzhen",
            "--line", "N95 respirator:medical.ppe:600:pieces", "--contact", "drive desk",
        )
    )  # fmt: skip
    carry(shenzhen, ward, tmp_path)
    suggestions = ok(aidnode(ward, "match", "--json")).json()
    best = suggestions[0]
    assert best["need"]["id"] == need and best["need"]["line"] == 1
    assert best["qty"] == 600 and "same item" in best["reasons"]
    assert best["command"].startswith("aidnode pledge ")  # ward claims from the offer
    assert "N95 respirator" in ok(aidnode(ward, "match")).out
