"""Two in-memory replicas reconcile: both learn exactly the symmetric difference, every
message fits the frame, round trips stay within the stated bound, hostile bytes are refused."""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from sync.fingerprint_index import FingerprintIndex, id_sum_of
from sync.reconcile import (
    DEFAULT_LIMITS,
    DEFAULT_TUNING,
    INITIATOR,
    RESPONDER,
    Initiator,
    Limits,
    RangeStore,
    SessionOrderError,
    SessionState,
    Tuning,
    respond,
    round_trip_bound,
)
from sync.reconcile_wire import (
    INFINITY,
    MIN_FRAME_BYTES,
    Bound,
    Defer,
    Fingerprint,
    Ids,
    Reply,
    Skip,
    encode_reply,
)

Key = tuple[int, bytes]
SALT = b"s" * 16


class SortedListStore:
    """A brute-force RangeStore: the reference the index is measured against."""

    def __init__(self, keys: Sequence[Key]) -> None:
        self._keys = sorted(set(keys))

    def __len__(self) -> int:
        return len(self._keys)

    def rank(self, bound: Key) -> int:
        return bisect.bisect_left(self._keys, bound)

    def key_at(self, rank: int) -> Key:
        return self._keys[rank]

    def prefix_id_sum(self, rank: int) -> int:
        return id_sum_of(item_id for _, item_id in self._keys[:rank])

    def keys(self, start: int, stop: int) -> Sequence[Key]:
        return self._keys[start:stop]


@dataclass
class Outcome:
    initiator: Initiator
    largest_query: int
    largest_reply: int


def reconcile(
    mine: RangeStore,
    theirs: RangeStore,
    *,
    limits: Limits = DEFAULT_LIMITS,
    tuning: Tuning = DEFAULT_TUNING,
) -> Outcome:
    """Run one session over an in-memory link, checking the frame limit on every message."""
    initiator = Initiator(mine, limits=limits, tuning=tuning, salt=SALT)
    query: bytes | None = initiator.initial_message()
    largest_query = largest_reply = 0
    while query is not None:
        assert len(query) <= limits.max_frame_bytes
        reply = respond(theirs, query, limits=limits, tuning=tuning)
        assert len(reply) <= limits.max_frame_bytes
        largest_query = max(largest_query, len(query))
        largest_reply = max(largest_reply, len(reply))
        query = initiator.receive(reply)
    assert initiator.state is SessionState.DONE
    return Outcome(initiator, largest_query, largest_reply)


def assert_learns_difference(outcome: Outcome, mine: set[Key], theirs: set[Key]) -> None:
    assert outcome.initiator.have_ids == {item_id for _, item_id in mine - theirs}
    assert outcome.initiator.need_ids == {item_id for _, item_id in theirs - mine}
    assert outcome.initiator.in_sync == (mine == theirs)


# Few hlcs (ties, and bounds that need id prefixes) and ids sharing long prefixes, as an
# author grinding ids would make them, mixed with ordinary random ones.
hlcs = st.integers(0, 5) | st.integers(0, 2**64 - 1)
ids = st.binary(min_size=32, max_size=32) | st.builds(
    lambda tail: b"\xab" * 24 + tail, st.binary(min_size=8, max_size=8)
)
key_sets = st.sets(st.tuples(hlcs, ids), max_size=120)
tunings = st.builds(
    lambda split, branching, leaf, extra, ids_max, hashed: Tuning(
        initial_split=split,
        branching=branching,
        leaf_size=leaf,
        id_list_max=min(leaf + extra, branching * leaf),
        ids_max=ids_max,
        max_hashed=hashed,
    ),
    st.integers(1, 20),
    st.integers(2, 9),
    st.integers(1, 6),
    st.integers(0, 10),
    st.integers(0, 4),
    st.integers(64, 100),
)
limits = st.builds(
    Limits,
    max_frame_bytes=st.integers(MIN_FRAME_BYTES, 2048) | st.just(64 * 1024),
    max_reply_work=st.integers(1, 500) | st.just(400_000),
)


@given(common=key_sets, only_mine=key_sets, only_theirs=key_sets, tuning=tunings, limit=limits)
@settings(max_examples=150)
def test_both_sides_learn_exactly_the_symmetric_difference(
    common: set[Key], only_mine: set[Key], only_theirs: set[Key], tuning: Tuning, limit: Limits
) -> None:
    # An id is a hash of the event, hlc included: one id never comes with two hlcs.
    by_id = {item_id: key for key in (*only_theirs, *only_mine, *common) for item_id in [key[1]]}
    common, only_mine, only_theirs = (
        {key for key in group if by_id[key[1]] == key} for group in (common, only_mine, only_theirs)
    )
    mine = common | only_mine
    theirs = common | (only_theirs - only_mine)
    outcome = reconcile(
        FingerprintIndex.from_sorted(sorted(mine)),
        SortedListStore(sorted(theirs)),
        limits=limit,
        tuning=tuning,
    )
    assert_learns_difference(outcome, mine, theirs)


@pytest.mark.parametrize(
    ("mine_size", "theirs_size", "shared"),
    [(0, 0, 0), (0, 3000, 0), (3000, 0, 0), (2000, 2000, 0), (2000, 2000, 2000), (1, 1, 0)],
)
def test_empty_one_sided_disjoint_and_equal_sets(
    mine_size: int, theirs_size: int, shared: int
) -> None:
    rng = random.Random(mine_size * 7 + theirs_size)
    common = {(rng.getrandbits(50), rng.randbytes(32)) for _ in range(shared)}
    mine = common | {(rng.getrandbits(50), rng.randbytes(32)) for _ in range(mine_size - shared)}
    theirs = common | {
        (rng.getrandbits(50), rng.randbytes(32)) for _ in range(theirs_size - shared)
    }
    small = Limits(max_frame_bytes=4096)
    outcome = reconcile(
        FingerprintIndex.from_sorted(sorted(mine)),
        FingerprintIndex.from_sorted(sorted(theirs)),
        limits=small,
    )
    assert_learns_difference(outcome, mine, theirs)


def _replicas(size: int, differences: int, seed: int) -> tuple[set[Key], set[Key]]:
    rng = random.Random(seed)
    start = 1_700_000_000_000
    common = {
        ((start + rng.randrange(10**10)) << 16 | rng.randrange(3), rng.randbytes(32))
        for _ in range(size - differences // 2)
    }
    extra = [((start + rng.randrange(10**10)) << 16, rng.randbytes(32)) for _ in range(differences)]
    return common | set(extra[: differences - differences // 2]), common | set(
        extra[differences - differences // 2 :]
    )


@given(
    size=st.integers(1, 6000),
    differences=st.integers(0, 4),
    seed=st.integers(0, 2**32),
    tuning=st.sampled_from(
        [Tuning(), Tuning(branching=8, initial_split=32), Tuning(branching=2, initial_split=4)]
    ),
)
@settings(max_examples=40)
def test_round_trips_stay_within_the_stated_logarithmic_bound(
    size: int, differences: int, seed: int, tuning: Tuning
) -> None:
    mine, theirs = _replicas(size, differences, seed)
    outcome = reconcile(
        FingerprintIndex.from_sorted(sorted(mine)),
        FingerprintIndex.from_sorted(sorted(theirs)),
        tuning=tuning,
    )
    assert_learns_difference(outcome, mine, theirs)
    bound = round_trip_bound(len(mine), differences, tuning)
    assert outcome.initiator.rounds <= bound


@pytest.mark.slow
def test_hundred_thousand_events_hundred_differences_meets_the_issue_targets() -> None:
    mine, theirs = _replicas(100_000, 100, seed=5)
    outcome = reconcile(
        FingerprintIndex.from_sorted(sorted(mine)), FingerprintIndex.from_sorted(sorted(theirs))
    )
    assert_learns_difference(outcome, mine, theirs)
    session = outcome.initiator
    assert session.rounds <= 4
    assert session.bytes_sent + session.bytes_received <= 40_000


def test_a_frame_limit_defers_and_still_converges() -> None:
    mine, theirs = _replicas(3000, 600, seed=11)
    outcome = reconcile(
        FingerprintIndex.from_sorted(sorted(mine)),
        FingerprintIndex.from_sorted(sorted(theirs)),
        limits=Limits(max_frame_bytes=MIN_FRAME_BYTES),
    )
    assert_learns_difference(outcome, mine, theirs)
    assert outcome.largest_reply <= MIN_FRAME_BYTES
    assert outcome.initiator.rounds > 10  # the limit really bit


def test_responder_is_stateless_and_deterministic() -> None:
    mine, theirs = _replicas(500, 10, seed=3)
    store = FingerprintIndex.from_sorted(sorted(theirs))
    first = Initiator(FingerprintIndex.from_sorted(sorted(mine)), salt=SALT).initial_message()
    assert respond(store, first) == respond(store, first)
    # A second session's query is answered without any memory of the first.
    other = Initiator(SortedListStore(sorted(mine)), salt=SALT).initial_message()
    assert respond(store, other) == respond(store, first)


def test_fresh_salt_per_session() -> None:
    store = FingerprintIndex()
    assert Initiator(store).initial_message() != Initiator(store).initial_message()


@given(st.binary(max_size=400))
@settings(max_examples=300)
def test_responder_refuses_garbage_with_protocol_error_only(data: bytes) -> None:
    store = FingerprintIndex.from_sorted([(n, bytes([n]) * 32) for n in range(1, 40)])
    try:
        reply = respond(store, data)
    except ProtocolError as error:
        assert isinstance(error.code, ReasonCode)
    else:
        assert reply[:1] == b"\x12"


@given(st.binary(max_size=400))
@settings(max_examples=300)
def test_initiator_refuses_garbage_with_protocol_error_only(data: bytes) -> None:
    store = FingerprintIndex.from_sorted([(n, bytes([n]) * 32) for n in range(1, 40)])
    session = Initiator(store, salt=SALT)
    session.initial_message()
    try:
        session.receive(data)
    except ProtocolError:
        assert session.state is SessionState.FAILED
    else:
        assert session.state in (SessionState.AWAITING_REPLY, SessionState.DONE)


def test_initiator_rejects_ids_that_do_not_answer_its_list() -> None:
    store = FingerprintIndex.from_sorted([(n, bytes([n]) * 32) for n in range(1, 5)])
    session = Initiator(store, salt=SALT)
    session.initial_message()  # four keys: one ID_LIST over everything
    wrong = encode_reply(Reply(entries=(Ids(upper=INFINITY, ids=(), lacks=(True,)),)))
    with pytest.raises(ProtocolError) as raised:
        session.receive(wrong)
    assert raised.value.code is ReasonCode.MALFORMED
    assert session.state is SessionState.FAILED


def test_a_peer_that_defers_its_first_range_is_refused() -> None:
    store = FingerprintIndex.from_sorted([(n, bytes([n]) * 32) for n in range(1, 100)])
    session = Initiator(store, salt=SALT)
    session.initial_message()
    with pytest.raises(ProtocolError) as raised:
        session.receive(encode_reply(Reply(entries=(Defer(),))))
    assert raised.value.code is ReasonCode.MALFORMED


def test_a_session_longer_than_max_rounds_is_given_up_on() -> None:
    mine, theirs = _replicas(3000, 600, seed=11)
    limits = Limits(max_rounds=3, max_frame_bytes=MIN_FRAME_BYTES)
    session = Initiator(FingerprintIndex.from_sorted(sorted(mine)), limits=limits)
    query = session.initial_message()
    store = FingerprintIndex.from_sorted(sorted(theirs))
    with pytest.raises(ProtocolError) as raised:
        while query is not None:
            query = session.receive(respond(store, query, limits=limits))
    assert raised.value.code is ReasonCode.TOO_LARGE
    assert session.rounds == 4


def test_a_peer_that_makes_the_initiator_rescan_its_set_is_cut_off() -> None:
    keys = [(n, n.to_bytes(32, "big")) for n in range(1, 3000)]
    session = Initiator(FingerprintIndex.from_sorted(keys), salt=SALT)
    session.initial_message()
    # "I hold nothing below 2999, and the rest differs", again and again.
    hostile = Reply(
        entries=(
            Ids(upper=Bound(hlc=2999), ids=()),
            Fingerprint(upper=INFINITY, fingerprint=b"x" * 8),
        )
    )
    with pytest.raises(ProtocolError) as raised:
        for _ in range(5):
            session.receive(encode_reply(hostile))
    assert raised.value.code is ReasonCode.TOO_LARGE
    assert session.state is SessionState.FAILED


def test_session_calls_out_of_order_are_refused() -> None:
    session = Initiator(FingerprintIndex(), salt=SALT)
    with pytest.raises(SessionOrderError):
        session.receive(b"\x12\xf8")
    session.initial_message()
    with pytest.raises(SessionOrderError):
        session.initial_message()
    assert session.receive(encode_reply(Reply(entries=(Skip(upper=INFINITY),)))) is None
    assert session.in_sync
    with pytest.raises(SessionOrderError):
        session.receive(b"\x12\xf8")


def test_unlisted_ids_reply_settles_a_fingerprinted_range() -> None:
    # A responder holding one key answers a differing fingerprint with that key's id.
    keys = [(n, bytes([n]) * 32) for n in range(1, 60)]
    session = Initiator(FingerprintIndex.from_sorted(keys), salt=SALT)
    session.initial_message()
    reply = Reply(
        entries=(
            Fingerprint(upper=Bound(hlc=30), fingerprint=b"x" * 8),
            Ids(upper=INFINITY, ids=(bytes([40]) * 32, b"\xee" * 32)),
        )
    )
    session.receive(encode_reply(reply))
    assert b"\xee" * 32 in session.need_ids
    assert bytes([41]) * 32 in session.have_ids
    assert bytes([40]) * 32 not in session.have_ids


def _colliding_ids() -> tuple[bytes, bytes]:
    """Two ids whose 4-byte short hashes under SALT collide (a birthday search, ~0.2 s)."""
    seen: dict[bytes, bytes] = {}
    counter = 0
    while True:
        item_id = hashlib.blake2b(counter.to_bytes(8, "little"), digest_size=32).digest()
        short = hashlib.blake2b(
            item_id, digest_size=8, key=SALT, person=b"aidnode/rid/v1"
        ).digest()[:4]
        if short in seen:
            return seen[short], item_id
        seen[short] = item_id
        counter += 1


def test_a_short_hash_collision_is_caught_and_asked_again_with_long_hashes() -> None:
    mine_only, theirs_only = _colliding_ids()
    common = [(hlc * 10, bytes([hlc]) * 32) for hlc in range(1, 40)]
    mine = {*common, (205, mine_only)}
    theirs = {*common, (205, theirs_only)}
    outcome = reconcile(
        SortedListStore(sorted(mine)),
        SortedListStore(sorted(theirs)),
        tuning=Tuning(ids_max=0),  # so the range is listed, not answered with full ids
    )
    # Without the fingerprint check both would stay hidden behind one 4-byte hash.
    assert_learns_difference(outcome, mine, theirs)


def test_transition_tables_cover_every_mode_a_peer_may_send() -> None:
    assert {mode for mode, _ in RESPONDER} == {0, 1, 2, 5}
    assert {mode for mode, _ in INITIATOR} == {0, 1, 3, 4}


def test_initiator_refuses_a_bad_salt() -> None:
    with pytest.raises(ValueError, match="salt"):
        Initiator(FingerprintIndex(), salt=b"short")
