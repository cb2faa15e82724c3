"""The node's local trust: whom it accepts, what it stores, what it quarantines (DESIGN §4).

:class:`TrustKeeper` keeps the Advogato metric (sync/trust_metric.py) current from the
endorsement views the store materialises, evaluated at this node's clock; it is the store's
admission policy (events by accepted orgs or their delegates are stored; others wait in the
bounded quarantine) and promotes quarantined events when their authors become accepted. Its
seeds are the node's own org and the roots its operator pinned; keys the operator blocked are
removed from the computation on this node only (never gossiped).

Every :meth:`refresh` recomputes acceptance incrementally (edge changes go to the metric one
by one; the metric re-runs a level only when a change can matter), writes the accepted sets
for the ``verified`` overlay, and promotes. The running node refreshes after each commit that
holds trust-relevant events, and every minute (endorsements expire with time).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crypto import decode_key, encode_key, fingerprint, key_digest
from node.home import Home, NodeConfig
from node.storage import Store
from protocol import Event, Kind
from protocol.codes import Ineffective
from protocol.trust_bodies import Level
from sync.clock import Clock
from sync.identity import IDENTITY_KINDS
from sync.trust_explain import Explanation
from sync.trust_graph import EdgeStatus, edge_status, trust_edges
from sync.trust_metric import Endorsement, TrustMetric
from sync.views import Attestation, EndorsementView, RecordView

__all__ = [
    "ADMIT_MODES",
    "EndorsementFact",
    "TrustExplanation",
    "TrustKeeper",
    "VerifiedBy",
    "load_trust",
]

ADMIT_MODES = ("trusted", "all")
TRUST_KINDS = frozenset({*IDENTITY_KINDS, Kind.ENDORSE})


@dataclass(frozen=True, slots=True, kw_only=True)
class EndorsementFact:
    """An endorsement of the explained org, and whether it counts now."""

    event_id: bytes
    issuer: bytes | None
    level: str
    max_depth: int
    expires: int
    status: EdgeStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustExplanation:
    """Everything that decided whether this node accepts a key (``aidnode trust explain``)."""

    key: bytes
    org: bytes
    standing: Level | None
    metric: Explanation
    key_status: str | None  # "compromised", "retired at hlc …", or None
    duplicitous: bool
    blocked: bool
    endorsements: tuple[EndorsementFact, ...] = ()
    quarantined: int = 0

    def describe(self, names: dict[bytes, str] | None = None) -> list[str]:
        names = names or {}
        label = names.get(self.org, fingerprint(self.org))
        verdict = f"accepted as {self.standing.value}" if self.standing else "NOT accepted"
        lines = [f"{label} ({encode_key(self.org)}): {verdict} by this node"]
        if self.key != self.org:
            lines.append(f"  key {fingerprint(self.key)} acts for this org")
        if self.blocked:
            lines.append("  blocked by this node's operator (aidnode trust block)")
        if self.duplicitous:
            lines.append("  its key chain forked (two rotations): never accepted")
        if self.key_status:
            lines.append(f"  key status: {self.key_status}")
        lines += ["  " + line for line in self.metric.describe(names).splitlines()[1:]]
        for fact in self.endorsements:
            issuer = names.get(fact.issuer, fingerprint(fact.issuer)) if fact.issuer else "?"
            lines.append(
                f"  endorsed by {issuer} as {fact.level} (max depth {fact.max_depth}): "
                f"{fact.status.value}"
            )
        if self.quarantined:
            lines.append(f"  {self.quarantined} of its events wait in quarantine")
        return lines

    def as_dict(self) -> dict[str, Any]:
        def level(explanation: Any) -> dict[str, Any]:
            return {
                "accepted": explanation.accepted,
                "reason": explanation.reason.value,
                "distance": explanation.distance,
                "capacity": explanation.capacity,
                "paths": [
                    {
                        "seed": path.seed.hex(),
                        "hops": [
                            {
                                "issuer": hop.issuer.hex(),
                                "subject": hop.subject.hex(),
                                "event": hop.event_id.hex(),
                                "flow": hop.flow,
                            }
                            for hop in path.hops
                        ],
                    }
                    for path in explanation.paths
                ],
                "saturated": [node.org.hex() for node in explanation.saturated],
            }

        return {
            "key": self.key.hex(),
            "org": self.org.hex(),
            "standing": self.standing.value if self.standing else None,
            "member": level(self.metric.member),
            "verifier": level(self.metric.verifier),
            "key_status": self.key_status,
            "duplicitous": self.duplicitous,
            "blocked": self.blocked,
            "endorsements": [
                {
                    "event": fact.event_id.hex(),
                    "issuer": fact.issuer.hex() if fact.issuer else None,
                    "level": fact.level,
                    "status": fact.status.value,
                    "expires": fact.expires,
                }
                for fact in self.endorsements
            ],
            "quarantined": self.quarantined,
        }


@dataclass(frozen=True, slots=True)
class VerifiedBy:
    """A verification this node counts, with the trust path that makes its author a verifier."""

    attestation: Attestation
    path: tuple[bytes, ...]  # seed → … → the verifying org


def _view(row: tuple[Any, ...]) -> EndorsementView:
    (event_id, issuer, author, subject, subject_org, name, level, max_depth, expires, hlc,
     effective, reason, revoked_by) = row  # fmt: skip
    return EndorsementView(
        id=event_id, issuer=issuer, author=author, subject=subject, subject_org=subject_org,
        name=name, level=level, max_depth=max_depth, expires=expires, hlc=hlc,
        effective=bool(effective), reason=Ineffective(reason) if reason else None,
        revoked_by=revoked_by,
    )  # fmt: skip


@dataclass(slots=True)
class _Current:
    member: frozenset[bytes] = frozenset()
    verifier: frozenset[bytes] = frozenset()
    edges: dict[bytes, Endorsement] = field(default_factory=dict)


class TrustKeeper:
    """This node's trust decisions; install with :meth:`attach` as the store's policy."""

    def __init__(self, store: Store, org: bytes, config: NodeConfig, clock: Clock) -> None:
        if config.admit not in ADMIT_MODES:
            raise ValueError(f"admit must be one of {ADMIT_MODES}")
        self.store = store
        self.org = org
        self.config = config
        self.clock = clock
        self.pinned = tuple(decode_key(k) for k in config.pinned_roots)
        self.blocked_keys = {decode_key(k) for k in config.blocked}
        self.metric = TrustMetric(
            self._seed_orgs(), capacities=config.trust_capacities, blocked=self._blocked_orgs()
        )
        self._current = _Current(member=frozenset(self._seed_orgs()))
        self._refresh_lock = asyncio.Lock()
        self._next_keys_of: object = None
        self._next_digests: frozenset[bytes] = frozenset()
        self._identity_seen: object = None
        self._dirty = asyncio.Event()

    @classmethod
    async def attach(
        cls, store: Store, org: bytes, config: NodeConfig, clock: Clock
    ) -> TrustKeeper:
        """A keeper installed as ``store``'s admission policy, refreshed once."""
        keeper = cls(store, org, config, clock)
        store.policy = keeper
        store.quarantine_caps = type(store.quarantine_caps)(
            config.quarantine_per_author, config.quarantine_total
        )
        store.add_listener(keeper._on_commit)
        await keeper.refresh()
        return keeper

    def _seed_orgs(self) -> set[bytes]:
        identity = self.store.identity
        return {self.org} | {identity.org_of(key) for key in self.pinned}

    def _blocked_orgs(self) -> set[bytes]:
        return {self.store.identity.org_of(key) for key in self.blocked_keys}

    # -- the admission policy -----------------------------------------------------------------

    def admits(self, author: bytes) -> bool:
        """Store events by ``author`` now? (Else they wait in quarantine.)

        Yes if the org the key acts for has standing here, or if the key is the *committed
        next key* of such an org: only that org's holder can have it, and its first event
        is the ``rotate`` that makes it the org's key (pre-rotation, docs/protocol.md §5.1)."""
        if self.config.admit == "all":
            return True
        org = self.store.identity.org_of(author)
        if org in self._current.member or org in self._current.verifier:
            return True
        return key_digest(author) in self._next_keys()

    def _next_keys(self) -> frozenset[bytes]:
        """Next-key digests of the orgs with standing (recomputed when identity changes)."""
        identity = self.store.identity
        if self._next_keys_of is not identity:
            standing = self._current.member | self._current.verifier
            self._next_digests = frozenset(
                chain.next_digest
                for org, chain in identity.chains.items()
                if org in standing and chain.next_digest is not None
            )
            self._next_keys_of = identity
        return self._next_digests

    @property
    def seeds(self) -> frozenset[bytes]:
        """This node's seeds: its own org and the orgs of the roots its operator pinned."""
        return frozenset(self._seed_orgs())

    async def quarantine_size(self) -> int:
        return await self.store.quarantine_size()

    def accepted(self, level: Level | str) -> frozenset[bytes]:
        """Orgs this node accepts at ``level`` (a verifier also counts as a member)."""
        if Level(level) is Level.VERIFIER:
            return self._current.verifier
        return self._current.member | self._current.verifier

    # -- keeping it current -------------------------------------------------------------------

    def _on_commit(self, events: list[Event], origin: bytes | None) -> None:
        if any(event.kind in TRUST_KINDS for event in events):
            self._dirty.set()

    async def watch(self, period_s: float = 60.0) -> None:
        """Refresh after trust-relevant commits (soon) and every ``period_s`` (expiry)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period_s):
                    await self._dirty.wait()
            self._dirty.clear()
            await self.refresh()

    async def refresh(self) -> bool:
        """Recompute acceptance; persist it and promote quarantined events if it changed.
        Returns whether anything changed."""
        async with self._refresh_lock:
            rows = await self.store.fetch("SELECT * FROM endorsements")
            views = [_view(row) for row in rows]
            identity = self.store.identity
            edges = {e.event_id: e for e in trust_edges(views, identity, self.clock.now_ms())}
            for event_id in self._current.edges.keys() - edges.keys():
                self.metric.remove_edge(event_id)
            for event_id, edge in edges.items():
                if self._current.edges.get(event_id) != edge:
                    self.metric.remove_edge(event_id)
                    self.metric.add_edge(edge)
            self._current.edges = edges
            self._sync_seeds_and_blocks()
            member = self.metric.accepted(Level.MEMBER)
            verifier = self.metric.accepted(Level.VERIFIER)
            changed = (member, verifier) != (self._current.member, self._current.verifier)
            self._current.member, self._current.verifier = member, verifier
            self._next_keys_of = None  # standing changed: recompute the next-key digests
            identity_moved = identity is not self._identity_seen
            self._identity_seen = identity
        if changed:
            await self.store.set_accepted(Level.MEMBER.value, self.accepted(Level.MEMBER))
            await self.store.set_accepted(Level.VERIFIER.value, verifier)
        # New acceptance, or identity news (a delegation makes a key act for an accepted org):
        # either can admit authors waiting in quarantine.
        if (changed or identity_moved) and await self.store.promote():
            self._dirty.set()  # promoted events may carry endorsements: look again
        return changed

    def _sync_seeds_and_blocks(self) -> None:
        seeds, blocked = self._seed_orgs(), self._blocked_orgs()
        if seeds != set(self.metric.seeds):
            self.metric = _rebuilt(self.metric, seeds, self._current.edges.values(), blocked)
            return
        for org in blocked - set(self.metric.blocked):
            self.metric.block(org)
        for org in set(self.metric.blocked) - blocked:
            self.metric.unblock(org)

    # -- operator actions -----------------------------------------------------------------------

    async def block(self, key: bytes, home: Home) -> None:
        """Block ``key`` on this node (saved in config.toml; never gossiped)."""
        self.blocked_keys.add(key)
        self._save(home)
        await self.refresh()

    async def unblock(self, key: bytes, home: Home) -> None:
        self.blocked_keys.discard(key)
        self._save(home)
        await self.refresh()

    def _save(self, home: Home) -> None:
        self.config = self.config.with_changes(
            blocked=tuple(sorted(encode_key(k) for k in self.blocked_keys))
        )
        home.save_config(self.config)

    # -- explaining -----------------------------------------------------------------------------

    async def explain(self, key: bytes) -> TrustExplanation:
        identity = self.store.identity
        org = identity.org_of(key)
        metric = self.metric.explain(org)
        status = identity.key_status.get(key)
        key_status = None
        if status is not None and status.compromised:
            key_status = "revoked as compromised: none of its statements count"
        elif status is not None and status.retired_at is not None:
            key_status = f"retired: statements from hlc {status.retired_at} on do not count"
        rows = await self.store.fetch("SELECT * FROM endorsements WHERE subject_org = ?", (org,))
        now = self.clock.now_ms()
        facts = tuple(
            EndorsementFact(
                event_id=view.id, issuer=view.issuer, level=view.level,
                max_depth=view.max_depth, expires=view.expires,
                status=edge_status(view, identity, now),
            )
            for view in sorted((_view(r) for r in rows), key=lambda v: v.hlc)
        )  # fmt: skip
        quarantined = await self.store.fetch(
            "SELECT count(*) FROM quarantine WHERE org = ?", (org,)
        )
        return TrustExplanation(
            key=key,
            org=org,
            standing=metric.standing,
            metric=metric,
            key_status=key_status,
            duplicitous=identity.is_duplicitous(org),
            blocked=org in self._blocked_orgs() or key in self.blocked_keys,
            endorsements=facts,
            quarantined=int(quarantined[0][0]) if quarantined else 0,
        )

    def verified_by(self, view: RecordView) -> list[VerifiedBy]:
        """The record's verifications whose authors this node accepts as verifiers, each with
        the trust path that makes it so (empty: the record is not verified for this node)."""
        out = []
        for attestation in view.verifications:
            if attestation.org not in self._current.verifier:
                continue
            explanation = self.metric.explain(attestation.org).at(Level.VERIFIER)
            path: tuple[bytes, ...] = (attestation.org,)
            if explanation.paths:
                best = explanation.paths[0]
                path = (best.seed, *(hop.subject for hop in best.hops))
            out.append(VerifiedBy(attestation, path))
        return out


async def load_trust(node: Any) -> TrustKeeper:
    """The trust keeper of an open :class:`node.runtime.Node` (attached when it opened)."""
    keeper = node.trust
    if keeper is None:
        keeper = node.trust = await TrustKeeper.attach(
            node.store, node.org, node.config, node.clock
        )
    assert isinstance(keeper, TrustKeeper)
    return keeper


def _rebuilt(
    old: TrustMetric, seeds: set[bytes], edges: Iterable[Endorsement], blocked: set[bytes]
) -> TrustMetric:
    metric = TrustMetric(seeds, capacities=old.capacities, blocked=blocked)
    metric.replace_edges(edges)
    return metric
