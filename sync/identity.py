"""Who acts for which org: key chains, delegations and key revocations (docs/protocol.md §5).

Built deterministically from the identity events of an event set (``incept``, ``rotate``,
``delegate``, ``revoke``), so every replica holding the same events resolves every key the same
way, whatever order the events arrived in. The rules:

* **Org keys.** An ``incept`` makes its author key an org; the org id is that key forever. A
  ``rotate`` authored by the key whose digest the previous establishment event committed to
  (pre-rotation, as in KERI) replaces the current key; statements of a replaced key made at or
  after the rotation's hlc have no effect. Two valid rotations of the same event fork the
  chain: the org is *duplicitous* from there on (the chain stops; the trust layer refuses it).
  A key with neither an incept nor a delegation is a *bare* org key: its own org.
* **Delegations.** ``delegate`` lets another key act for the author's org within scopes until
  expiry, only with that key's own consent (``proof``). Delegates may sub-delegate up to depth
  3, never widening scopes or extending expiry. A key acts for one org only: the org of its
  first effective delegation (lowest depth, then lowest (hlc, id)); an org key cannot be made a
  delegate.
* **Revocations.** A key may always revoke itself. An org key can be revoked by a later key of
  its own chain; a delegate by its delegators or any org key of its org. A delegation event can
  be revoked by its author or any org key of its org. ``compromised`` voids every statement of
  the key (its hlc could be forged), including its own revocations and delegations;
  ``superseded``/``retired`` void those at or after the revocation's hlc. A revocation by a
  key whose statements are void at that hlc has no effect. Every revoker's status is settled
  before its revocations are applied (later chain keys first, then delegation depth by depth),
  so there are no cycles.

Establishment events (``incept``/``rotate``) are never voided by a compromise of their author:
the next-key digest already protects them, and voiding them would let a thief erase the chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from crypto.errors import SignatureError
from crypto.signing import key_digest, verify
from protocol.codes import Ineffective, Kind
from protocol.envelope import Event, hlc_millis
from protocol.trust_bodies import (
    DELEGATION_DOMAIN,
    DelegateBody,
    InceptBody,
    RevokeBody,
    RevokeReason,
    RotateBody,
    delegation_message,
)

__all__ = [
    "IDENTITY_KINDS",
    "MAX_DELEGATION_DEPTH",
    "Acting",
    "ChainKey",
    "Grant",
    "Identity",
    "KeyStatus",
    "OrgChain",
    "build_identity",
]

IDENTITY_KINDS = frozenset({Kind.INCEPT, Kind.ROTATE, Kind.DELEGATE, Kind.REVOKE})
MAX_DELEGATION_DEPTH = 3


@dataclass(frozen=True, slots=True)
class Acting:
    """The result of resolving a statement's author: the org it acts for, and how."""

    org: bytes
    key: bytes
    delegated: bool


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """Revocation status of a key. ``retired_at`` is an hlc: statements at or after it fail."""

    compromised: bool = False
    retired_at: int | None = None

    def allows(self, hlc: int) -> Ineffective | None:
        if self.compromised or (self.retired_at is not None and hlc >= self.retired_at):
            return Ineffective.KEY_REVOKED
        return None


_VALID = KeyStatus()


@dataclass(frozen=True, slots=True)
class ChainKey:
    """A key of an org's establishment chain."""

    org: bytes
    position: int
    superseded_at: int | None  # hlc of the rotation that replaced it


@dataclass(frozen=True, slots=True)
class OrgChain:
    org: bytes
    keys: tuple[bytes, ...]  # oldest first; the last is the current key
    establishment: tuple[bytes, ...]  # the incept and rotate event ids, in order
    next_digest: bytes | None  # commitment to the next key (None if duplicitous)
    duplicitous: bool


@dataclass(frozen=True, slots=True)
class Grant:
    """An effective delegation of ``key`` to act for ``org``."""

    event_id: bytes
    org: bytes
    key: bytes
    delegator: bytes
    scopes: frozenset[str]
    expires: int  # Unix ms
    hlc: int
    depth: int
    ended_at: int | None = None  # delegation revoked (superseded/retired) from this hlc
    void: bool = False  # delegation revoked as compromised

    def active_at(self, hlc: int) -> Ineffective | None:
        """Why the grant does not cover a statement at ``hlc`` (scope aside), or None."""
        if self.void or (self.ended_at is not None and hlc >= self.ended_at):
            return Ineffective.DELEGATION_REVOKED
        if hlc_millis(hlc) > self.expires:
            return Ineffective.DELEGATION_EXPIRED
        return None


class Identity:
    """The resolved identity state. Read-only after :func:`build_identity` returns it."""

    def __init__(
        self,
        chains: dict[bytes, OrgChain],
        chain_keys: dict[bytes, ChainKey],
        key_status: dict[bytes, KeyStatus],
        grants: dict[bytes, tuple[Grant, ...]],
        delegated_keys: frozenset[bytes],
        ineffective: dict[bytes, Ineffective],
    ) -> None:
        self.chains = chains
        self.chain_keys = chain_keys
        self.key_status = key_status
        self.grants = grants
        self.delegated_keys = delegated_keys
        self.ineffective = ineffective

    def resolve(self, key: bytes, hlc: int, scope: str | None) -> Acting | Ineffective:
        """For whom ``key`` acts in a statement at ``hlc`` needing delegated ``scope``.

        ``scope`` None means the statement cannot be delegated. Returns :class:`Acting` or the
        :class:`Ineffective` reason the statement has no effect.
        """
        refusal = self.key_status.get(key, _VALID).allows(hlc)
        if refusal is not None:
            return refusal
        if key in self.delegated_keys:
            grants = self.grants.get(key)
            if not grants:
                return Ineffective.NOT_AUTHORISED
            reason: Ineffective = Ineffective.OUT_OF_SCOPE
            for grant in grants:
                if scope is None or scope not in grant.scopes:
                    continue
                refusal = grant.active_at(hlc)
                if refusal is None:
                    return Acting(grant.org, key, delegated=True)
                reason = refusal
            return reason
        chain_key = self.chain_keys.get(key)
        if chain_key is None:
            return Acting(key, key, delegated=False)  # a bare key is its own org
        if chain_key.superseded_at is not None and hlc >= chain_key.superseded_at:
            return Ineffective.KEY_SUPERSEDED
        return Acting(chain_key.org, key, delegated=False)

    def org_of(self, key: bytes) -> bytes:
        """The org a key belongs to, whatever its status (for naming endorsement subjects)."""
        chain_key = self.chain_keys.get(key)
        if chain_key is not None:
            return chain_key.org
        grants = self.grants.get(key)
        if grants:
            return grants[0].org
        return key

    def is_duplicitous(self, org: bytes) -> bool:
        chain = self.chains.get(org)
        return chain is not None and chain.duplicitous

    def facts(self) -> dict[bytes, tuple[object, ...]]:
        """Everything identity says about each key it knows, as comparable plain values.

        Two :class:`Identity` values resolve a key identically iff its facts are equal, so
        the incremental fold compares facts to find the keys whose statements need refolding.
        """
        keys = set(self.chain_keys) | set(self.key_status) | set(self.delegated_keys)
        return {
            key: (
                self.chain_keys.get(key),
                self.key_status.get(key),
                key in self.delegated_keys,
                self.grants.get(key, ()),
            )
            for key in keys
        }


class _Builder:
    """One pass of the identity rules over a fixed event set (see the module docstring)."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.incepts: dict[bytes, list[Event]] = defaultdict(list)
        self.rotates_by_ref: dict[bytes, list[Event]] = defaultdict(list)
        self.delegations: list[Event] = []
        self.key_revokes: dict[bytes, list[Event]] = defaultdict(list)
        self.event_revokes: dict[bytes, list[Event]] = defaultdict(list)
        for event in sorted(events, key=lambda e: e.sort_key):
            body = event.body
            if isinstance(body, InceptBody):
                self.incepts[event.author].append(event)
            elif isinstance(body, RotateBody) and event.ref is not None:
                self.rotates_by_ref[event.ref].append(event)
            elif isinstance(body, DelegateBody):
                self.delegations.append(event)
            elif isinstance(body, RevokeBody):
                if body.key is not None:
                    self.key_revokes[body.key].append(event)
                elif event.ref is not None:
                    self.event_revokes[event.ref].append(event)
        self.chains: dict[bytes, OrgChain] = {}
        self.chain_keys: dict[bytes, ChainKey] = {}
        self.status: dict[bytes, KeyStatus] = {}
        self.grants: dict[bytes, list[Grant]] = defaultdict(list)
        self.ineffective: dict[bytes, Ineffective] = {}

    # -- org key chains ----------------------------------------------------------------------

    def build_chains(self) -> None:
        claimed = set(self.incepts)
        for org in sorted(self.incepts):
            incepts = self.incepts[org]
            if len(incepts) > 1:
                for event in incepts:
                    self.ineffective[event.id] = Ineffective.DUPLICITY
                self._add_chain(org, [org], [e.id for e in incepts], None, duplicitous=True)
                continue
            self._walk_chain(org, incepts[0], claimed)

    def _walk_chain(self, org: bytes, incept: Event, claimed: set[bytes]) -> None:
        assert isinstance(incept.body, InceptBody)
        keys, establishment, superseded = [org], [incept.id], {}
        current, next_digest, duplicitous = incept, incept.body.next, False
        while True:
            valid = []
            for rotate in self.rotates_by_ref.get(current.id, ()):
                body = rotate.body
                assert isinstance(body, RotateBody)
                if (
                    body.org != org
                    or body.prior != keys[-1]
                    or key_digest(rotate.author) != next_digest
                ):
                    self.ineffective[rotate.id] = Ineffective.BAD_ROTATION
                elif rotate.author in claimed:
                    self.ineffective[rotate.id] = Ineffective.ORG_KEY
                else:
                    valid.append(rotate)
            if not valid:
                break
            if len(valid) > 1:
                # Only the holder of the committed next key can sign a rotation, so two of them
                # mean that key signed both: which one is genuine cannot be decided from the
                # events alone (KERI resolves it with witnesses and first-seen order, which a
                # convergent fold cannot use). Stop the chain and let trust refuse the org.
                for rotate in valid:
                    self.ineffective[rotate.id] = Ineffective.DUPLICITY
                duplicitous = True
                break
            rotate = valid[0]
            assert isinstance(rotate.body, RotateBody)
            superseded[keys[-1]] = rotate.hlc
            keys.append(rotate.author)
            establishment.append(rotate.id)
            claimed.add(rotate.author)
            current, next_digest = rotate, rotate.body.next
        self._add_chain(
            org, keys, establishment, None if duplicitous else next_digest, duplicitous, superseded
        )

    def _add_chain(
        self,
        org: bytes,
        keys: list[bytes],
        establishment: list[bytes],
        next_digest: bytes | None,
        duplicitous: bool,
        superseded: dict[bytes, int] | None = None,
    ) -> None:
        self.chains[org] = OrgChain(
            org, tuple(keys), tuple(establishment), next_digest, duplicitous
        )
        for position, key in enumerate(keys):
            self.chain_keys[key] = ChainKey(org, position, (superseded or {}).get(key))

    # -- statement validity while building ----------------------------------------------------

    def org_key_acts(self, key: bytes, hlc: int) -> Acting | Ineffective:
        """Resolution of an org key (chain or bare) with the statuses settled so far."""
        refusal = self.status.get(key, _VALID).allows(hlc)
        if refusal is not None:
            return refusal
        chain_key = self.chain_keys.get(key)
        if chain_key is None:
            return Acting(key, key, delegated=False)
        if chain_key.superseded_at is not None and hlc >= chain_key.superseded_at:
            return Ineffective.KEY_SUPERSEDED
        return Acting(chain_key.org, key, delegated=False)

    def _apply_key_status(self, key: bytes, revoke: Event) -> None:
        assert isinstance(revoke.body, RevokeBody)
        old = self.status.get(key, _VALID)
        if revoke.body.reason == RevokeReason.COMPROMISED:
            self.status[key] = KeyStatus(compromised=True, retired_at=old.retired_at)
        else:
            retired = revoke.hlc if old.retired_at is None else min(old.retired_at, revoke.hlc)
            self.status[key] = KeyStatus(compromised=old.compromised, retired_at=retired)

    # -- revocation of org keys ---------------------------------------------------------------

    def revoke_org_keys(self, delegated_keys: frozenset[bytes]) -> None:
        for org in sorted(self.chains):
            keys = self.chains[org].keys
            for position in range(len(keys) - 1, -1, -1):  # newest first: revokers are later
                key = keys[position]
                for revoke in self.key_revokes.get(key, ()):
                    if revoke.author == key:
                        self._apply_key_status(key, revoke)
                        continue
                    revoker = self.chain_keys.get(revoke.author)
                    if revoker is None or revoker.org != org or revoker.position <= position:
                        self.ineffective[revoke.id] = Ineffective.NOT_ENTITLED
                        continue
                    acting = self.org_key_acts(revoke.author, revoke.hlc)
                    if isinstance(acting, Ineffective):
                        self.ineffective[revoke.id] = acting
                    else:
                        self._apply_key_status(key, revoke)
        # Bare keys can only revoke themselves.
        for key, revokes in self.key_revokes.items():
            if key in self.chain_keys or key in delegated_keys:
                continue
            for revoke in revokes:
                if revoke.author == key:
                    self._apply_key_status(key, revoke)
                else:
                    self.ineffective[revoke.id] = Ineffective.NOT_ENTITLED

    # -- delegations, depth by depth ---------------------------------------------------------

    def consenting_delegations(self) -> list[Event]:
        """Delegations whose proof the delegate key signed (others have no effect at all)."""
        consenting = []
        for event in self.delegations:
            body = event.body
            assert isinstance(body, DelegateBody)
            if body.key in self.chain_keys or body.key in self.incepts:
                self.ineffective[event.id] = Ineffective.ORG_KEY
                continue
            if body.key == event.author:
                self.ineffective[event.id] = Ineffective.NOT_AUTHORISED
                continue
            try:
                message = delegation_message(event.author, body.scopes, body.expires)
                verify(body.key, DELEGATION_DOMAIN, message, body.proof)
            except SignatureError:
                self.ineffective[event.id] = Ineffective.BAD_PROOF
                continue
            consenting.append(event)
        return consenting

    def _parent_grant(self, event: Event) -> Grant | Ineffective:
        """The delegator's grant that covers sub-delegation ``event`` (lowest depth wins)."""
        body = event.body
        assert isinstance(body, DelegateBody)
        refusal = self.status.get(event.author, _VALID).allows(event.hlc)
        if refusal is not None:
            return refusal
        reason: Ineffective = Ineffective.NOT_AUTHORISED
        for grant in sorted(self.grants.get(event.author, ()), key=lambda g: g.depth):
            refusal = grant.active_at(event.hlc)
            if refusal is not None:
                reason = refusal
            elif set(body.scopes) <= grant.scopes and body.expires <= grant.expires:
                return grant
            else:
                reason = Ineffective.DELEGATION_WIDENS
        return reason

    def grant_delegations(self, consenting: list[Event], delegated_keys: frozenset[bytes]) -> None:
        """Settle delegations depth by depth: a delegator's grants and status are final before
        any delegation it made is judged."""
        pending: list[Event] = []
        bound: dict[bytes, bytes] = {}
        reasons: dict[bytes, Ineffective] = {}
        granted: list[Grant] = []
        for event in consenting:  # depth 1: delegations by org keys
            if event.author in delegated_keys:
                pending.append(event)
                continue
            acting = self.org_key_acts(event.author, event.hlc)
            if isinstance(acting, Ineffective):
                self.ineffective[event.id] = acting
            else:
                granted.append(self._grant(event, acting.org, 1))
        for depth in range(2, MAX_DELEGATION_DEPTH + 2):
            self._bind(granted, bound)
            if depth > MAX_DELEGATION_DEPTH:
                break
            granted, waiting = [], []
            for event in pending:
                parent = self._parent_grant(event) if event.author in bound else None
                if isinstance(parent, Grant) and parent.depth < depth:
                    granted.append(self._grant(event, parent.org, parent.depth + 1))
                else:
                    if parent is not None and not isinstance(parent, Grant):
                        reasons[event.id] = parent
                    waiting.append(event)
            pending = waiting
        for event in pending:
            if event.author not in bound:
                self.ineffective[event.id] = Ineffective.NOT_AUTHORISED
            else:
                parent = self._parent_grant(event)
                self.ineffective[event.id] = (
                    Ineffective.TOO_DEEP
                    if isinstance(parent, Grant)
                    else reasons.get(event.id, parent)
                )

    def _grant(self, event: Event, org: bytes, depth: int) -> Grant:
        """A grant for delegation ``event``, with any revocation of the event already applied
        (its revokers, the delegator and the org's keys, are settled at this point)."""
        body = event.body
        assert isinstance(body, DelegateBody)
        ended_at: int | None = None
        void = False
        for revoke in self.event_revokes.get(event.id, ()):
            if revoke.author != event.author and not self._is_org_key_of(revoke.author, org):
                self.ineffective[revoke.id] = Ineffective.NOT_ENTITLED
                continue
            refusal = self._revoker_refusal(revoke)
            if refusal is not None:
                self.ineffective[revoke.id] = refusal
                continue
            assert isinstance(revoke.body, RevokeBody)
            if revoke.body.reason == RevokeReason.COMPROMISED:
                void = True
            else:
                ended_at = revoke.hlc if ended_at is None else min(ended_at, revoke.hlc)
        return Grant(
            event_id=event.id,
            org=org,
            key=body.key,
            delegator=event.author,
            scopes=frozenset(body.scopes),
            expires=body.expires,
            hlc=event.hlc,
            depth=depth,
            ended_at=ended_at,
            void=void,
        )

    def _bind(self, granted: list[Grant], bound: dict[bytes, bytes]) -> None:
        """Record new grants (a key keeps the org of its first grant) and apply revocations
        of the delegate keys that just gained grants."""
        for grant in sorted(granted, key=lambda g: (g.hlc, g.event_id)):
            if bound.setdefault(grant.key, grant.org) != grant.org:
                self.ineffective[grant.event_id] = Ineffective.KEY_BOUND
            else:
                self.grants[grant.key].append(grant)
        for key in sorted({grant.key for grant in granted}):
            org = bound[key]
            delegators = {g.delegator for g in self.grants[key]}
            for revoke in self.key_revokes.get(key, ()):
                if revoke.author != key:
                    entitled = revoke.author in delegators or self._is_org_key_of(
                        revoke.author, org
                    )
                    refusal = (
                        self._revoker_refusal(revoke) if entitled else Ineffective.NOT_ENTITLED
                    )
                    if refusal is not None:
                        self.ineffective[revoke.id] = refusal
                        continue
                self.ineffective.pop(revoke.id, None)  # judged again as more grants appear
                self._apply_key_status(key, revoke)

    def _is_org_key_of(self, key: bytes, org: bytes) -> bool:
        chain_key = self.chain_keys.get(key)
        return chain_key.org == org if chain_key is not None else key == org

    def _revoker_refusal(self, revoke: Event) -> Ineffective | None:
        """Why ``revoke``'s author cannot make statements at its hlc, or None if it can."""
        author = revoke.author
        if author in self.grants:
            refusal = self.status.get(author, _VALID).allows(revoke.hlc)
            if refusal is not None:
                return refusal
            active = [g.active_at(revoke.hlc) for g in self.grants[author]]
            return None if None in active else next(r for r in active if r is not None)
        acting = self.org_key_acts(author, revoke.hlc)
        return acting if isinstance(acting, Ineffective) else None


def build_identity(events: Iterable[Event]) -> Identity:
    """Resolve identity from a set of events (others than the identity kinds are ignored).

    Deterministic in the *set*: order and duplicates of ``events`` do not matter.
    """
    builder = _Builder(e for e in events if e.kind in IDENTITY_KINDS)
    builder.build_chains()
    consenting = builder.consenting_delegations()
    delegated_keys = frozenset(
        e.body.key for e in consenting if isinstance(e.body, DelegateBody)
    )
    builder.revoke_org_keys(delegated_keys)
    builder.grant_delegations(consenting, delegated_keys)
    return Identity(
        chains=builder.chains,
        chain_keys=builder.chain_keys,
        key_status=builder.status,
        grants={key: tuple(grants) for key, grants in builder.grants.items() if grants},
        delegated_keys=delegated_keys,
        ineffective=builder.ineffective,
    )
