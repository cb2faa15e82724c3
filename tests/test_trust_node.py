"""Local trust wired into a real node: admission, quarantine, promotion, overlay, explain.

Attacks from the trust issue that need the store (the flood, unentitled revocations filling
storage) are here; the pure ones live in tests/test_identity.py, tests/test_trust_graph.py and
tests/test_trust_metric.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crypto import SigningIdentity
from node.home import Home
from node.runtime import Node, init_home
from node.storage import OutcomeStatus, RecordQuery
from protocol import Event
from protocol.trust_bodies import Level
from sync.clock import ManualClock
from sync.trust_explain import Reason
from tests.builders import DAY_MS, START_MS, World


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


@pytest.fixture
async def node(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Node]:
    home = Home(tmp_path / "ward")
    init_home(home, name="Xiehe ward 3 support group", region="CN-HB-WH", passphrase=None)
    opened = await Node.open(home, None, clock=clock)
    opened.config = opened.config.with_changes(quarantine_per_author=50, quarantine_total=300)
    assert opened.trust is not None
    opened.store.quarantine_caps = type(opened.store.quarantine_caps)(50, 300)
    yield opened
    await opened.close()


def wires(*events: Event) -> list[bytes]:
    return [e.wire for e in events]


async def endorse(node: Node, org: bytes, level: str = "member", max_depth: int = 3) -> None:
    await node.endorse(
        org, "someone", level, max_depth=max_depth, expires_ms=START_MS + 365 * DAY_MS
    )
    assert node.trust is not None
    await node.trust.refresh()


async def test_events_by_unknown_orgs_wait_in_quarantine_then_are_promoted(node: Node) -> None:
    world = World()
    convoy = world.org("convoy")
    need = world.need(convoy)
    outcomes = await node.store.ingest(wires(world.incept(convoy), need))
    assert {o.status for o in outcomes} == {OutcomeStatus.QUARANTINED}
    assert await node.store.quarantine_size() == 2
    assert await node.store.list_records(RecordQuery()) == []
    # A second copy is still quarantined, not stored twice.
    again = await node.store.ingest(wires(need))
    assert again[0].status is OutcomeStatus.QUARANTINED
    assert await node.store.quarantine_size() == 2
    relayed: list[Event] = []
    node.store.add_listener(lambda events, origin: relayed.extend(events))
    await endorse(node, convoy.id)
    assert await node.store.quarantine_size() == 0
    assert [r.id for r in await node.store.list_records(RecordQuery())] == [need.id]
    assert need.id in {e.id for e in relayed}  # promoted events are relayed like new ones


async def test_a_delegate_of_an_accepted_org_is_admitted(node: Node) -> None:
    world = World()
    convoy = world.org("convoy")
    operator = world.delegate_key()
    await endorse(node, convoy.id)
    grant = world.delegate(convoy, operator, scopes=("pledge",))
    own_need = (await node.publish("need", world.need(node.signer).body)).event
    pledge = world.pledge(operator, own_need, qty=10)
    outcomes = await node.store.ingest(wires(grant, pledge))
    assert [o.status for o in outcomes] == [OutcomeStatus.ACCEPTED, OutcomeStatus.ACCEPTED]


@pytest.mark.slow
async def test_endorsement_flood_from_unknown_issuers_stays_bounded(node: Node) -> None:
    """Attack 2: 100,000 endorsements of a victim from unknown issuers."""
    world = World()
    victim = world.org("victim")
    await endorse(node, victim.id)
    assert node.trust is not None
    before = await node.trust.explain(victim.id)
    relayed: list[Event] = []
    node.store.add_listener(lambda events, origin: relayed.extend(events))
    flood_size, batch = 100_000, 2_000
    for start in range(0, flood_size, batch):
        flood = [
            world.endorse(SigningIdentity(i.to_bytes(32, "big")), victim, "verifier")
            for i in range(start + 1, start + batch + 1)
        ]
        outcomes = await node.store.ingest(wires(*flood))
        assert {o.status for o in outcomes} == {OutcomeStatus.QUARANTINED}
    assert await node.store.quarantine_size() == 300  # the total cap
    assert relayed == []  # nothing of the flood is relayed
    counts = await node.store.counts()
    assert counts.events_by_kind.get("endorse", 0) == 1  # only our own endorsement is stored
    await node.trust.refresh()
    after = await node.trust.explain(victim.id)
    assert after.standing == before.standing == Level.MEMBER
    assert node.store.index is None or len(node.store.index) == counts.tombstones + sum(
        counts.events_by_kind.values()
    )


async def test_per_author_cap_evicts_that_authors_oldest_first(
    node: Node, clock: ManualClock
) -> None:
    world = World()
    stranger = world.org("stranger")
    needs = []
    for _ in range(60):
        clock.advance(1)
        need = world.need(stranger)
        needs.append(need)
        await node.store.ingest(wires(need))
    assert await node.store.quarantine_size() == 50
    held = await node.store.quarantined([n.id for n in needs])
    assert held == {n.id for n in needs[10:]}


async def test_unentitled_revocations_from_strangers_do_not_fill_storage(node: Node) -> None:
    """Attack 3 (second half): revocations by someone not entitled to them."""
    world = World()
    convoy, stranger = world.org("convoy"), world.org("stranger")
    await endorse(node, convoy.id)
    revocations = [world.revoke_key(stranger, convoy.id, "compromised") for _ in range(400)]
    outcomes = await node.store.ingest(wires(*revocations))
    assert {o.status for o in outcomes} == {OutcomeStatus.QUARANTINED}
    assert await node.store.quarantine_size() <= 50
    assert node.trust is not None
    assert convoy.id in node.trust.accepted(Level.MEMBER)


async def test_verified_overlay_counts_only_accepted_verifiers(node: Node) -> None:
    world = World()
    verifier, stranger = world.org("verifier"), world.org("stranger")
    own = (await node.publish("need", world.need(node.signer).body)).event
    await endorse(node, verifier.id, level="verifier")
    await endorse(node, stranger.id, level="member")
    await node.store.ingest(wires(world.verify(verifier, own), world.verify(stranger, own)))
    listed = await node.store.list_records(RecordQuery(verified=True))
    assert [r.id for r in listed] == [own.id]
    assert listed[0].verified_by == (verifier.id,)
    found = await node.store.record(own.id)
    assert found is not None and node.trust is not None
    [counted] = node.trust.verified_by(found[0])
    assert counted.attestation.org == verifier.id
    assert counted.path == (node.org, verifier.id)


async def test_block_removes_a_key_locally(node: Node) -> None:
    world = World()
    convoy = world.org("convoy")
    await endorse(node, convoy.id)
    assert node.trust is not None
    await node.trust.block(convoy.id, node.home)
    assert convoy.id not in node.trust.accepted(Level.MEMBER)
    assert "blocked" in " ".join((await node.trust.explain(convoy.id)).describe())
    assert node.home.load_config().blocked  # persisted, never gossiped
    await node.trust.unblock(convoy.id, node.home)
    assert convoy.id in node.trust.accepted(Level.MEMBER)


async def test_explain_says_why(node: Node, clock: ManualClock) -> None:
    world = World()
    convoy, stranger = world.org("convoy"), world.org("stranger")
    await endorse(node, convoy.id)
    assert node.trust is not None
    accepted = await node.trust.explain(convoy.id)
    assert accepted.standing is Level.MEMBER
    assert accepted.metric.member.reason is Reason.FLOW
    assert accepted.metric.member.paths[0].seed == node.org
    assert accepted.as_dict()["member"]["accepted"] is True
    unknown = await node.trust.explain(stranger.id)
    assert unknown.standing is None
    assert unknown.metric.member.reason is Reason.UNREACHABLE
    assert any("NOT accepted" in line for line in unknown.describe())


async def test_expired_endorsements_stop_counting_after_the_skew_allowance(
    node: Node, clock: ManualClock
) -> None:
    """Attack 7 (endorsement half): an expired endorsement is ignored, with ±5 min skew."""
    world = World()
    convoy = world.org("convoy")
    await node.endorse(convoy.id, "convoy", "member", max_depth=1, expires_ms=START_MS + DAY_MS)
    assert node.trust is not None
    await node.trust.refresh()
    assert convoy.id in node.trust.accepted(Level.MEMBER)
    clock.set(START_MS + DAY_MS + 4 * 60_000)  # within the 5-minute skew allowance
    await node.trust.refresh()
    assert convoy.id in node.trust.accepted(Level.MEMBER)
    clock.set(START_MS + DAY_MS + 6 * 60_000)
    await node.trust.refresh()
    assert convoy.id not in node.trust.accepted(Level.MEMBER)


async def test_an_accepted_orgs_rotation_is_admitted_and_its_new_key_acts_for_it(
    node: Node,
) -> None:
    """Pre-rotation across nodes: the rotate is signed by the org's committed next key, which
    acts for no org yet; it is admitted because it is the next key of an accepted org."""
    world = World()
    convoy = world.org("convoy")
    incept = world.incept(convoy)
    await endorse(node, convoy.id)
    assert (await node.store.ingest(wires(incept)))[0].status is OutcomeStatus.ACCEPTED
    rotate = world.rotate(convoy)
    after = world.need(convoy)  # signed by the new key
    outcomes = await node.store.ingest(wires(rotate, after))
    assert [o.status for o in outcomes] == [OutcomeStatus.ACCEPTED, OutcomeStatus.ACCEPTED]
    [record] = [r for r in await node.store.list_records(RecordQuery()) if r.id == after.id]
    assert record.org == convoy.id


async def test_a_stranger_cannot_pass_as_a_next_key(node: Node) -> None:
    world = World()
    convoy, thief = world.org("convoy"), world.org("thief")
    incept = world.incept(convoy)
    await endorse(node, convoy.id)
    await node.store.ingest(wires(incept))
    from crypto.signing import key_digest
    from protocol import RotateBody

    hijack = world.sign(
        "rotate",
        thief,
        RotateBody(org=convoy.id, prior=convoy.id, next=key_digest(thief.id)),
        incept.id,
    )
    assert (await node.store.ingest(wires(hijack)))[0].status is OutcomeStatus.QUARANTINED
