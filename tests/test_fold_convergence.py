"""Convergence of the fold across replicas (DESIGN §3 "Derived state").

A hypothesis state machine drives five replicas: events of every kind (valid, unauthorised and
corrupted) are created at random replicas, gossiped in random order with duplicates, across
partitions that come and go. After every step each replica's incremental state equals a fold
from scratch of its own events; at the end, after healing, every replica holds the same events
and the same derived state, equal to the fold of the union.
"""

from __future__ import annotations

import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from crypto.signing import SigningIdentity
from protocol import Event, ProtocolError, decode_event
from sync.fold import Ledger, fold
from tests.builders import DAY_MS, START_MS, Org, World

REPLICAS = 5


class Replica:
    def __init__(self) -> None:
        self.ledger = Ledger()
        self.rejected = 0

    def receive(self, wire: bytes) -> None:
        try:
            event = decode_event(wire, now_ms=START_MS + 365 * DAY_MS)
        except ProtocolError:
            self.rejected += 1
            return
        self.ledger.apply(event)


class FoldConvergence(RuleBasedStateMachine):
    records = Bundle("records")
    pledges = Bundle("pledges")
    endorsements = Bundle("endorsements")

    @initialize()
    def setup(self) -> None:
        self.world = World()
        self.orgs: list[Org] = [self.world.org(n) for n in ("ward", "convoy", "masks", "verifier")]
        self.operators: list[SigningIdentity] = [self.world.delegate_key() for _ in range(3)]
        self.replicas = [Replica() for _ in range(REPLICAS)]
        self.wires: list[bytes] = []
        self.partition: set[int] | None = None
        self.rng = random.Random(0)

    # -- making events -------------------------------------------------------------------------

    def author(self, index: int) -> Org | SigningIdentity:
        actors: list[Org | SigningIdentity] = [*self.orgs, *self.operators]
        return actors[index % len(actors)]

    def publish(self, event: Event, at: int) -> Event:
        wire = event.wire
        self.wires.append(wire)
        self.replicas[at % REPLICAS].receive(wire)
        return event

    @rule(
        target=records,
        who=st.integers(0, 6),
        at=st.integers(0, 4),
        kind=st.sampled_from(["need", "offer"]),
        qty=st.one_of(st.none(), st.integers(1, 50)),
    )
    def post(self, who: int, at: int, kind: str, qty: int | None) -> Event:
        lines = [("N95 respirator", "medical.ppe", qty), ("goggles", "medical.ppe", 10)]
        return self.publish(self.world.record(kind, self.author(who), lines), at)

    @rule(
        target=pledges,
        record=records,
        who=st.integers(0, 6),
        at=st.integers(0, 4),
        line=st.integers(0, 2),
        qty=st.integers(1, 40),
    )
    def pledge(self, record: Event, who: int, at: int, line: int, qty: int) -> Event:
        return self.publish(self.world.pledge(self.author(who), record, line, qty), at)

    @rule(
        pledge=pledges,
        who=st.integers(0, 6),
        at=st.integers(0, 4),
        kind=st.sampled_from(["cancel", "deliver", "receipt"]),
        qty=st.integers(1, 40),
    )
    def follow_up(self, pledge: Event, who: int, at: int, kind: str, qty: int) -> None:
        author = self.author(who)
        if kind == "cancel":
            event = self.world.cancel(author, pledge)
        elif kind == "deliver":
            event = self.world.deliver(author, pledge, qty)
        else:
            event = self.world.receipt(author, pledge, qty)
        self.publish(event, at)

    @rule(
        record=records,
        who=st.integers(0, 6),
        at=st.integers(0, 4),
        what=st.sampled_from(["title", "qty", "withdraw", "verify", "badlines"]),
        backdate=st.booleans(),
    )
    def change(self, record: Event, who: int, at: int, what: str, backdate: bool) -> None:
        author = self.author(who)
        # Backdated events test that late-arriving *older* events cannot undo newer ones.
        hlc = record.hlc + 1 if backdate else None
        if what == "title":
            event = self.world.update(author, record, title=f"title {who}", hlc=hlc)
        elif what == "qty":
            event = self.world.update(author, record, qtys=[30, None], hlc=hlc)
        elif what == "badlines":
            event = self.world.update(author, record, qtys=[1, 2, 3], hlc=hlc)
        elif what == "withdraw":
            event = self.world.withdraw(author, record, hlc=hlc)
        else:
            event = self.world.verify(author, record, hlc=hlc)
        self.publish(event, at)

    @rule(
        target=endorsements,
        by=st.integers(0, 3),
        subject=st.integers(0, 3),
        at=st.integers(0, 4),
        level=st.sampled_from(["member", "verifier"]),
    )
    def endorse(self, by: int, subject: int, at: int, level: str) -> Event:
        return self.publish(self.world.endorse(self.orgs[by], self.orgs[subject], level), at)

    @rule(
        org=st.integers(0, 3),
        operator=st.integers(0, 2),
        at=st.integers(0, 4),
        scopes=st.sampled_from([("post",), ("pledge",), ("pledge", "post")]),
    )
    def delegate(self, org: int, operator: int, at: int, scopes: tuple[str, ...]) -> None:
        self.publish(self.world.delegate(self.orgs[org], self.operators[operator], scopes), at)

    @rule(
        who=st.integers(0, 6),
        operator=st.integers(0, 2),
        at=st.integers(0, 4),
        reason=st.sampled_from(["retired", "compromised"]),
    )
    def revoke_key(self, who: int, operator: int, at: int, reason: str) -> None:
        key = self.operators[operator].public_key
        self.publish(self.world.revoke_key(self.author(who), key, reason), at)

    @rule(endorsement=consumes(endorsements), who=st.integers(0, 6), at=st.integers(0, 4))
    def revoke_endorsement(self, endorsement: Event, who: int, at: int) -> None:
        self.publish(self.world.revoke_event(self.author(who), endorsement), at)

    @rule(at=st.integers(0, 4), position=st.integers(0, 200), bit=st.integers(0, 7))
    def corrupted(self, at: int, position: int, bit: int) -> None:
        """A wire event with one flipped bit, or truncated: rejected, never stored."""
        if not self.wires:
            return
        wire = bytearray(self.wires[position % len(self.wires)])
        wire[position % len(wire)] ^= 1 << bit
        replica = self.replicas[at]
        before = len(replica.ledger.events)
        replica.receive(bytes(wire))
        replica.receive(bytes(wire[: len(wire) // 2]))
        assert len(replica.ledger.events) <= before + 1  # at most a (rare) still-valid flip
        # A flip that keeps the event valid would need a second valid signature: impossible.
        assert len(replica.ledger.events) == before

    # -- moving events --------------------------------------------------------------------------

    @rule(source=st.integers(0, 4), sink=st.integers(0, 4), seed=st.integers(0, 2**16))
    def gossip(self, source: int, sink: int, seed: int) -> None:
        if self.partition is not None and (source in self.partition) != (sink in self.partition):
            return
        rng = random.Random(seed)
        events = list(self.replicas[source].ledger.events.values())
        batch = rng.sample(events, k=rng.randint(0, len(events)))
        batch += rng.sample(batch, k=min(2, len(batch)))  # duplicates
        rng.shuffle(batch)
        for event in batch:
            self.replicas[sink].receive(event.wire)

    @rule(side=st.sets(st.integers(0, 4), min_size=1, max_size=4))
    def split(self, side: set[int]) -> None:
        self.partition = side

    @rule()
    def heal(self) -> None:
        self.partition = None

    # -- what must hold -------------------------------------------------------------------------

    @invariant()
    def incremental_equals_scratch(self) -> None:
        for replica in self.replicas:
            assert replica.ledger.state() == fold(replica.ledger.events.values())

    def teardown(self) -> None:
        if not hasattr(self, "replicas"):
            return
        union = {}
        for replica in self.replicas:
            union.update(replica.ledger.events)
        for replica in self.replicas:  # heal everything: every replica gets every event
            order = list(union.values())
            self.rng.shuffle(order)
            for event in order:
                replica.ledger.apply(event)
        expected = fold(union.values())
        for replica in self.replicas:
            assert set(replica.ledger.events) == set(union)
            assert replica.ledger.state() == expected


# Examples come from the active profile (tests/conftest.py); runs need enough steps to build
# records, pledges on them and follow-ups before partitions heal.
FoldConvergence.TestCase.settings = settings(
    settings.default, stateful_step_count=100, deadline=None
)
test_fold_converges_across_five_replicas = FoldConvergence.TestCase
