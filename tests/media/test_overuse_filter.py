"""media/overuse_filter.py computes the same floats as aiortc's REMB Kalman filter, update by update."""

from __future__ import annotations

from collections import deque

from aiortc.rate import BandwidthUsage, OveruseEstimator, RemoteBitrateEstimator
from hypothesis import given, settings
from hypothesis import strategies as st

from media.overuse_filter import OveruseFilter

UPDATES = st.lists(
    st.tuples(
        st.integers(min_value=-50, max_value=400),  # arrival-time delta between groups, ms
        st.floats(min_value=0, max_value=200, allow_nan=False),  # send-time delta, ms
        st.integers(min_value=-20_000, max_value=20_000),  # size delta, bytes
        st.sampled_from(list(BandwidthUsage)),
    ),
    max_size=150,
)


def state(estimator: OveruseEstimator) -> tuple[object, ...]:
    return (
        [list(row) for row in estimator.E],
        estimator.slope,
        estimator.offset(),
        estimator.previous_offset,
        estimator.avg_noise,
        estimator.var_noise,
        estimator.num_of_deltas(),
        list(estimator.ts_delta_hist),
    )


@settings(max_examples=300, deadline=None)
@given(updates=UPDATES)
def test_every_update_leaves_the_state_aiortc_leaves(
    updates: list[tuple[int, float, int, BandwidthUsage]],
) -> None:
    theirs, ours = OveruseEstimator(), OveruseFilter()
    now = 0
    for time_delta, timestamp_delta, size_delta, hypothesis in updates:
        now += max(time_delta, 0)
        theirs.update(time_delta, timestamp_delta, size_delta, hypothesis, now)
        ours.update(time_delta, timestamp_delta, size_delta, hypothesis, now)
        assert state(ours) == state(theirs)


@settings(max_examples=50, deadline=None)
@given(before=UPDATES, after=UPDATES)
def test_taking_over_a_running_filter_goes_on_from_its_state(
    before: list[tuple[int, float, int, BandwidthUsage]], after: list[tuple[int, float, int, BandwidthUsage]]
) -> None:
    theirs = OveruseEstimator()
    for time_delta, timestamp_delta, size_delta, hypothesis in before:
        theirs.update(time_delta, timestamp_delta, size_delta, hypothesis, 0)
    ours = OveruseFilter.taking_over(theirs)
    assert state(ours) == state(theirs)
    assert isinstance(ours.ts_delta_hist, deque)
    for time_delta, timestamp_delta, size_delta, hypothesis in after:
        theirs.update(time_delta, timestamp_delta, size_delta, hypothesis, 0)
        ours.update(time_delta, timestamp_delta, size_delta, hypothesis, 0)
    assert state(ours) == state(theirs)


def test_a_remb_estimator_with_the_filter_sends_the_estimates_aiortcs_sends() -> None:
    """The whole REMB estimator, fed a stream that congests then clears, gives the same REMBs."""
    theirs, ours = RemoteBitrateEstimator(), RemoteBitrateEstimator()
    ours.estimator = OveruseFilter.taking_over(ours.estimator)
    remb_theirs, remb_ours = [], []
    arrival = 1_000
    for packet in range(6_000):
        sent_ms = packet * 4  # 250 packets/s of 1,200 bytes: 2.4 Mbit/s offered
        queueing = min(packet, 3_000 - packet, 1_500) // 10 if 1_000 < packet < 3_000 else 0
        arrival = max(arrival, 1_000 + sent_ms + queueing + packet % 3)
        abs_send_time = int(sent_ms / 1000 * (1 << 18)) & 0xFFFFFF
        remb_theirs.append(theirs.add(arrival, abs_send_time, 1_200, 1234))
        remb_ours.append(ours.add(arrival, abs_send_time, 1_200, 1234))
    assert remb_ours == remb_theirs
    assert sum(remb is not None for remb in remb_ours) > 5  # the stream did produce REMBs
