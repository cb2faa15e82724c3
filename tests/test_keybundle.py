"""crypto.keybundle: the current, next and extra seeds a node keeps."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crypto.errors import KeyMaterialError
from crypto.keybundle import MAX_EXTRA_SEEDS, KeyBundle, public_key_of_seed
from crypto.keys import fingerprint
from crypto.signing import SigningIdentity, key_digest

CURRENT = b"\x11" * 32
NEXT = b"\x22" * 32
NODE = b"\x33" * 32
seeds = st.binary(min_size=32, max_size=32)


@pytest.fixture
def bundle() -> KeyBundle:
    return KeyBundle(current_seed=CURRENT, next_seed=NEXT, extra_seeds={"node": NODE})


def test_the_next_key_digest_is_derived_from_the_next_seed(bundle: KeyBundle) -> None:
    assert bundle.next_key_digest == key_digest(public_key_of_seed(NEXT))


@given(current=seeds, following=seeds)
def test_dropping_and_restoring_the_next_seed_round_trips(current: bytes, following: bytes) -> None:
    assume(current != following)
    bundle = KeyBundle(current_seed=current, next_seed=following)
    offline = bundle.without_next_seed()
    assert offline.next_seed is None
    assert offline.next_key_digest == bundle.next_key_digest
    assert offline.with_next_seed(following) == bundle


def test_a_returning_next_seed_must_be_the_committed_one(bundle: KeyBundle) -> None:
    with pytest.raises(KeyMaterialError, match="committed"):
        bundle.without_next_seed().with_next_seed(b"\x44" * 32)
    with pytest.raises(KeyMaterialError, match="committed"):
        KeyBundle(current_seed=CURRENT, next_seed=NEXT, next_key_digest=b"\x00" * 32)


def test_a_bundle_without_commitment_accepts_any_next_seed() -> None:
    bare = KeyBundle(current_seed=CURRENT)
    assert bare.next_key_digest is None and bare.next_identity() is None
    assert bare.with_next_seed(NEXT).next_key_digest == key_digest(public_key_of_seed(NEXT))


def test_the_next_seed_must_differ_from_the_current_one() -> None:
    with pytest.raises(KeyMaterialError, match="differ"):
        KeyBundle(current_seed=CURRENT, next_seed=CURRENT)


@pytest.mark.parametrize(
    "fields",
    [
        {"current_seed": b"\x11" * 31},
        {"current_seed": CURRENT, "next_seed": b"\x22" * 33},
        {"current_seed": CURRENT, "next_key_digest": b"\x00" * 31},
        {"current_seed": CURRENT, "extra_seeds": {"node": b"\x33" * 16}},
        {"current_seed": "11" * 32},
    ],
)
def test_material_of_the_wrong_size_or_type_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(KeyMaterialError):
        KeyBundle(**fields)  # type: ignore[arg-type]  # deliberately wrong types


@pytest.mark.parametrize("name", ["", "Node", "1node", "no de", "n" * 33, "nöde"])
def test_extra_names_are_short_lowercase_identifiers(name: str) -> None:
    with pytest.raises(KeyMaterialError, match="name"):
        KeyBundle(current_seed=CURRENT, extra_seeds={name: NODE})


def test_there_are_at_most_eight_extra_seeds() -> None:
    extras = {f"key-{i}": bytes([i]) * 32 for i in range(MAX_EXTRA_SEEDS + 1)}
    with pytest.raises(KeyMaterialError, match="at most"):
        KeyBundle(current_seed=CURRENT, extra_seeds=extras)
    del extras[f"key-{MAX_EXTRA_SEEDS}"]
    assert len(KeyBundle(current_seed=CURRENT, extra_seeds=extras).extra_seeds) == 8


def test_the_extra_seeds_cannot_change_after_construction() -> None:
    extras = {"node": NODE}
    bundle = KeyBundle(current_seed=CURRENT, extra_seeds=extras)
    extras["node"] = b"\x44" * 32
    assert bundle.extra_seeds["node"] == NODE
    with pytest.raises(TypeError):
        bundle.extra_seeds["node"] = b"\x44" * 32  # type: ignore[index]  # proving it is read-only


def test_identities_come_from_the_seeds(bundle: KeyBundle) -> None:
    assert bundle.current_identity().public_key == SigningIdentity(CURRENT).public_key
    next_identity = bundle.next_identity()
    assert next_identity is not None and next_identity.seed == NEXT
    assert bundle.extra_identity("node").seed == NODE
    with pytest.raises(KeyMaterialError, match="no extra key named 'tls'"):
        bundle.extra_identity("tls")


def test_rotation_promotes_the_next_key_and_commits_a_new_one(bundle: KeyBundle) -> None:
    rotated = bundle.rotated(new_next_seed=b"\x44" * 32)
    assert rotated.current_seed == NEXT
    assert rotated.next_seed == b"\x44" * 32
    assert rotated.next_key_digest == key_digest(public_key_of_seed(b"\x44" * 32))
    assert rotated.extra_seeds == bundle.extra_seeds
    fresh = bundle.rotated()
    assert fresh.next_seed not in (None, CURRENT, NEXT)


def test_rotation_needs_the_next_seed_at_hand(bundle: KeyBundle) -> None:
    with pytest.raises(KeyMaterialError, match="import"):
        bundle.without_next_seed().rotated()


def test_generate_gives_distinct_fresh_seeds() -> None:
    bundle = KeyBundle.generate(extra_names=["node"])
    assert bundle.next_seed is not None
    seeds_seen = {bundle.current_seed, bundle.next_seed, bundle.extra_seeds["node"]}
    assert len(seeds_seen) == 3
    assert KeyBundle.generate().current_seed != bundle.current_seed


def test_repr_names_keys_by_fingerprint_and_never_shows_a_seed(bundle: KeyBundle) -> None:
    text = repr(bundle)
    assert fingerprint(public_key_of_seed(CURRENT)) in text
    for seed in (CURRENT, NEXT, NODE):
        assert seed.hex()[:8] not in text
        assert repr(seed)[:12] not in text


def test_a_bundle_is_not_hashable(bundle: KeyBundle) -> None:
    with pytest.raises(TypeError):
        hash(bundle)
