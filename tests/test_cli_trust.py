"""Trust and keys from the command line: endorse, revoke, delegate, trust list/explain/block,
key export-next/rotate/consent (nodes not running; see test_cli_running for the running path).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.operator_support import aidnode, init_node, inproc, ok, org_of


@pytest.fixture
def ward(tmp_path: Path) -> Path:
    return init_node(tmp_path, "ward3", "Xiehe Hospital ward 3 support group")


@pytest.fixture
def convoy(tmp_path: Path) -> Path:
    return init_node(tmp_path, "convoy", "Wuhan volunteer driver convoy")


def standing(home: Path, org: str) -> str | None:
    rows = ok(inproc(home, "trust", "list", "--all", "--json")).json()
    return next((row["standing"] for row in rows if row["org"] == org), None)


def test_endorse_then_trust_list_and_explain(ward: Path, convoy: Path) -> None:
    convoy_org = org_of(convoy)
    result = aidnode(
        ward, "endorse", convoy_org, "--name", "Wuhan volunteer driver convoy",
        "--level", "verifier", "--max-depth", "1", "--json",
    )  # fmt: skip
    assert result.code == 0, str(result)
    assert result.json()["kind"] == "endorse"
    rows = ok(aidnode(ward, "trust", "list", "--json")).json()
    by_org = {row["org"]: row for row in rows}
    assert by_org[org_of(ward)]["seed"] is True
    assert by_org[convoy_org]["standing"] == "verifier"
    explained = ok(aidnode(ward, "trust", "explain", convoy_org, "--json")).json()
    assert explained["standing"] == "verifier" and explained["verifier"]["accepted"]
    assert any("accepted as verifier" in line for line in explained["describe"])
    text = ok(aidnode(ward, "trust", "explain", convoy_org)).out
    assert "accepted as verifier by this node" in text


def test_endorse_bad_input(ward: Path, convoy: Path) -> None:
    typo = org_of(convoy)[:-1] + ("q" if org_of(convoy)[-1] != "q" else "p")
    result = aidnode(ward, "endorse", typo, "--name", "convoy", "--level", "member")
    assert result.code == 2 and "check code mismatch" in result.err
    level = inproc(ward, "endorse", org_of(convoy), "--name", "c", "--level", "friend")
    assert level.code == 2
    depth = inproc(
        ward, "endorse", org_of(convoy), "--name", "c", "--level", "member", "--max-depth", "-1"
    )
    assert depth.code == 2
    itself = inproc(ward, "endorse", org_of(ward), "--name", "me", "--level", "member")
    assert itself.code == 1 and "does not endorse itself" in itself.err


def test_revoke_an_endorsement_and_refuse_what_is_not_ours(ward: Path, convoy: Path) -> None:
    convoy_org = org_of(convoy)
    endorsement = ok(
        inproc(ward, "endorse", convoy_org, "--name", "c", "--level", "member", "--json")
    )
    assert standing(ward, convoy_org) == "member"
    revoked = aidnode(ward, "revoke", endorsement.json()["id"][:10], "--json")
    assert revoked.code == 0, str(revoked)
    assert standing(ward, convoy_org) is None
    neither = inproc(ward, "revoke")
    assert neither.code == 2 and "either" in neither.err
    no_reason = inproc(ward, "revoke", "--key", convoy_org)
    assert no_reason.code == 2 and "--reason" in no_reason.err
    unknown = inproc(ward, "revoke", "abcdef12")
    assert unknown.code == 1 and "no delegate or endorse with id abcdef12" in unknown.err


def test_delegate_a_generated_operator_key_and_revoke_it(tmp_path: Path, ward: Path) -> None:
    key_file = tmp_path / "li-phone.key"
    result = aidnode(
        ward, "delegate", "--generate", str(key_file), "--scopes", "post,pledge",
        "--name", "Li's phone", "--expires", "30d", "--json",
    )  # fmt: skip
    assert result.code == 0, str(result)
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    bad_scope = inproc(
        ward, "delegate", "--generate", str(tmp_path / "x.key"), "--scopes", "everything"
    )
    assert bad_scope.code == 2 and "choose from" in bad_scope.err
    exists = inproc(ward, "delegate", "--generate", str(key_file), "--scopes", "post")
    assert exists.code == 2 and "exists already" in exists.err
    # the delegate's own consent, made elsewhere, then the delegation with --proof
    other_key = tmp_path / "other.key"
    ok(inproc(ward, "delegate", "--generate", str(other_key), "--scopes", "pledge"))
    consent = ok(
        aidnode(
            ward, "key", "consent", "--key-file", str(key_file), "--to", org_of(ward),
            "--scopes", "pledge", "--expires", "10d", "--json",
        )
    ).json()  # fmt: skip
    assert consent["command"].startswith(f"aidnode delegate {consent['key']} --scopes pledge")
    delegated = aidnode(
        ward, "delegate", consent["key"], "--scopes", "pledge",
        "--expires-at", str(consent["expires_ms"]), "--proof", consent["proof"],
    )  # fmt: skip
    assert delegated.code == 0, str(delegated)
    forged = inproc(
        ward, "delegate", consent["key"], "--scopes", "post",
        "--expires-at", str(consent["expires_ms"]), "--proof", consent["proof"],
    )  # fmt: skip
    assert forged.code == 1 and "no effect" in forged.err and "consent proof" in forged.err
    revoked = aidnode(ward, "revoke", "--key", consent["key"], "--reason", "compromised")
    assert revoked.code == 0, str(revoked)


def test_block_and_unblock(ward: Path, convoy: Path) -> None:
    convoy_org = org_of(convoy)
    ok(inproc(ward, "endorse", convoy_org, "--name", "c", "--level", "member"))
    assert ok(aidnode(ward, "trust", "block", convoy_org)).code == 0
    assert standing(ward, convoy_org) is None
    row = next(
        r
        for r in ok(inproc(ward, "trust", "list", "--all", "--json")).json()
        if r["org"] == convoy_org
    )
    assert row["blocked"] is True
    assert convoy_org in (ward / "config.toml").read_text()
    ok(aidnode(ward, "trust", "unblock", convoy_org))
    assert standing(ward, convoy_org) == "member"


def test_export_next_key_then_rotate_with_it(tmp_path: Path, ward: Path) -> None:
    before = ok(inproc(ward, "id", "--json")).json()
    assert before["next_key_in_key_file"] is True and before["rotated"] is False
    stick = tmp_path / "usb" / "ward3-next.key"
    stick.parent.mkdir()
    ok(aidnode(ward, "key", "export-next", str(stick)))
    assert stick.exists()
    after = ok(inproc(ward, "id", "--json")).json()
    assert after["next_key_in_key_file"] is False
    again = inproc(ward, "key", "export-next", str(tmp_path / "again.key"))
    assert again.code == 1 and "already exported" in again.err
    without = inproc(ward, "key", "rotate")
    assert without.code == 1 and "import it" in without.err
    rotated = aidnode(ward, "key", "rotate", "--next-key", str(stick), "--json")
    assert rotated.code == 0, str(rotated)
    ident = ok(inproc(ward, "id", "--json")).json()
    assert ident["rotated"] is True and ident["org"] == before["org"]
    assert ident["current_key"] == rotated.json()["new_key"]
    # the group keeps posting under its org after the rotation
    need = ok(
        inproc(
            ward,
            "need",
            "add",
            "--title",
            "t",
            "--line",
            "a:medical:5:p",
            "--contact",
            "c",
            "--json",
        )
    ).json()
    assert ok(inproc(ward, "show", need["id"], "--json")).json()["org"] == before["org"]


def test_rotation_is_admitted_by_the_groups_own_node(tmp_path: Path, ward: Path) -> None:
    rotated = aidnode(ward, "key", "rotate", "--json")
    assert rotated.code == 0, str(rotated)


def test_id_needs_no_passphrase_and_shows_the_fingerprint(tmp_path: Path) -> None:
    home = tmp_path / "ward3"
    ok(
        aidnode(
            home, "init", "--name", "Ward 3", "--region", "CN-HB-WH", "--kdf-ops", "1",
            "--kdf-mem", "8192", env={"AIDNODE_PASSPHRASE": "correct horse"},
        )
    )  # fmt: skip
    shown = ok(aidnode(home, "id"))
    assert "fingerprint" in shown.out and "Ward 3" in shown.out
    assert ok(aidnode(home, "id", "--json")).json()["key_file_encrypted"] is True
