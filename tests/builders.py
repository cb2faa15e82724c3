"""Readable builders for signed events in tests: ``world.pledge(convoy, need, line=0, qty=5)``.

Identities come from fixed seeds so failures reproduce; hlc values increase by one logical tick
per event unless a test pins them (to test equal timestamps, backdating, reordering).
"""

from __future__ import annotations

from typing import Any

from crypto.signing import SigningIdentity, key_digest
from protocol import (
    CancelBody,
    Contact,
    DelegateBody,
    DeliverBody,
    EndorseBody,
    Event,
    InceptBody,
    Line,
    LineQty,
    PledgeBody,
    ProfileBody,
    ReceiptBody,
    RecordBody,
    RevokeBody,
    RotateBody,
    UpdateBody,
    VerifyBody,
    WithdrawBody,
    sign_event,
)
from protocol.trust_bodies import DELEGATION_DOMAIN, delegation_message
from sync.hlc import pack

DAY_MS = 86_400_000
START_MS = 1_700_000_000_000


class Org:
    """An org: its chain of keys (current first used), and a name for messages."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.keys = [SigningIdentity(bytes([seed, k]) * 16) for k in range(4)]
        self.position = 0
        self.last_establishment: Event | None = None

    @property
    def key(self) -> SigningIdentity:
        """The current signing key."""
        return self.keys[self.position]

    @property
    def id(self) -> bytes:
        """The org id: its first key."""
        return self.keys[0].public_key

    def __repr__(self) -> str:
        return f"Org({self.name})"


class World:
    """Makes signed events with increasing hlc values."""

    def __init__(self, start_ms: int = START_MS) -> None:
        self.now_ms = start_ms
        self._logical = 0
        self._seed = 1

    def org(self, name: str) -> Org:
        self._seed += 1
        return Org(name, self._seed)

    def delegate_key(self) -> SigningIdentity:
        self._seed += 1
        return SigningIdentity(bytes([self._seed, 200]) * 16)

    def tick(self) -> int:
        self._logical += 1
        return pack(self.now_ms, self._logical)

    def sign(
        self,
        kind: str,
        author: Org | SigningIdentity,
        body: Any,
        ref: bytes | None = None,
        hlc: int | None = None,
    ) -> Event:
        identity = author.key if isinstance(author, Org) else author
        return sign_event(identity, kind, self.tick() if hlc is None else hlc, body, ref)

    # -- records ------------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        author: Org | SigningIdentity,
        lines: list[tuple[str, str, int | None]] | None = None,
        *,
        region: str = "CN-HB-WH",
        expires_in_days: int = 7,
        hlc: int | None = None,
        **extra: Any,
    ) -> Event:
        lines = lines or [("N95 respirator", "medical.ppe", 1000)]
        body = RecordBody(
            title=extra.pop("title", f"{kind} for {lines[0][0]}"),
            lines=tuple(
                Line(item=i, category=c, unit="pieces", qty=q, unlimited=q is None)
                for i, c, q in lines
            ),
            region=region,
            urgency=extra.pop("urgency", "3d"),
            expires=self.now_ms + expires_in_days * DAY_MS,
            contact=Contact(public="call the ward desk"),
            **extra,
        )
        return self.sign(kind, author, body, hlc=hlc)

    def need(self, author: Org | SigningIdentity, *args: Any, **kwargs: Any) -> Event:
        return self.record("need", author, *args, **kwargs)

    def offer(self, author: Org | SigningIdentity, *args: Any, **kwargs: Any) -> Event:
        return self.record("offer", author, *args, **kwargs)

    def update(
        self,
        author: Org | SigningIdentity,
        record: Event,
        hlc: int | None = None,
        qtys: list[int | None] | None = None,
        **fields: Any,
    ) -> Event:
        if qtys is not None:
            fields["lines"] = tuple(LineQty(qty=q, unlimited=q is None) for q in qtys)
        return self.sign("update", author, UpdateBody(**fields), record.id, hlc)

    def withdraw(
        self, author: Org | SigningIdentity, record: Event, hlc: int | None = None
    ) -> Event:
        return self.sign(
            "withdraw", author, WithdrawBody(reason="no longer needed"), record.id, hlc
        )

    def pledge(
        self,
        author: Org | SigningIdentity,
        record: Event,
        line: int = 0,
        qty: int = 100,
        hlc: int | None = None,
    ) -> Event:
        return self.sign("pledge", author, PledgeBody(line=line, qty=qty), record.id, hlc)

    def cancel(self, author: Org | SigningIdentity, pledge: Event, hlc: int | None = None) -> Event:
        return self.sign("cancel", author, CancelBody(), pledge.id, hlc)

    def deliver(
        self, author: Org | SigningIdentity, pledge: Event, qty: int, hlc: int | None = None
    ) -> Event:
        return self.sign("deliver", author, DeliverBody(qty=qty), pledge.id, hlc)

    def receipt(
        self, author: Org | SigningIdentity, pledge: Event, qty: int, hlc: int | None = None
    ) -> Event:
        return self.sign("receipt", author, ReceiptBody(qty=qty), pledge.id, hlc)

    def verify(self, author: Org | SigningIdentity, record: Event, hlc: int | None = None) -> Event:
        return self.sign("verify", author, VerifyBody(method="phone"), record.id, hlc)

    def profile(self, author: Org | SigningIdentity, name: str, hlc: int | None = None) -> Event:
        return self.sign("profile", author, ProfileBody(name=name), hlc=hlc)

    # -- identity and trust -------------------------------------------------------------------

    def incept(self, org: Org) -> Event:
        event = self.sign(
            "incept", org.keys[0], InceptBody(next=key_digest(org.keys[1].public_key))
        )
        org.last_establishment = event
        return event

    def rotate(self, org: Org, hlc: int | None = None) -> Event:
        """Rotate ``org`` to its next key (the honest way: signed by the committed next key)."""
        assert org.last_establishment is not None, "incept first"
        prior, new, after = (
            org.keys[org.position],
            org.keys[org.position + 1],
            org.keys[org.position + 2],
        )
        body = RotateBody(org=org.id, prior=prior.public_key, next=key_digest(after.public_key))
        event = self.sign("rotate", new, body, org.last_establishment.id, hlc)
        org.last_establishment = event
        org.position += 1
        return event

    def delegate(
        self,
        by: Org | SigningIdentity,
        to: SigningIdentity,
        scopes: tuple[str, ...] = ("pledge", "post"),
        expires_in_days: int = 30,
        hlc: int | None = None,
    ) -> Event:
        delegator = by.key if isinstance(by, Org) else by
        expires = self.now_ms + expires_in_days * DAY_MS
        scopes = tuple(sorted(scopes))
        proof = to.sign(
            DELEGATION_DOMAIN, delegation_message(delegator.public_key, scopes, expires)
        )
        body = DelegateBody(key=to.public_key, scopes=scopes, expires=expires, proof=proof)
        return self.sign("delegate", delegator, body, hlc=hlc)

    def endorse(
        self,
        by: Org | SigningIdentity,
        subject: Org | bytes,
        level: str = "member",
        max_depth: int = 3,
        expires_in_days: int = 365,
        hlc: int | None = None,
    ) -> Event:
        key = subject.id if isinstance(subject, Org) else subject
        body = EndorseBody(
            subject=key,
            name=subject.name if isinstance(subject, Org) else "someone",
            level=level,
            max_depth=max_depth,
            expires=self.now_ms + expires_in_days * DAY_MS,
        )
        return self.sign("endorse", by, body, hlc=hlc)

    def revoke_event(
        self,
        by: Org | SigningIdentity,
        target: Event | bytes,
        reason: str = "retired",
        hlc: int | None = None,
    ) -> Event:
        target_id = target.id if isinstance(target, Event) else target
        return self.sign("revoke", by, RevokeBody(reason=reason), target_id, hlc)

    def revoke_key(
        self,
        by: Org | SigningIdentity,
        key: bytes,
        reason: str = "compromised",
        hlc: int | None = None,
    ) -> Event:
        return self.sign("revoke", by, RevokeBody(reason=reason, key=key), hlc=hlc)
