"""Hybrid logical clock: monotone, merges remote time, refuses the far future."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import ProtocolError, ReasonCode
from protocol.limits import MAX_CLOCK_AHEAD_MS
from sync.clock import ManualClock
from sync.hlc import HybridClock, pack, unpack

T0 = 1_700_000_000_000


def test_now_follows_the_wall_clock_when_it_moves() -> None:
    clock = ManualClock(T0)
    hlc = HybridClock(clock)
    assert unpack(hlc.now()) == (T0, 0)
    clock.advance(5)
    assert unpack(hlc.now()) == (T0 + 5, 0)


def test_now_counts_logically_when_the_wall_clock_stands_still_or_goes_back() -> None:
    clock = ManualClock(T0)
    hlc = HybridClock(clock)
    first = hlc.now()
    clock.set(T0 - 1000)  # the operator's clock was corrected backwards
    second, third = hlc.now(), hlc.now()
    assert first < second < third
    assert unpack(third) == (T0, 2)


def test_restart_never_reissues_a_smaller_value() -> None:
    clock = ManualClock(T0)
    before = HybridClock(clock)
    last = before.now()
    clock.set(T0 - 60_000)
    after = HybridClock(clock, last=last)
    assert after.now() > last


def test_observe_moves_past_a_remote_timestamp() -> None:
    clock = ManualClock(T0)
    hlc = HybridClock(clock)
    remote = pack(T0 + 3000, 7)
    assert hlc.observe(remote) == pack(T0 + 3000, 8)
    assert hlc.now() > remote


def test_observe_refuses_timestamps_more_than_ten_minutes_ahead() -> None:
    clock = ManualClock(T0)
    hlc = HybridClock(clock)
    hlc.observe(pack(T0 + MAX_CLOCK_AHEAD_MS, 0))  # exactly at the limit is fine
    last = hlc.last
    with pytest.raises(ProtocolError) as info:
        hlc.observe(pack(T0 + MAX_CLOCK_AHEAD_MS + 1, 0))
    assert info.value.code is ReasonCode.FUTURE_TIMESTAMP
    assert hlc.last == last


def test_logical_overflow_borrows_the_next_millisecond() -> None:
    clock = ManualClock(T0)
    hlc = HybridClock(clock, last=pack(T0, 65_535))
    assert unpack(hlc.now()) == (T0 + 1, 0)


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("tick"), st.integers(-5000, 5000)),
            st.tuples(st.just("recv"), st.integers(-600_000, 600_000), st.integers(0, 65_535)),
        ),
        max_size=60,
    )
)
def test_issued_timestamps_strictly_increase_and_dominate_everything_seen(
    steps: list[tuple[int, ...]],
) -> None:
    clock = ManualClock(T0)
    hlc = HybridClock(clock)
    previous, seen, wall = -1, 0, T0
    for step in steps:
        if step[0] == "tick":
            clock.set(max(0, clock.now_ms() + step[1]))
            wall = max(wall, clock.now_ms())
            value = hlc.now()
        else:
            remote = pack(max(0, clock.now_ms() + step[1]), step[2])
            value = hlc.observe(remote)
            seen = max(seen, remote)
        assert value > previous
        assert value > seen or value == hlc.last > seen
        physical, _ = unpack(value)
        # Bounded drift: never beyond the largest wall or remote time seen (+1 ms borrowed).
        assert physical <= max(wall, unpack(seen)[0]) + 1
        previous = value
