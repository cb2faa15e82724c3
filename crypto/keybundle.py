"""The secret seeds a node keeps, as one value: current key, committed next key, extras.

Pre-rotation (DESIGN §4, KERI-style): an org commits in its ``incept`` or ``rotate`` event to
the digest of its *next* key, and the ``rotate`` event is signed by that next key, so a thief
of the current key alone cannot take the identity over. :class:`KeyBundle` therefore carries
the next key's digest even while the next seed itself is kept offline, and refuses a returning
seed that does not match it. :mod:`crypto.keyfile` stores bundles on disk.
"""

from __future__ import annotations

import dataclasses
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from crypto.errors import KeyMaterialError
from crypto.keys import fingerprint
from crypto.signing import KEY_BYTES, SEED_BYTES, SigningIdentity, key_digest

__all__ = ["EXTRA_NAME_PATTERN", "MAX_EXTRA_SEEDS", "KeyBundle", "public_key_of_seed"]

MAX_EXTRA_SEEDS = 8
EXTRA_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")


def public_key_of_seed(seed: bytes) -> bytes:
    """The Ed25519 public key of a 32-byte seed."""
    return SigningIdentity(seed).public_key


def _check_seed(what: str, seed: object) -> None:
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise KeyMaterialError(f"{what} must be a {SEED_BYTES}-byte seed")


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class KeyBundle:
    """The secret seeds a node keeps: the org's current key, its committed next key, extras.

    ``next_key_digest`` is the pre-rotation commitment (:func:`crypto.signing.key_digest` of
    the next public key). It is derived from ``next_seed`` when that is given, and kept on its
    own when the next seed has been moved offline, so the seed can be checked on its return.
    ``extra_seeds`` maps short names (``[a-z][a-z0-9-]{0,31}``, at most
    :data:`MAX_EXTRA_SEEDS`) to seeds, e.g. ``"node"`` for the node's transport key.

    Raises :class:`KeyMaterialError` for a seed of the wrong size, a next seed equal to the
    current one or not matching ``next_key_digest``, or a bad extra name. The repr never shows
    a seed, and the value is deliberately not hashable.
    """

    current_seed: bytes
    next_seed: bytes | None = None
    next_key_digest: bytes | None = None
    extra_seeds: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_seed("the current seed", self.current_seed)
        if self.next_key_digest is not None and (
            not isinstance(self.next_key_digest, bytes) or len(self.next_key_digest) != KEY_BYTES
        ):
            raise KeyMaterialError(f"the next key digest must be {KEY_BYTES} bytes")
        if self.next_seed is not None:
            _check_seed("the next seed", self.next_seed)
            if hmac.compare_digest(self.next_seed, self.current_seed):
                raise KeyMaterialError("the next seed must differ from the current seed")
            digest = key_digest(public_key_of_seed(self.next_seed))
            if self.next_key_digest is None:
                object.__setattr__(self, "next_key_digest", digest)
            elif not hmac.compare_digest(digest, self.next_key_digest):
                raise KeyMaterialError("the next seed is not the key committed by its digest")
        if not isinstance(self.extra_seeds, Mapping) or len(self.extra_seeds) > MAX_EXTRA_SEEDS:
            raise KeyMaterialError(f"at most {MAX_EXTRA_SEEDS} extra seeds, in a mapping")
        for name, seed in self.extra_seeds.items():
            if not isinstance(name, str) or not EXTRA_NAME_PATTERN.fullmatch(name):
                raise KeyMaterialError(f"extra seed name {name!r} is not [a-z][a-z0-9-]{{0,31}}")
            _check_seed(f"extra seed {name!r}", seed)
        # A private sorted copy: the caller's dict cannot change a frozen bundle afterwards.
        frozen = MappingProxyType(dict(sorted(self.extra_seeds.items())))
        object.__setattr__(self, "extra_seeds", frozen)

    # Seeds must never be dict keys or set members: that is how they end up in logs and dumps.
    __hash__ = None  # type: ignore[assignment]  # dataclass would otherwise generate one

    @classmethod
    def generate(cls, *, extra_names: Iterable[str] = ()) -> KeyBundle:
        """A fresh current key, a fresh committed next key and one fresh seed per extra name."""
        return cls(
            current_seed=os.urandom(SEED_BYTES),
            next_seed=os.urandom(SEED_BYTES),
            extra_seeds={name: os.urandom(SEED_BYTES) for name in extra_names},
        )

    def current_identity(self) -> SigningIdentity:
        """The org's current signing identity."""
        return SigningIdentity(self.current_seed)

    def next_identity(self) -> SigningIdentity | None:
        """The committed next identity, or None if its seed is not in this bundle."""
        return None if self.next_seed is None else SigningIdentity(self.next_seed)

    def extra_identity(self, name: str) -> SigningIdentity:
        """The extra identity called ``name``; :class:`KeyMaterialError` if there is none."""
        try:
            return SigningIdentity(self.extra_seeds[name])
        except KeyError:
            raise KeyMaterialError(f"the key bundle has no extra key named {name!r}") from None

    def without_next_seed(self) -> KeyBundle:
        """This bundle with the next seed removed but its digest kept (after exporting it)."""
        return dataclasses.replace(self, next_seed=None)

    def with_next_seed(self, seed: bytes) -> KeyBundle:
        """This bundle holding ``seed`` as its next seed.

        If a next key is already committed, ``seed`` must be that key, else
        :class:`KeyMaterialError`.
        """
        return dataclasses.replace(self, next_seed=seed)

    def rotated(self, *, new_next_seed: bytes | None = None) -> KeyBundle:
        """The bundle after a ``rotate`` event: next becomes current, a new next is committed.

        ``new_next_seed`` defaults to a fresh random seed. Extra seeds are kept. Raises
        :class:`KeyMaterialError` if the next seed is not in this bundle (import it first).
        """
        if self.next_seed is None:
            raise KeyMaterialError("the next seed is not in this bundle: import it to rotate")
        return KeyBundle(
            current_seed=self.next_seed,
            next_seed=os.urandom(SEED_BYTES) if new_next_seed is None else new_next_seed,
            extra_seeds=self.extra_seeds,
        )

    def __repr__(self) -> str:
        extras = ", ".join(self.extra_seeds)
        digest = "none" if self.next_key_digest is None else self.next_key_digest.hex()[:16] + "…"
        return (
            f"KeyBundle(current={fingerprint(public_key_of_seed(self.current_seed))}, "
            f"next_digest={digest}, next_seed_here={self.next_seed is not None}, "
            f"extras=[{extras}])"
        )
