"""The knobs of reconciliation: hard limits, cost tuning and the round-trip bound they imply.

Limits bound what a side sends, accepts and computes; tuning shapes cost, never correctness,
and peers need not agree on it. docs/reconciliation.md §5.3 derives the bound and §6 has the
measurements behind the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.reconcile_wire import MIN_FRAME_BYTES

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TUNING",
    "Limits",
    "Tuning",
    "initial_split",
    "round_trip_bound",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Hard bounds, the same on both sides of the wire by default.

    ``max_frame_bytes`` caps every message a side sends or accepts (a query also asks for
    replies no larger). ``max_rounds`` is how many replies an initiator takes before giving
    up (a fresh replica fetching 10⁶ ids in 64 KiB frames needs ~500). ``max_reply_work``
    caps a responder's work per reply (units: ids hashed or listed; a fingerprint counts 40),
    after which it defers the rest.
    """

    max_frame_bytes: int = 64 * 1024
    max_rounds: int = 1 << 20
    max_reply_work: int = 400_000

    def __post_init__(self) -> None:
        if self.max_frame_bytes < MIN_FRAME_BYTES:
            raise ValueError(f"max_frame_bytes must be at least {MIN_FRAME_BYTES}")
        if self.max_rounds < 1 or self.max_reply_work < 1:
            raise ValueError("limits must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tuning:
    """Local choices that shape cost, not correctness (docs/reconciliation.md §6 has the runs
    that chose the defaults). Peers need not agree on them."""

    initial_split: int = 0  # ranges in the first query; 0: chosen from the set's size
    max_initial_split: int = 256  # the automatic choice stays at or below this
    branching: int = 4  # children of a differing range
    id_list_max: int = 16  # initiator lists a differing range of at most this many ids
    leaf_size: int = 8  # responder splits small ranges into children of at most this many
    ids_max: int = 2  # responder sends its full ids for a differing range this small
    max_hashed: int = 4096  # responder hashes at most this many ids to answer one id list

    def __post_init__(self) -> None:
        if self.initial_split < 0 or self.max_initial_split < 1 or self.branching < 2:
            raise ValueError("initial_split >= 0, max_initial_split >= 1 and branching >= 2")
        if not 1 <= self.leaf_size <= self.id_list_max <= min(64, self.branching * self.leaf_size):
            raise ValueError("1 <= leaf_size <= id_list_max <= min(64, branching * leaf_size)")
        if self.ids_max < 0 or self.max_hashed < self.id_list_max:
            raise ValueError("ids_max >= 0 and max_hashed >= id_list_max")


DEFAULT_LIMITS = Limits()
DEFAULT_TUNING = Tuning()


def _rounds_after_split(count: int, split: int, differences: int, tuning: Tuning) -> int:
    if count <= tuning.id_list_max:
        return 1
    branching, slack = tuning.branching, differences
    size = -(-count // split) + slack
    rounds = 1
    while True:
        if size <= branching * tuning.leaf_size:
            return rounds + 1
        smaller = -(-size // branching) + slack
        if smaller <= tuning.id_list_max:
            return rounds + 1
        smaller = -(-smaller // branching) + slack
        if smaller >= size:
            raise ValueError("too many differences for this bound")
        size = smaller
        rounds += 1


_AUTOMATIC_SPLITS = (16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256)


def initial_split(count: int, tuning: Tuning = DEFAULT_TUNING) -> int:
    """How many ranges the first query over ``count`` keys has.

    ``tuning.initial_split`` if set; otherwise the smallest of 16 … ``max_initial_split``
    that gives the fewest round trips by :func:`round_trip_bound`. Splitting wider up front
    costs ~11 bytes a range even when the sets are equal, and saves a whole round trip when
    it aligns the later levels with the leaf size (docs/reconciliation.md §6).
    """
    if tuning.initial_split:
        return tuning.initial_split
    choices = [s for s in _AUTOMATIC_SPLITS if s <= tuning.max_initial_split] or [1]
    return min(choices, key=lambda split: (_rounds_after_split(count, split, 1, tuning), split))


def round_trip_bound(count: int, differences: int = 1, tuning: Tuning = DEFAULT_TUNING) -> int:
    """Round trips a session takes when the initiator holds ``count`` keys, the sets differ in
    at most ``differences`` keys, and no frame fills.

    ``size`` bounds the keys either side holds in any range still differing. The first query
    cuts the set into :func:`initial_split` ranges; then each round trip divides ``size`` by
    ``branching`` twice (each side splits once; the other side may hold ``differences`` more)
    until the responder can cut a range into children of ``leaf_size`` keys or the initiator
    can list one (``id_list_max``); one more round trip settles the lists. For differences
    small against ``leaf_size`` that is ``2 + ceil(log_{b²}(count / (split · b · leaf_size)))``
    with ``split`` the initial split: O(log count). Raises :class:`ValueError` if
    ``differences`` is too large for the recursion to shrink (the session still ends; this
    bound just does not apply).
    """
    return _rounds_after_split(count, initial_split(count, tuning), differences, tuning)
