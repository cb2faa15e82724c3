"""Limits and tuning refuse nonsense; the round-trip bound is logarithmic and picks the split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.reconcile_tuning import Limits, Tuning, initial_split, round_trip_bound


def test_round_trip_bound_is_logarithmic() -> None:
    bounds = [round_trip_bound(10**exponent, 4) for exponent in range(1, 10)]
    assert bounds == sorted(bounds)
    assert round_trip_bound(100_000, 4) <= 4
    assert round_trip_bound(16) == 1  # small sets are listed outright
    for count in (10**3, 54_321, 10**6):  # one more round trip per factor branching²
        assert round_trip_bound(count * 16, 4) <= round_trip_bound(count, 4) + 1
    with pytest.raises(ValueError, match="too many"):
        round_trip_bound(10**6, 100)


@given(st.integers(17, 10**9))
def test_automatic_initial_split_never_costs_a_round_trip(count: int) -> None:
    chosen = initial_split(count)
    assert 16 <= chosen <= 256
    fixed = [round_trip_bound(count, 1, Tuning(initial_split=s)) for s in (16, 64, 256)]
    assert round_trip_bound(count) <= min(fixed)
    assert initial_split(count, Tuning(initial_split=7)) == 7
    assert initial_split(count, Tuning(max_initial_split=16)) == 16


def test_limits_and_tuning_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_frame_bytes"):
        Limits(max_frame_bytes=100)
    with pytest.raises(ValueError, match="positive"):
        Limits(max_rounds=0)
    with pytest.raises(ValueError, match="leaf_size"):
        Tuning(leaf_size=30, id_list_max=16)
    with pytest.raises(ValueError, match="branching"):
        Tuning(branching=2, leaf_size=4, id_list_max=16)
    with pytest.raises(ValueError, match="max_hashed"):
        Tuning(max_hashed=4)
