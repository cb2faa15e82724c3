"""Range-based set reconciliation (Meyer 2023; the idea of negentropy / NIP-77), sans-IO.

Two replicas hold sets of event keys ``(hlc, id)``. The *initiator* drives a session; the
*responder* answers each message from its set alone and keeps nothing between messages, so a
server holds no per-client state. When the session ends the initiator knows ``need_ids`` (the
responder has them, it does not: fetch) and ``have_ids`` (it has them, the responder does not:
push). Bytes go in and out; nothing here touches a socket or a clock (docs/reconciliation.md).

Rules of the state machine -- the whole of it is the three tables below:

* ``SESSION`` is the initiator's lifecycle. ``initial_message`` is legal once, in READY;
  ``receive`` only while AWAITING_REPLY. A reply that fails to parse, contradicts the query or
  exceeds ``max_rounds`` moves the session to FAILED and raises :class:`ProtocolError`; any
  call out of order raises :class:`SessionOrderError` and changes nothing.
* ``RESPONDER`` says how a responder answers each range of a query, from the range's mode and
  what its own set holds there. Its answers tile the key space in order; when the frame or
  the work budget runs out it stops and DEFERs the rest, so every reply fits ``reply_limit``.
* ``INITIATOR`` says what the initiator does with each range of a reply. Ranges left to do are
  queued in key order and sent as the frame allows: the initiator keeps what it learned, the
  responder never needs to.

Fingerprints and id hashes are keyed with a per-session random salt chosen by the initiator and
sent in every query, so nobody can grind events whose fingerprints or 8-byte id hashes collide
with a session's in advance -- negentropy's are unkeyed (docs/reconciliation.md §4). Where the
initiator holds the responder's fingerprint of a range it lists, it sends 4-byte hashes and
checks the answer against that fingerprint, asking again with 8 bytes if a collision hid a key.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto

from crypto.errors import AidError
from protocol.codes import ReasonCode
from protocol.errors import ProtocolError
from sync.fingerprint_index import ID_SUM_MODULUS, id_sum_of
from sync.range_store import (
    LOWEST_BOUND,
    RangeStore,
    RankCache,
    child_ranks,
    id_hash,
    range_fingerprint,
    set_fingerprint,
)
from sync.reconcile_tuning import (
    DEFAULT_LIMITS,
    DEFAULT_TUNING,
    Limits,
    Tuning,
    initial_split,
    round_trip_bound,
)
from sync.reconcile_wire import (
    ID_BYTES,
    INFINITY,
    REPLY_HEADER,
    SALT_BYTES,
    SHORT_HASH_BYTES,
    Bound,
    Defer,
    Entry,
    Fingerprint,
    IdList,
    Ids,
    MessageWriter,
    Mode,
    ShortIdList,
    Skip,
    parse_query,
    parse_reply,
    query_header,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TUNING",
    "INITIATOR",
    "RESPONDER",
    "SESSION",
    "Initiator",
    "Limits",
    "RangeStore",
    "SessionOrderError",
    "SessionState",
    "Tuning",
    "initial_split",
    "respond",
    "round_trip_bound",
    "set_fingerprint",
]


class SessionOrderError(AidError):
    """The caller drove a session out of order (a bug in the caller, not the peer)."""


class SessionState(Enum):
    READY = auto()  # nothing sent yet
    AWAITING_REPLY = auto()  # a query is out
    DONE = auto()  # have_ids / need_ids are final
    FAILED = auto()  # the peer broke the protocol; results are partial


class _SessionEvent(Enum):
    SEND_FIRST = auto()
    REPLY_MORE = auto()  # reply processed, more ranges to ask about
    REPLY_FINISHED = auto()  # reply processed, nothing left
    REPLY_REJECTED = auto()


SESSION: dict[tuple[SessionState, _SessionEvent], SessionState] = {
    (SessionState.READY, _SessionEvent.SEND_FIRST): SessionState.AWAITING_REPLY,
    (SessionState.AWAITING_REPLY, _SessionEvent.REPLY_MORE): SessionState.AWAITING_REPLY,
    (SessionState.AWAITING_REPLY, _SessionEvent.REPLY_FINISHED): SessionState.DONE,
    (SessionState.AWAITING_REPLY, _SessionEvent.REPLY_REJECTED): SessionState.FAILED,
}


class Holding(Enum):
    """What a side finds in its own set for a range it was sent."""

    ANY = auto()  # not looked at (SKIP, DEFER)
    SAME = auto()  # fingerprints equal
    FEW = auto()  # fingerprints differ; few enough keys to send/list them outright
    MANY = auto()  # fingerprints differ; too many keys: split
    LISTED = auto()  # an id list (or ids) to compare with keys at hand
    LISTED_MANY = auto()  # an id list over more keys than the responder will hash


class Action(Enum):
    SKIP = auto()  # responder: nothing to say / initiator: range settled
    SPLIT = auto()  # fingerprints of children of (about) equal count
    SEND_IDS = auto()  # responder: IDS (its ids not listed + bitfield of listed it lacks)
    QUEUE_LIST = auto()  # initiator: ask with an ID_LIST next
    QUEUE_SPLIT = auto()  # initiator: split next
    RECORD_IDS = auto()  # initiator: add to have_ids / need_ids
    REQUEUE = auto()  # initiator: ask again for what it had asked about here


RESPONDER: dict[tuple[Mode, Holding], Action] = {
    (Mode.SKIP, Holding.ANY): Action.SKIP,
    (Mode.FINGERPRINT, Holding.SAME): Action.SKIP,
    (Mode.FINGERPRINT, Holding.FEW): Action.SEND_IDS,  # n <= ids_max: cheaper than a round
    (Mode.FINGERPRINT, Holding.MANY): Action.SPLIT,
    (Mode.ID_LIST, Holding.LISTED): Action.SEND_IDS,
    (Mode.ID_LIST, Holding.LISTED_MANY): Action.SPLIT,  # bounds hashing work per id list
    (Mode.SHORT_ID_LIST, Holding.LISTED): Action.SEND_IDS,  # whole, or split if it never fits
    (Mode.SHORT_ID_LIST, Holding.LISTED_MANY): Action.SPLIT,
}

INITIATOR: dict[tuple[Mode, Holding], Action] = {
    (Mode.SKIP, Holding.ANY): Action.SKIP,
    (Mode.FINGERPRINT, Holding.SAME): Action.SKIP,
    (Mode.FINGERPRINT, Holding.FEW): Action.QUEUE_LIST,  # n <= id_list_max
    (Mode.FINGERPRINT, Holding.MANY): Action.QUEUE_SPLIT,
    (Mode.IDS, Holding.LISTED): Action.RECORD_IDS,  # and verify a short list's answer
    (Mode.DEFER, Holding.ANY): Action.REQUEUE,
}

_FINGERPRINT_WORK = 40  # a fingerprint costs about as much as hashing 40 ids
_REPLY_RESERVE = 48  # room kept for a closing SKIP (longest bound) and DEFER
_QUERY_RESERVE = 48  # room kept for the closing SKIP to infinity
_ENTRY_ESTIMATE = 12  # a FINGERPRINT range is ~1 + 2-3 + 8 bytes on the wire
_IDS_OVERHEAD = 100  # a pending skip, head, longest bound and counts around an IDS range


class _ReplyBuilder:
    """Writes a reply's ranges, merging adjacent skips, within a byte budget."""

    __slots__ = ("_budget", "_skip_to", "writer")

    def __init__(self, budget: int) -> None:
        self.writer = MessageWriter(REPLY_HEADER)
        self._budget = budget
        self._skip_to: Bound | None = None

    def room(self) -> int:
        return self._budget - _REPLY_RESERVE - len(self.writer)

    def room_when_empty(self) -> int:
        return self._budget - _REPLY_RESERVE - len(REPLY_HEADER)

    def skip(self, upper: Bound) -> None:
        self._skip_to = upper

    def put(self, entry: Entry) -> bool:
        """Append ``entry`` (after any pending skip); False, writing nothing, if it won't fit."""
        mark = self.writer.mark()
        if self._skip_to is not None:
            self.writer.add(Skip(upper=self._skip_to))
        self.writer.add(entry)
        if self.room() < 0:
            self.writer.rollback(mark)
            return False
        self._skip_to = None
        return True

    def finish(self, *, deferred: bool) -> bytes:
        if deferred:
            if self._skip_to is not None:
                self.writer.add(Skip(upper=self._skip_to))
            self.writer.add(Defer())
        elif self._skip_to is not None:
            self.writer.add(Skip(upper=self._skip_to))
        return self.writer.finish()


class _Responder:
    __slots__ = ("_out", "_salt", "_store", "_tuning", "_work", "_work_limit")

    def __init__(
        self, store: RangeStore, salt: bytes, budget: int, limits: Limits, tuning: Tuning
    ) -> None:
        self._store = store
        self._salt = salt
        self._tuning = tuning
        self._out = _ReplyBuilder(budget)
        self._work = 0
        self._work_limit = limits.max_reply_work

    def run(self, entries: Sequence[Entry]) -> bytes:
        ranks = RankCache(self._store)
        lower = LOWEST_BOUND
        for entry in entries:
            if self._work > self._work_limit:
                return self._out.finish(deferred=True)
            lower_rank, lower_sum = ranks.at(lower)
            upper = entry.upper
            upper_rank, upper_sum = ranks.at(upper)
            count = upper_rank - lower_rank
            hashes: tuple[bytes, ...] | None = None
            if isinstance(entry, Fingerprint):
                self._work += _FINGERPRINT_WORK
                id_sum = (upper_sum - lower_sum) % ID_SUM_MODULUS
                if range_fingerprint(self._salt, count, id_sum) == entry.fingerprint:
                    holding = Holding.SAME
                else:
                    holding = Holding.FEW if count <= self._tuning.ids_max else Holding.MANY
            elif isinstance(entry, IdList | ShortIdList):
                hashes = entry.hashes
                many = hashes and count > self._tuning.max_hashed
                holding = Holding.LISTED_MANY if many else Holding.LISTED
            else:
                holding = Holding.ANY
            action = RESPONDER[(_mode(entry), holding)]
            if action is Action.SKIP:
                self._out.skip(upper)
                done = True
            elif action is Action.SPLIT:
                done = self._split(lower_rank, lower_sum, upper, upper_rank)
            else:
                short = isinstance(entry, ShortIdList)
                done = self._send_ids(lower_rank, lower_sum, upper, upper_rank, hashes, short)
            if not done:
                return self._out.finish(deferred=True)
            lower = upper
        return self._out.finish(deferred=False)

    def _split(
        self, start: int, start_sum: int, upper: Bound, stop: int, *, least: int = 1
    ) -> bool:
        store, tuning = self._store, self._tuning
        count = stop - start
        parts = tuning.branching
        if count <= tuning.branching * tuning.leaf_size:
            # Land the children at leaf size, so the initiator can list them next: this is
            # what keeps the round trips at the bound round_trip_bound() states.
            parts = max(least, -(-count // tuning.leaf_size))
        previous, previous_sum = start, start_sum
        for rank in child_ranks(start, stop, parts):
            child_upper = (
                upper if rank == stop else Bound.between(store.key_at(rank - 1), store.key_at(rank))
            )
            rank_sum = store.prefix_id_sum(rank)
            id_sum = (rank_sum - previous_sum) % ID_SUM_MODULUS
            self._work += _FINGERPRINT_WORK
            fingerprint = range_fingerprint(self._salt, rank - previous, id_sum)
            if not self._out.put(Fingerprint(upper=child_upper, fingerprint=fingerprint)):
                return False
            previous, previous_sum = rank, rank_sum
        return True

    def _send_ids(
        self,
        start: int,
        start_sum: int,
        upper: Bound,
        stop: int,
        hashes: tuple[bytes, ...] | None,
        short: bool,
    ) -> bool:
        store = self._store
        lacks: tuple[bool, ...] = ()
        if hashes:
            keys = store.keys(start, stop)
            self._work += len(keys)
            size = len(hashes[0])
            own = [id_hash(self._salt, key[1])[:size] for key in keys]
            held, listed = set(own), set(hashes)
            lacks = tuple(item not in held for item in hashes)
            missing = [key for item, key in zip(own, keys, strict=True) if item not in listed]
            complete = True
        else:
            # Nothing listed: every key here is missing there. Read only what can fit.
            cap = max(0, self._out.room()) // ID_BYTES + 1
            missing = list(store.keys(start, min(stop, start + cap)))
            self._work += len(missing)
            complete = len(missing) == stop - start
        ids = tuple(key[1] for key in missing)
        if complete and self._out.put(Ids(upper=upper, ids=ids, lacks=lacks)):
            return True
        extra = _IDS_OVERHEAD + len(lacks) // 8
        if short:
            # A short list is answered whole, so the initiator can verify the answer: defer
            # it to an emptier reply, or, if it could never fit, split so it is listed again
            # in smaller parts.
            if len(ids) * ID_BYTES + extra <= self._out.room_when_empty():
                return False
            return self._split(start, start_sum, upper, stop, least=2)
        # Too many for the frame: send those that fit, up to a bound just after the last one
        # sent; the DEFER that follows makes the initiator ask again from there.
        fit = (self._out.room() - extra) // ID_BYTES
        if fit < 1 or len(missing) <= fit:
            return False
        last = missing[fit - 1]
        cut = Bound.between(last, store.key_at(store.rank(last) + 1))
        self._out.put(Ids(upper=cut, ids=ids[:fit], lacks=lacks))
        return False


def _mode(entry: Entry) -> Mode:
    if isinstance(entry, Fingerprint):
        return Mode.FINGERPRINT
    if isinstance(entry, IdList):
        return Mode.ID_LIST
    if isinstance(entry, ShortIdList):
        return Mode.SHORT_ID_LIST
    if isinstance(entry, Ids):
        return Mode.IDS
    return Mode.DEFER if isinstance(entry, Defer) else Mode.SKIP


def respond(
    store: RangeStore,
    message: bytes,
    *,
    limits: Limits = DEFAULT_LIMITS,
    tuning: Tuning = DEFAULT_TUNING,
) -> bytes:
    """The responder's whole job: answer one query from ``store``; keeps no state.

    The reply is at most ``min(limits.max_frame_bytes, query.reply_limit)`` bytes. Raises
    :class:`ProtocolError` (and nothing else) if ``message`` is not a valid query.
    """
    query = parse_query(message, max_bytes=limits.max_frame_bytes)
    budget = min(limits.max_frame_bytes, query.reply_limit)
    return _Responder(store, query.salt, budget, limits, tuning).run(query.entries)


class _Ask(Enum):
    CHECK = auto()  # send our fingerprint: the responder has not compared this range yet
    DIFFERS = auto()  # known to differ: list it if small, else split it


@dataclass(frozen=True, slots=True)
class _Work:
    lower: Bound
    upper: Bound
    ask: _Ask
    parts: int = 0  # children when split; 0 means Tuning.branching
    their_fingerprint: bytes | None = None  # the responder's, when it sent one for the range


@dataclass(frozen=True, slots=True)
class _Sent:
    lower: Bound
    upper: Bound
    mode: Mode
    listed: tuple[tuple[int, bytes], ...] = ()
    their_fingerprint: bytes | None = None


class Initiator:
    """One reconciliation session, driven from this side (see the module docstring).

    ``initial_message()`` gives the first query; feed each reply to ``receive()``, which
    gives the next query, or None when the session is DONE. Then ``need_ids`` are ids only
    the responder has and ``have_ids`` ids only this side has (both grow during the session,
    so fetching can start early). ``store`` may change meanwhile: results then describe the
    sets as they were when each range was compared. ``salt`` (16 bytes) is for tests; by
    default it is fresh from :mod:`secrets` for every session, as it must be.
    """

    def __init__(
        self,
        store: RangeStore,
        *,
        limits: Limits = DEFAULT_LIMITS,
        tuning: Tuning = DEFAULT_TUNING,
        salt: bytes | None = None,
    ) -> None:
        if salt is not None and len(salt) != SALT_BYTES:
            raise ValueError("salt must be 16 bytes")
        self._store = store
        self._limits = limits
        self._tuning = tuning
        self._salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
        self._state = SessionState.READY
        self._queue: list[_Work] = []
        self._sent: list[_Sent] = []
        self._have: set[bytes] = set()
        self._need: set[bytes] = set()
        self._scanned = 0  # keys read to settle ranges the responder answered with all its ids
        self._differ_rate = 1.0
        self.rounds = 0  # replies received
        self.bytes_sent = 0
        self.bytes_received = 0

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def have_ids(self) -> frozenset[bytes]:
        """Ids this side holds and the responder lacks (push them)."""
        return frozenset(self._have)

    @property
    def need_ids(self) -> frozenset[bytes]:
        """Ids the responder holds and this side lacks (fetch them)."""
        return frozenset(self._need)

    @property
    def in_sync(self) -> bool:
        """True once DONE with nothing to push or fetch."""
        return self._state is SessionState.DONE and not self._have and not self._need

    def _fire(self, event: _SessionEvent) -> None:
        following = SESSION.get((self._state, event))
        if following is None:
            raise SessionOrderError(f"{event.name} is not allowed in {self._state.name}")
        self._state = following

    def _expect(self, event: _SessionEvent) -> None:
        if (self._state, event) not in SESSION:
            raise SessionOrderError(f"{event.name} is not allowed in {self._state.name}")

    def initial_message(self) -> bytes:
        """The first query. Raises :class:`SessionOrderError` unless the session is READY."""
        self._expect(_SessionEvent.SEND_FIRST)
        split = initial_split(len(self._store), self._tuning)
        self._queue = [_Work(LOWEST_BOUND, INFINITY, _Ask.DIFFERS, split)]
        message = self._next_query()
        assert message is not None  # a non-empty queue always yields a query
        self._fire(_SessionEvent.SEND_FIRST)
        return message

    def receive(self, message: bytes) -> bytes | None:
        """Take the responder's reply; return the next query, or None when DONE.

        Raises :class:`ProtocolError` (the session is then FAILED) if the reply is malformed,
        does not answer the query, or the session passes ``limits.max_rounds``; raises
        :class:`SessionOrderError` if no reply is awaited.
        """
        self._expect(_SessionEvent.REPLY_MORE)
        self.rounds += 1
        self.bytes_received += len(message)
        try:
            if self.rounds > self._limits.max_rounds:
                raise ProtocolError(ReasonCode.TOO_LARGE, "peer did not converge in max_rounds")
            reply = parse_reply(message, max_bytes=self._limits.max_frame_bytes)
            self._absorb(reply.entries)
        except ProtocolError:
            self._fire(_SessionEvent.REPLY_REJECTED)
            raise
        following = self._next_query()
        if following is None:
            self._fire(_SessionEvent.REPLY_FINISHED)
        else:
            self._fire(_SessionEvent.REPLY_MORE)
        return following

    def _absorb(self, entries: Sequence[Entry]) -> None:
        store, tuning = self._store, self._tuning
        ranks = RankCache(store)
        lists = (Mode.ID_LIST, Mode.SHORT_ID_LIST)
        listed = {sent.lower.key: sent for sent in self._sent if sent.mode in lists}
        found: list[_Work] = []
        same = differ = 0
        lower = LOWEST_BOUND
        for entry in entries:
            upper = entry.upper
            mode = _mode(entry)
            holding = Holding.ANY
            if isinstance(entry, Fingerprint):
                lower_rank, lower_sum = ranks.at(lower)
                upper_rank, upper_sum = ranks.at(upper)
                count = upper_rank - lower_rank
                id_sum = (upper_sum - lower_sum) % ID_SUM_MODULUS
                if range_fingerprint(self._salt, count, id_sum) == entry.fingerprint:
                    holding = Holding.SAME
                    same += 1
                else:
                    holding = Holding.FEW if count <= tuning.id_list_max else Holding.MANY
                    differ += 1
            elif isinstance(entry, Ids):
                holding = Holding.LISTED
            action = INITIATOR[(mode, holding)]
            if action is Action.QUEUE_LIST or action is Action.QUEUE_SPLIT:
                assert isinstance(entry, Fingerprint)
                found.append(_Work(lower, upper, _Ask.DIFFERS, 0, entry.fingerprint))
            elif action is Action.RECORD_IDS:
                assert isinstance(entry, Ids)
                retry = self._record(lower, entry, listed.get(lower.key))
                if retry is not None:
                    found.append(retry)
            elif action is Action.REQUEUE:
                found.extend(self._requeue(lower))
            lower = upper
        # Reply ranges come in key order and requeued ones lie beyond them; what did not fit
        # in the last query lies beyond both, so the queue stays sorted.
        self._queue = found + self._queue
        self._sent = []
        if same + differ:
            self._differ_rate = differ / (same + differ)

    def _record(self, lower: Bound, entry: Ids, sent: _Sent | None) -> _Work | None:
        """Add what ``entry`` tells to have/need; the range to ask again if it did not add up.

        What an IDS range says is always true (a set bit means the responder has no key with
        that hash); a 4-byte collision can only hide a key. So a short list's answer is
        checked against the responder's fingerprint of the range: the keys it kept plus the
        ids it sent must be its whole range, or the range is asked again with 8-byte hashes.
        """
        if sent is None:
            if entry.lacks:
                raise ProtocolError(ReasonCode.MALFORMED, "a bitfield for a range not listed")
            store = self._store
            start = store.rank(lower.key)
            stop = len(store) if entry.upper == INFINITY else store.rank(entry.upper.key)
            # Honest replies make each key be read here at most once a session; a peer that
            # keeps answering big ranges this way is cut off before it costs more than that.
            self._scanned += stop - start
            if self._scanned > 2 * len(store) + 4096:
                raise ProtocolError(ReasonCode.TOO_LARGE, "replies cover the set again and again")
            mine = {key[1] for key in store.keys(start, stop)}
            theirs = set(entry.ids)
            self._have.update(mine - theirs)
            self._need.update(theirs - mine)
            return None
        short = sent.mode is Mode.SHORT_ID_LIST
        if (
            entry.upper.key > sent.upper.key
            or (short and entry.upper != sent.upper)
            or len(entry.lacks) != len(sent.listed)
        ):
            raise ProtocolError(ReasonCode.MALFORMED, "ids do not answer the id list sent")
        kept: list[bytes] = []
        for key, lacking in zip(sent.listed, entry.lacks, strict=True):
            if lacking:
                self._have.add(key[1])
            else:
                kept.append(key[1])
        listed_ids = {key[1] for key in sent.listed}
        sent_ids = {item for item in entry.ids if item not in listed_ids}
        self._need.update(sent_ids)
        if not short or sent.their_fingerprint is None:
            return None
        answer = kept + list(sent_ids)
        check = range_fingerprint(self._salt, len(answer), id_sum_of(answer))
        if check == sent.their_fingerprint:
            return None
        return _Work(lower, sent.upper, _Ask.DIFFERS)

    def _requeue(self, lower: Bound) -> list[_Work]:
        # A responder always answers the first range it is asked about (at least one id of
        # it, if partial), so a DEFER there is a peer that stalls, not one that is busy.
        if self._sent and lower.key <= self._sent[0].lower.key:
            raise ProtocolError(ReasonCode.MALFORMED, "a reply must answer its first range")
        again: list[_Work] = []
        for sent in self._sent:
            if sent.upper.key > lower.key:
                start = sent.lower if sent.lower.key >= lower.key else lower
                ask = _Ask.CHECK if sent.mode is Mode.FINGERPRINT else _Ask.DIFFERS
                again.append(_Work(start, sent.upper, ask))
        return again

    def _next_query(self) -> bytes | None:
        if not self._queue:
            return None
        frame = self._limits.max_frame_bytes
        writer = MessageWriter(query_header(self._salt, frame))
        ranks = RankCache(self._store)
        position = LOWEST_BOUND
        reply_estimate = 0
        sent: list[_Sent] = []
        taken = 0
        for work in self._queue:
            entries = self._entries_for(work, ranks)
            mark = writer.mark()
            while True:
                if work.lower.key > position.key:
                    writer.add(Skip(upper=work.lower))
                estimate = 0
                for entry, _ in entries:
                    writer.add(entry)
                    estimate += self._reply_estimate(entry)
                overfull = len(writer) > frame - _QUERY_RESERVE
                if taken or not overfull:
                    break
                # The first range must go out, so it is cut coarser until it fits a small
                # frame (two fingerprints always do: MIN_FRAME_BYTES allows for that).
                writer.rollback(mark)
                entries = self._entries_for(work, ranks, parts=max(2, len(entries) // 2))
            if taken and (overfull or reply_estimate + estimate > frame):
                writer.rollback(mark)
                break
            sent.extend(record for _, record in entries)
            reply_estimate += estimate
            position = work.upper
            taken += 1
        self._queue = self._queue[taken:]
        if position != INFINITY:
            writer.add(Skip(upper=INFINITY))
        self._sent = sent
        message = writer.finish()
        self.bytes_sent += len(message)
        return message

    def _reply_estimate(self, entry: Entry) -> int:
        if isinstance(entry, IdList | ShortIdList):
            return 48 + len(entry.hashes) // 8
        return 2 + int(self._differ_rate * self._tuning.branching * _ENTRY_ESTIMATE)

    def _entries_for(
        self, work: _Work, ranks: RankCache, parts: int = 0
    ) -> list[tuple[Entry, _Sent]]:
        """The query ranges for ``work``; ``parts`` forces a split into that many."""
        store, salt = self._store, self._salt
        start, start_sum = ranks.at(work.lower)
        stop, stop_sum = ranks.at(work.upper)
        count = stop - start
        if work.ask is _Ask.CHECK or (parts and count < 2):
            fingerprint = range_fingerprint(salt, count, (stop_sum - start_sum) % ID_SUM_MODULUS)
            entry: Entry = Fingerprint(upper=work.upper, fingerprint=fingerprint)
            return [(entry, _Sent(work.lower, work.upper, Mode.FINGERPRINT))]
        if count <= self._tuning.id_list_max and not parts:
            keys = tuple((key[0], key[1]) for key in store.keys(start, stop))
            hashes = tuple(id_hash(salt, key[1]) for key in keys)
            if keys and work.their_fingerprint is not None:
                short = tuple(item[:SHORT_HASH_BYTES] for item in hashes)
                entry = ShortIdList(upper=work.upper, hashes=short)
                record = _Sent(
                    work.lower, work.upper, Mode.SHORT_ID_LIST, keys, work.their_fingerprint
                )
                return [(entry, record)]
            entry = IdList(upper=work.upper, hashes=hashes)
            return [(entry, _Sent(work.lower, work.upper, Mode.ID_LIST, keys))]
        out: list[tuple[Entry, _Sent]] = []
        lower, previous, previous_sum = work.lower, start, start_sum
        for rank in child_ranks(start, stop, parts or work.parts or self._tuning.branching):
            if rank == stop:
                upper, rank_sum = work.upper, stop_sum
            else:
                upper = Bound.between(store.key_at(rank - 1), store.key_at(rank))
                rank_sum = store.prefix_id_sum(rank)
            id_sum = (rank_sum - previous_sum) % ID_SUM_MODULUS
            entry = Fingerprint(
                upper=upper, fingerprint=range_fingerprint(salt, rank - previous, id_sum)
            )
            out.append((entry, _Sent(lower, upper, Mode.FINGERPRINT)))
            lower, previous, previous_sum = upper, rank, rank_sum
        return out
