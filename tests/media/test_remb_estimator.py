"""media/remb_estimator.py sends the REMBs aiortc's estimator sends, from the same state, packet by
packet: on random streams (jitter, reordering, bursts, gaps, abs-send-time wrapping) and on a
stream whose queue grows and drains."""

from __future__ import annotations

from typing import Any

from aiortc.rate import RemoteBitrateEstimator
from hypothesis import given, settings
from hypothesis import strategies as st

from media.overuse_filter import OveruseFilter
from media.remb_estimator import RembEstimator
from media.window_rate import WindowRate

PACKETS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=40),  # ms since the previous arrival
        st.integers(min_value=-3_000, max_value=60_000),  # abs-send-time step (2^-18 s), may go back
        st.integers(min_value=20, max_value=1_300),  # payload size
        st.sampled_from([1111, 2222]),  # ssrc
    ),
    max_size=300,
)


def state(estimator: RemoteBitrateEstimator) -> dict[str, Any]:
    inter = estimator.inter_arrival
    groups = [
        vars(group).copy() if group is not None else None
        for group in (inter.current_group, inter.previous_group)
    ]
    filter_ = estimator.estimator
    return {
        "groups": groups,
        "ssrcs": dict(estimator.ssrcs),
        "initialized": estimator.incoming_bitrate_initialized,
        "last_update_ms": estimator.last_update_ms,
        "detector": vars(estimator.detector).copy(),
        "rate_control": vars(estimator.rate_control).copy(),
        "filter": (
            [list(row) for row in filter_.E],
            filter_.slope,
            filter_.offset(),
            filter_.var_noise,
            filter_.avg_noise,
            list(filter_.ts_delta_hist),
        ),
    }


def pair() -> tuple[RemoteBitrateEstimator, RembEstimator]:
    theirs = RemoteBitrateEstimator()
    theirs.incoming_bitrate = WindowRate(1000, 8000)  # the same counter both sides (its own test)
    mine = RemoteBitrateEstimator()
    mine.incoming_bitrate = WindowRate(1000, 8000)
    return theirs, RembEstimator.taking_over(mine)


@settings(max_examples=300, deadline=None)
@given(packets=PACKETS, start=st.integers(min_value=0, max_value=(1 << 24) - 1))
def test_every_packet_gives_the_remb_and_leaves_the_state_aiortc_does(
    packets: list[tuple[int, int, int, int]], start: int
) -> None:
    theirs, ours = pair()
    assert isinstance(ours.estimator, OveruseFilter)
    arrival, send_time = 5_000, start
    for elapsed, step, size, ssrc in packets:
        arrival += elapsed
        send_time = (send_time + step) & 0xFFFFFF
        assert ours.add(arrival, send_time, size, ssrc) == theirs.add(arrival, send_time, size, ssrc)
        assert state(ours) == state(theirs)


def test_a_queue_that_grows_and_drains_gives_the_same_rembs() -> None:
    theirs, ours = pair()
    remb_theirs, remb_ours = [], []
    arrival = 1_000
    for packet in range(8_000):
        sent_ms = packet * 4  # 250 packets/s of 1,200 bytes: 2.4 Mbit/s offered
        queueing = min(packet - 1_000, 3_000 - packet) // 8 if 1_000 < packet < 3_000 else 0
        arrival = max(arrival, 1_000 + sent_ms + queueing + packet % 3)
        abs_send_time = int(sent_ms / 1000 * (1 << 18)) & 0xFFFFFF  # wraps after 64 s
        remb_theirs.append(theirs.add(arrival, abs_send_time, 1_200, 1234))
        remb_ours.append(ours.add(arrival, abs_send_time, 1_200, 1234))
    assert remb_ours == remb_theirs
    estimates = [remb[0] for remb in remb_ours if remb is not None]
    assert len(set(estimates)) > 5 and min(estimates) < 0.8 * max(estimates)  # it did react


def test_taking_over_keeps_the_running_state() -> None:
    running = RemoteBitrateEstimator()
    for packet in range(200):
        running.add(1_000 + packet * 10, (packet * 2_621) & 0xFFFFFF, 1_000, 7)
    before = state(running)
    adopted = RembEstimator.taking_over(running)
    assert state(adopted) == before
    assert adopted.inter_arrival is running.inter_arrival
