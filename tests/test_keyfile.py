"""crypto.keyfile: key bundles on disk, encrypted at rest, each failure with its own error."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.pwhash import argon2id

from crypto.errors import KeyFileCorruptError, KeyMaterialError, WrongPassphraseError
from crypto.keybundle import KeyBundle, public_key_of_seed
from crypto.keyfile import (
    DEFAULT_KDF_PARAMS,
    UNENCRYPTED_WARNING,
    KdfParams,
    KeyFileRole,
    export_next_key,
    import_next_key,
    key_file_info,
    read_key_file,
    write_key_file,
)
from crypto.keys import encode_key, fingerprint
from crypto.signing import key_digest

# Argon2id's minimum cost: microseconds instead of a second per derivation.
FAST = KdfParams(opslimit=1, memlimit=8192)
PASSPHRASE = "correct horse battery staple"
CURRENT, NEXT, NODE = b"\x11" * 32, b"\x22" * 32, b"\x33" * 32


@pytest.fixture
def bundle() -> KeyBundle:
    return KeyBundle(current_seed=CURRENT, next_seed=NEXT, extra_seeds={"node": NODE})


@pytest.fixture
def key_path(tmp_path: Path, bundle: KeyBundle) -> Path:
    path = tmp_path / "org.key"
    write_key_file(path, bundle, PASSPHRASE, params=FAST)
    return path


def _edit(path: Path, change: Callable[[dict[str, Any]], None], *, fix_checksum: bool) -> None:
    """Change the JSON at ``path``; with ``fix_checksum``, as a deliberate tamperer would."""
    document = json.loads(path.read_text())
    change(document)
    if fix_checksum:
        # Recomputed from docs/crypto.md, not from the module, so the spec is tested too.
        rest = {name: value for name, value in document.items() if name != "checksum"}
        canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest = hashlib.blake2b(
            b"aidnode/v1/keyfile-checksum\0" + canonical.encode(), digest_size=16
        )
        document["checksum"] = digest.hexdigest()
    path.write_text(json.dumps(document, indent=2))


def _flip_hex(text: str, position: int = 0) -> str:
    replacement = "0" if text[position] != "0" else "1"
    return text[:position] + replacement + text[position + 1 :]


# --- round trips ----------------------------------------------------------------------------


def test_an_encrypted_file_round_trips(key_path: Path, bundle: KeyBundle) -> None:
    assert read_key_file(key_path, PASSPHRASE) == bundle


def test_an_unencrypted_file_round_trips_and_says_so(tmp_path: Path, bundle: KeyBundle) -> None:
    path = tmp_path / "demo.key"
    write_key_file(path, bundle, None)
    assert read_key_file(path, None) == bundle
    assert json.loads(path.read_text())["warning"] == UNENCRYPTED_WARNING
    assert "UNENCRYPTED" in path.read_text()
    info = key_file_info(path)
    assert info.encrypted is False and info.kdf is None


# Each example writes to the same file in a per-module directory: hypothesis reruns the body,
# and function-scoped fixtures would be shared between examples.
@given(
    current=st.binary(min_size=32, max_size=32),
    with_next=st.booleans(),
    extras=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9-]{0,31}", fullmatch=True),
        st.binary(min_size=32, max_size=32),
        max_size=3,
    ),
    passphrase=st.one_of(st.none(), st.text(min_size=1, max_size=40)),
)
def test_any_bundle_round_trips(
    tmp_path_factory: pytest.TempPathFactory,
    current: bytes,
    with_next: bool,
    extras: dict[str, bytes],
    passphrase: str | None,
) -> None:
    following = hashlib.sha256(current).digest() if with_next else None
    bundle = KeyBundle(current_seed=current, next_seed=following, extra_seeds=extras)
    path = tmp_path_factory.getbasetemp() / "round-trip.key"
    write_key_file(path, bundle, passphrase, params=FAST, overwrite=True)
    assert read_key_file(path, passphrase) == bundle


def test_the_passphrase_is_compared_in_unicode_nfc(tmp_path: Path, bundle: KeyBundle) -> None:
    path = tmp_path / "org.key"
    composed = unicodedata.normalize("NFC", "café crème")
    write_key_file(path, bundle, composed, params=FAST)
    assert read_key_file(path, unicodedata.normalize("NFD", composed)) == bundle


def test_reformatted_json_still_reads(key_path: Path, bundle: KeyBundle) -> None:
    key_path.write_text(json.dumps(json.loads(key_path.read_text()), separators=(",", ":")))
    assert read_key_file(key_path, PASSPHRASE) == bundle


# --- what is on disk ------------------------------------------------------------------------


def test_the_file_is_mode_0600_even_under_an_open_umask(tmp_path: Path, bundle: KeyBundle) -> None:
    previous = os.umask(0)
    try:
        write_key_file(tmp_path / "org.key", bundle, PASSPHRASE, params=FAST)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "org.key").stat().st_mode) == 0o600


def _spellings(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        base64.b32encode(secret).rstrip(b"="),
    ]


def test_no_seed_appears_anywhere_in_an_encrypted_file(key_path: Path) -> None:
    raw = key_path.read_bytes()
    for seed in (CURRENT, NEXT, NODE):
        for spelling in _spellings(seed):
            assert spelling not in raw
            assert spelling.lower() not in raw.lower()


def test_the_next_public_key_stays_unpublished(key_path: Path, tmp_path: Path) -> None:
    # Pre-rotation: only the digest is shown until the rotate event reveals the key.
    bundle = read_key_file(key_path, PASSPHRASE)
    write_key_file(tmp_path / "demo.key", bundle, None)
    next_public = public_key_of_seed(NEXT)
    for path in (key_path, tmp_path / "demo.key"):
        text = path.read_text()
        assert encode_key(next_public) not in text
        assert next_public.hex() not in text
        assert key_digest(next_public).hex() in text


def test_each_write_uses_a_fresh_salt_and_nonce(tmp_path: Path, bundle: KeyBundle) -> None:
    first, second = tmp_path / "a.key", tmp_path / "b.key"
    write_key_file(first, bundle, PASSPHRASE, params=FAST)
    write_key_file(second, bundle, PASSPHRASE, params=FAST)
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a["kdf"]["salt"] != b["kdf"]["salt"]
    assert a["secretbox"]["nonce"] != b["secretbox"]["nonce"]
    assert a["secretbox"]["ciphertext"] != b["secretbox"]["ciphertext"]


def test_info_shows_the_public_facts_without_the_passphrase(
    key_path: Path, bundle: KeyBundle
) -> None:
    info = key_file_info(key_path)
    assert info.path == key_path
    assert info.role is KeyFileRole.IDENTITY
    assert info.encrypted is True
    assert info.kdf == FAST
    assert info.current_public_key == bundle.current_identity().public_key
    assert info.current_fingerprint == fingerprint(bundle.current_identity().public_key)
    assert info.next_key_digest == bundle.next_key_digest
    assert info.next_seed_stored is True
    assert dict(info.extra_public_keys) == {"node": public_key_of_seed(NODE)}


# --- KDF parameters -------------------------------------------------------------------------


def test_parameters_are_stored_and_honoured(
    tmp_path: Path, bundle: KeyBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "org.key"
    chosen = KdfParams(opslimit=2, memlimit=16 * 1024)
    write_key_file(path, bundle, PASSPHRASE, params=chosen)
    assert json.loads(path.read_text())["kdf"]["opslimit"] == 2
    assert key_file_info(path).kdf == chosen

    calls: list[tuple[int, int]] = []
    real_kdf = argon2id.kdf

    def spying_kdf(size: int, password: bytes, salt: bytes, *, opslimit: int, memlimit: int) -> Any:
        calls.append((opslimit, memlimit))
        return real_kdf(size, password, salt, opslimit=opslimit, memlimit=memlimit)

    monkeypatch.setattr(argon2id, "kdf", spying_kdf)
    assert read_key_file(path, PASSPHRASE) == bundle
    assert calls == [(2, 16 * 1024)]


def test_changed_parameters_no_longer_open_the_file(key_path: Path) -> None:
    _edit(key_path, lambda d: d["kdf"].update(opslimit=2), fix_checksum=True)
    with pytest.raises(WrongPassphraseError):
        read_key_file(key_path, PASSPHRASE)


def test_the_default_is_libsodiums_moderate_level(tmp_path: Path, bundle: KeyBundle) -> None:
    # The one test that pays the real Argon2id cost: 256 MiB and ~0.35 s per derivation, twice.
    assert KdfParams() == DEFAULT_KDF_PARAMS
    assert (KdfParams().opslimit, KdfParams().memlimit) == (3, 256 * 1024 * 1024)
    path = tmp_path / "org.key"
    write_key_file(path, bundle, PASSPHRASE)
    assert key_file_info(path).kdf == KdfParams(opslimit=3, memlimit=256 * 1024 * 1024)
    assert read_key_file(path, PASSPHRASE) == bundle


@pytest.mark.parametrize(
    "fields",
    [
        {"opslimit": 0},
        {"opslimit": 33},
        {"memlimit": 4096},
        {"memlimit": 2**40},
        {"opslimit": True},
    ],
)
def test_parameters_outside_the_bounds_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(KeyMaterialError):
        KdfParams(**fields)


def test_absurd_stored_parameters_are_corruption_not_a_denial_of_service(key_path: Path) -> None:
    _edit(key_path, lambda d: d["kdf"].update(memlimit=2**50), fix_checksum=True)
    with pytest.raises(KeyFileCorruptError, match="memlimit"):
        key_file_info(key_path)


# --- each failure has its own error ---------------------------------------------------------


def test_a_wrong_passphrase_raises_wrong_passphrase_error(key_path: Path) -> None:
    with pytest.raises(WrongPassphraseError, match=str(key_path)):
        read_key_file(key_path, "incorrect horse battery staple")


def test_a_tampered_ciphertext_is_corruption_not_a_wrong_passphrase(key_path: Path) -> None:
    def tamper(document: dict[str, Any]) -> None:
        box = document["secretbox"]
        box["ciphertext"] = _flip_hex(box["ciphertext"], 40)

    _edit(key_path, tamper, fix_checksum=True)
    with pytest.raises(KeyFileCorruptError, match="passphrase is right"):
        read_key_file(key_path, PASSPHRASE)


def test_accidental_damage_is_caught_by_the_checksum_before_the_kdf(
    key_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit(key_path, lambda d: d["kdf"].update(salt=_flip_hex(d["kdf"]["salt"])), fix_checksum=False)

    def no_kdf(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the KDF ran on a damaged file")

    monkeypatch.setattr(argon2id, "kdf", no_kdf)
    with pytest.raises(KeyFileCorruptError, match="checksum"):
        read_key_file(key_path, PASSPHRASE)
    with pytest.raises(KeyFileCorruptError, match="checksum"):
        key_file_info(key_path)


def test_truncated_json_raises_key_material_error_with_the_cause(key_path: Path) -> None:
    key_path.write_bytes(key_path.read_bytes()[:100])
    with pytest.raises(KeyMaterialError, match="not valid JSON") as raised:
        read_key_file(key_path, PASSPHRASE)
    assert type(raised.value) is KeyMaterialError
    assert isinstance(raised.value.__cause__, json.JSONDecodeError)
    assert str(key_path) in str(raised.value)


def test_a_missing_file_raises_key_material_error_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.key"
    with pytest.raises(KeyMaterialError, match="cannot read") as raised:
        read_key_file(path, PASSPHRASE)
    assert type(raised.value) is KeyMaterialError
    assert isinstance(raised.value.__cause__, FileNotFoundError)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"hello": "world"}', "not an aidnode key file"),
        (b"[1, 2, 3]", "not an aidnode key file"),
        (b'{"format": "aidnode-keyfile", "version": 2}', "version 2"),
        (b"\xff\xfe not utf-8", "not valid JSON"),
        (b"[" * 60_000, "not valid JSON"),
        (b" " * (64 * 1024 + 1), "larger than"),
    ],
)
def test_what_is_not_a_key_file_is_refused_as_such(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "other.json"
    path.write_bytes(content)
    with pytest.raises(KeyMaterialError, match=message) as raised:
        key_file_info(path)
    assert type(raised.value) is KeyMaterialError


def test_a_duplicated_field_is_corruption(key_path: Path) -> None:
    text = key_path.read_text()
    key_path.write_text(text.replace('"version": 1,', '"version": 1,\n  "role": "next-key",', 1))
    with pytest.raises(KeyFileCorruptError, match="twice"):
        key_file_info(key_path)


def test_a_swapped_public_key_is_caught_when_the_seeds_are_opened(
    key_path: Path, tmp_path: Path
) -> None:
    impostor = encode_key(public_key_of_seed(b"\x55" * 32))

    def swap(document: dict[str, Any]) -> None:
        document["public"]["current_key"] = impostor
        document["public"]["current_fingerprint"] = fingerprint(public_key_of_seed(b"\x55" * 32))

    _edit(key_path, swap, fix_checksum=True)
    assert key_file_info(key_path).current_public_key == public_key_of_seed(b"\x55" * 32)
    with pytest.raises(KeyFileCorruptError, match="public part"):
        read_key_file(key_path, PASSPHRASE)


def test_a_fingerprint_that_does_not_match_its_key_is_corruption(key_path: Path) -> None:
    _edit(
        key_path,
        lambda d: d["public"].update(current_fingerprint="0000-0000-0000-0000"),
        fix_checksum=True,
    )
    with pytest.raises(KeyFileCorruptError, match="fingerprint"):
        key_file_info(key_path)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(role="master"),
        lambda d: d.update(encrypted="yes"),
        lambda d: d.update(extra="field"),
        lambda d: d["kdf"].update(algorithm="scrypt"),
        lambda d: d["kdf"].update(salt="00"),
        lambda d: d.update(check=d["check"].upper()),
        lambda d: d["secretbox"].update(nonce="zz"),
        lambda d: d["public"].update(next_key_digest=None),  # stored seed without a digest
        lambda d: d["public"].update(extra_keys={"Bad Name": d["public"]["current_key"]}),
        lambda d: d["public"].update(current_key=d["public"]["current_key"].upper()),
    ],
)
def test_malformed_fields_are_corruption(
    key_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    _edit(key_path, change, fix_checksum=True)
    with pytest.raises(KeyFileCorruptError):
        key_file_info(key_path)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["secret"].update(current_seed="55" * 32),  # no longer matches public
        lambda d: d["secret"].update(next_seed="22" * 31),
        lambda d: d["secret"].update(extra_seeds=[]),
        lambda d: d["secret"].pop("next_seed"),
    ],
)
def test_an_edited_secret_in_an_unencrypted_file_is_corruption(
    tmp_path: Path, bundle: KeyBundle, change: Callable[[dict[str, Any]], None]
) -> None:
    path = tmp_path / "demo.key"
    write_key_file(path, bundle, None)
    _edit(path, change, fix_checksum=True)
    with pytest.raises(KeyFileCorruptError):
        read_key_file(path, None)


# --- encrypted or not, explicitly -----------------------------------------------------------


def test_an_unencrypted_file_is_refused_when_a_passphrase_is_given(
    tmp_path: Path, bundle: KeyBundle
) -> None:
    # Otherwise swapping the key file for an unencrypted one with someone else's keys would
    # go unnoticed by a node that expects its encrypted file.
    path = tmp_path / "demo.key"
    write_key_file(path, bundle, None)
    with pytest.raises(KeyMaterialError, match="UNENCRYPTED"):
        read_key_file(path, PASSPHRASE)


def test_an_encrypted_file_needs_a_passphrase(key_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="passphrase is needed"):
        read_key_file(key_path, None)


def test_an_empty_passphrase_is_refused(tmp_path: Path, bundle: KeyBundle) -> None:
    with pytest.raises(KeyMaterialError, match="None means unencrypted"):
        write_key_file(tmp_path / "org.key", bundle, "", params=FAST)
    assert not (tmp_path / "org.key").exists()


# --- writing --------------------------------------------------------------------------------


def test_an_existing_key_file_is_not_overwritten_unless_asked(
    key_path: Path, bundle: KeyBundle
) -> None:
    before = key_path.read_bytes()
    other = KeyBundle(current_seed=b"\x66" * 32)
    with pytest.raises(KeyMaterialError, match="already exists"):
        write_key_file(key_path, other, PASSPHRASE, params=FAST)
    assert key_path.read_bytes() == before
    write_key_file(key_path, other, PASSPHRASE, params=FAST, overwrite=True)
    assert read_key_file(key_path, PASSPHRASE) == other


def test_a_failed_write_leaves_the_old_key_file_intact(
    key_path: Path, bundle: KeyBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = key_path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(KeyMaterialError, match="No space left"):
        write_key_file(key_path, bundle.rotated(), PASSPHRASE, params=FAST, overwrite=True)
    monkeypatch.undo()
    assert key_path.read_bytes() == before
    assert read_key_file(key_path, PASSPHRASE) == bundle
    assert sorted(key_path.parent.iterdir()) == [key_path]


# --- moving the next key offline and back ---------------------------------------------------


def test_the_next_key_moves_offline_and_back(
    key_path: Path, tmp_path: Path, bundle: KeyBundle
) -> None:
    offline = tmp_path / "usb" / "next.key"
    offline.parent.mkdir()
    export_next_key(offline, bundle, "another passphrase", params=FAST)
    write_key_file(key_path, bundle.without_next_seed(), PASSPHRASE, params=FAST, overwrite=True)

    main_info, next_info = key_file_info(key_path), key_file_info(offline)
    assert main_info.next_seed_stored is False
    assert main_info.next_key_digest == bundle.next_key_digest
    assert next_info.role is KeyFileRole.NEXT_KEY
    assert next_info.current_public_key is None and next_info.current_fingerprint is None
    assert next_info.next_key_digest == bundle.next_key_digest
    for spelling in _spellings(NEXT):
        assert spelling not in key_path.read_bytes()
        assert spelling not in offline.read_bytes()

    remaining = read_key_file(key_path, PASSPHRASE)
    assert remaining.next_seed is None
    restored = import_next_key(offline, "another passphrase", remaining)
    assert restored == bundle
    assert restored.rotated().current_seed == NEXT


def test_an_unencrypted_next_key_export_round_trips(tmp_path: Path, bundle: KeyBundle) -> None:
    path = tmp_path / "next.key"
    export_next_key(path, bundle, None)
    assert key_file_info(path).encrypted is False
    assert import_next_key(path, None, bundle.without_next_seed()) == bundle


def test_a_next_key_for_another_org_is_refused(tmp_path: Path, bundle: KeyBundle) -> None:
    other = KeyBundle(current_seed=b"\x77" * 32, next_seed=b"\x88" * 32)
    path = tmp_path / "next.key"
    export_next_key(path, other, PASSPHRASE, params=FAST)
    with pytest.raises(KeyMaterialError, match="committed"):
        import_next_key(path, PASSPHRASE, bundle.without_next_seed())


def test_a_next_key_file_opens_only_with_its_passphrase(tmp_path: Path, bundle: KeyBundle) -> None:
    path = tmp_path / "next.key"
    export_next_key(path, bundle, PASSPHRASE, params=FAST)
    with pytest.raises(WrongPassphraseError):
        import_next_key(path, "not it", bundle)


def test_the_two_kinds_of_key_file_are_not_confused(key_path: Path, tmp_path: Path) -> None:
    bundle = read_key_file(key_path, PASSPHRASE)
    offline = tmp_path / "next.key"
    export_next_key(offline, bundle, PASSPHRASE, params=FAST)
    with pytest.raises(KeyMaterialError, match="import_next_key"):
        read_key_file(offline, PASSPHRASE)
    with pytest.raises(KeyMaterialError, match="not an exported next key"):
        import_next_key(key_path, PASSPHRASE, bundle)


def test_there_is_nothing_to_export_without_a_next_seed(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="no next seed"):
        export_next_key(tmp_path / "next.key", KeyBundle(current_seed=CURRENT), PASSPHRASE)
    assert not (tmp_path / "next.key").exists()
