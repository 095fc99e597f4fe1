"""media/window_rate.py gives aiortc's RateCounter figures on any arrivals (times never go back)."""

from __future__ import annotations

from aiortc.rate import RateCounter
from hypothesis import given, settings
from hypothesis import strategies as st

from media.window_rate import WindowRate

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "rate", "reset"]),
        st.integers(min_value=0, max_value=1500),  # milliseconds since the previous call
        st.integers(min_value=0, max_value=1400),  # a payload size
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(window=st.sampled_from([1, 2, 50, 1000]), operations=OPERATIONS)
def test_every_rate_is_the_one_aiortc_computes(window: int, operations: list[tuple[str, int, int]]) -> None:
    theirs, ours = RateCounter(window, 8000), WindowRate(window, 8000)
    now = 10_000
    for operation, elapsed, size in operations:
        now += elapsed
        if operation == "add":
            theirs.add(size, now)
            ours.add(size, now)
        elif operation == "rate":
            assert ours.rate(now) == theirs.rate(now)
        else:
            theirs.reset()
            ours.reset()
    assert ours.rate(now) == theirs.rate(now)


def test_a_steady_stream_reads_its_bitrate() -> None:
    rate = WindowRate(1000, 8000)
    for millisecond in range(0, 3000, 20):  # 1,000 bytes every 20 ms: 400 kbit/s
        rate.add(1000, millisecond)
    # The window at 3,000 ms is 2,001-3,000 ms: 49 packets (2,020 ... 2,980), 392 kbit/s.
    assert rate.rate(3000) == 392_000
