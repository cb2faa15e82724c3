"""A node opened from its home: configuration, keys, store and clock, and the operations an
operator performs (posting records, pledging, endorsing, rotating keys…).

Every operation signs one event with the org's current key at a fresh HLC timestamp and stores
it through the same path as events from peers; the running node pushes it to its peers (if
another process wrote it, the running node picks it up within a second, see
:meth:`node.storage.Store.catch_up`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from crypto import (
    DEFAULT_KDF_PARAMS,
    KdfParams,
    KeyBundle,
    SigningIdentity,
    decode_key,
    encode_key,
    read_key_file,
    write_key_file,
)
from node.clock import SystemClock
from node.errors import ConfigError
from node.home import Home, NodeConfig
from node.storage import Outcome, OutcomeStatus, Store
from node.trust import TrustKeeper
from protocol import (
    DELEGATION_DOMAIN,
    DelegateBody,
    EndorseBody,
    Event,
    InceptBody,
    ProfileBody,
    RevokeBody,
    RotateBody,
    Schema,
    delegation_message,
    sign_event,
)
from sync.clock import Clock
from sync.hlc import HybridClock

__all__ = ["NODE_KEY_NAME", "Node", "init_home"]

NODE_KEY_NAME = "node"  # the extra seed that signs node-to-node requests and TLS


@dataclass(frozen=True, slots=True)
class Published:
    event: Event
    outcome: Outcome


def init_home(
    home: Home,
    *,
    name: str,
    region: str = "",
    passphrase: str | None,
    listen: str = "127.0.0.1:7420",
    kdf: KdfParams = DEFAULT_KDF_PARAMS,
) -> NodeConfig:
    """Create a node: keys (current, committed next, node key), config, API token.

    The org's ``incept`` and ``profile`` events are written when the node first opens (see
    :meth:`Node.open`). Raises :class:`ConfigError` if a node already lives there.
    """
    if home.exists():
        raise ConfigError(f"a node already exists in {home.root}")
    home.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    bundle = KeyBundle.generate(extra_names=[NODE_KEY_NAME])
    org = bundle.current_identity().public_key
    config = NodeConfig(name=name, region=region, listen=listen, org=encode_key(org))
    write_key_file(home.key_path, bundle, passphrase, params=kdf)
    home.save_config(config)
    home.new_token()
    return config


class Node:
    """An open node. Use :meth:`open`; close with :meth:`close`."""

    def __init__(
        self, home: Home, config: NodeConfig, bundle: KeyBundle, store: Store, clock: Clock
    ) -> None:
        self.home = home
        self.config = config
        self.bundle = bundle
        self.store = store
        self.clock = clock
        self.org = decode_key(config.org)
        self.node_identity = bundle.extra_identity(NODE_KEY_NAME)
        self.hlc = HybridClock(clock)
        self.trust: TrustKeeper | None = None

    @classmethod
    async def open(
        cls,
        home: Home,
        passphrase: str | None,
        *,
        clock: Clock | None = None,
        workers: int | None = None,
    ) -> Node:
        """Open the node in ``home``. Raises :class:`ConfigError`, the key file's errors
        (wrong passphrase, corrupt file) or :class:`StorageError`."""
        config = home.load_config()
        bundle = read_key_file(home.key_path, passphrase)
        clock = clock or SystemClock()
        store = await Store.open(
            home.db_path, clock=clock, horizon_days=config.horizon_days, workers=workers
        )
        node = cls(home, config, bundle, store, clock)
        node.hlc = HybridClock(clock, last=await store.max_hlc())
        node.trust = await TrustKeeper.attach(store, node.org, config, clock)
        await node._ensure_founded()
        return node

    async def close(self) -> None:
        await self.store.close()

    @property
    def signer(self) -> SigningIdentity:
        """The org's current signing key."""
        return self.bundle.current_identity()

    async def _ensure_founded(self) -> None:
        """Publish the org's ``incept`` and first ``profile`` the first time the node opens."""
        if self.store.identity.chains.get(self.org) is not None or self.store.read_only:
            return
        if self.signer.public_key != self.org:
            return  # already rotated: the incept exists somewhere (we may just not hold it)
        digest = self.bundle.next_key_digest
        if digest is None:
            raise ConfigError("the key file has no committed next key; cannot found the org")
        await self.publish("incept", InceptBody(next=digest))
        regions = (self.config.region,) if self.config.region else None
        await self.publish("profile", ProfileBody(name=self.config.name, regions=regions))

    # -- publishing ---------------------------------------------------------------------------

    async def publish(
        self,
        kind: str,
        body: Schema | dict[str, Any],
        ref: bytes | None = None,
        *,
        signer: SigningIdentity | None = None,
    ) -> Published:
        """Sign and store one event by this org (or ``signer``). Raises
        :class:`protocol.ProtocolError` if the event would be invalid, or
        :class:`StorageError`."""
        event = sign_event(signer or self.signer, kind, self.hlc.now(), body, ref)
        [outcome] = await self.store.add([event])
        return Published(event, outcome)

    async def endorse(
        self, subject: bytes, name: str, level: str, *, max_depth: int, expires_ms: int
    ) -> Published:
        body = EndorseBody(
            subject=subject, name=name, level=level, max_depth=max_depth, expires=expires_ms
        )
        return await self.publish("endorse", body)

    async def revoke(self, *, target: bytes | None, key: bytes | None, reason: str) -> Published:
        return await self.publish("revoke", RevokeBody(reason=reason, key=key), ref=target)

    def delegation_proof(
        self, delegate: SigningIdentity, scopes: tuple[str, ...], expires_ms: int
    ) -> bytes:
        """The consent a delegate key signs (on its own machine, normally)."""
        message = delegation_message(self.signer.public_key, scopes, expires_ms)
        return delegate.sign(DELEGATION_DOMAIN, message)

    async def delegate(
        self, key: bytes, scopes: tuple[str, ...], expires_ms: int, proof: bytes, name: str | None
    ) -> Published:
        body = DelegateBody(
            key=key, scopes=tuple(sorted(scopes)), expires=expires_ms, proof=proof, name=name
        )
        return await self.publish("delegate", body)

    async def rotate_key(
        self, passphrase: str | None, kdf: KdfParams = DEFAULT_KDF_PARAMS
    ) -> Published:
        """Pre-rotation: reveal the committed next key, commit to a fresh one after it, and
        save the key file (the old current key is superseded from this event on).

        Raises :class:`KeyMaterialError` if the next key is not in the key file (import it
        from where it is kept offline first)."""
        chain = self.store.identity.chains.get(self.org)
        if chain is None:
            raise ConfigError("this node does not hold its org's incept event yet")
        rotated = self.bundle.rotated(new_next_seed=os.urandom(32))
        new_key = rotated.current_identity()
        assert rotated.next_key_digest is not None
        body = RotateBody(org=self.org, prior=self.signer.public_key, next=rotated.next_key_digest)
        published = await self.publish("rotate", body, ref=chain.establishment[-1], signer=new_key)
        if published.outcome.status is not OutcomeStatus.ACCEPTED:
            raise ConfigError(f"rotation not stored: {published.outcome.status}")
        # Save the new bundle only once the rotation is durable; a crash in between leaves the
        # old file, which still holds the (now current) key as its next key: rotate again.
        write_key_file(self.home.key_path, rotated, passphrase, params=kdf, overwrite=True)
        self.bundle = rotated
        return published
