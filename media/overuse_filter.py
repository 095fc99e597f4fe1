"""aiortc's REMB Kalman filter (``aiortc.rate.OveruseEstimator``), the same arithmetic at a
fraction of its interpreter cost.

A publisher's REMB comes from this filter, updated once per group of packets (about once per
video frame per publisher). aiortc's version finds the smallest recent frame period with a Python
loop over its 60 last values, and keeps its 2-by-2 matrices in nested lists that every update indexes
dozens of times: in a media worker's profile under the Janus comparison the filter was about a
tenth of the busy samples. Here the 60 values sit in a bounded deque read by the built-in ``min``,
and the update works on local floats. Every operation is the one aiortc does, in its order, so the
results are the same floats (``tests/media/test_overuse_filter.py`` runs both on random updates).
"""

from __future__ import annotations

import math
from collections import deque

from aiortc.rate import DELTA_COUNTER_MAX, MIN_FRAME_PERIOD_HISTORY_LENGTH, BandwidthUsage, OveruseEstimator

_OVERUSING = BandwidthUsage.OVERUSING
_UNDERUSING = BandwidthUsage.UNDERUSING
_NORMAL = BandwidthUsage.NORMAL


class OveruseFilter(OveruseEstimator):
    """Drop-in for ``OveruseEstimator`` (``update``, ``offset``, ``num_of_deltas``, and the same
    public state: ``E``, ``slope``, ``var_noise``, ``avg_noise``, ``ts_delta_hist``...)."""

    def __init__(self) -> None:
        super().__init__()
        self.ts_delta_hist: deque[float] = deque(maxlen=MIN_FRAME_PERIOD_HISTORY_LENGTH)  # type: ignore[assignment]

    @classmethod
    def taking_over(cls, running: OveruseEstimator) -> OveruseFilter:
        """A filter that goes on from ``running``'s state (a receiver's filter may have been fed
        already when forwarding starts)."""
        adopted = cls()
        state = dict(vars(running))
        state["E"] = [list(row) for row in running.E]
        state["process_noise"] = list(running.process_noise)
        state["ts_delta_hist"] = deque(running.ts_delta_hist, maxlen=MIN_FRAME_PERIOD_HISTORY_LENGTH)
        vars(adopted).update(state)
        return adopted

    def update_min_frame_period(self, ts_delta: float) -> float:
        history = self.ts_delta_hist
        if len(history) >= MIN_FRAME_PERIOD_HISTORY_LENGTH:
            history.popleft()
        smallest = ts_delta
        if history:
            oldest_smallest = min(history)
            if oldest_smallest < smallest:
                smallest = oldest_smallest
        history.append(ts_delta)
        return smallest

    def update(
        self,
        time_delta_ms: int,
        timestamp_delta_ms: float,
        size_delta: int,
        current_hypothesis: BandwidthUsage,
        now_ms: int,
    ) -> None:
        min_frame_period = self.update_min_frame_period(timestamp_delta_ms)
        t_ts_delta = time_delta_ms - timestamp_delta_ms
        fs_delta = size_delta
        self._num_of_deltas = min(self._num_of_deltas + 1, DELTA_COUNTER_MAX)

        E = self.E
        row0, row1 = E
        process_noise = self.process_noise
        e00 = row0[0] + process_noise[0]
        e01 = row0[1]
        e10 = row1[0]
        e11 = row1[1] + process_noise[1]
        offset = self._offset
        if (current_hypothesis == _OVERUSING and offset < self.previous_offset) or (
            current_hypothesis == _UNDERUSING and offset > self.previous_offset
        ):
            e11 += 10 * process_noise[1]

        h0 = fs_delta
        eh0 = e00 * h0 + e01 * 1.0
        eh1 = e10 * h0 + e11 * 1.0

        residual = t_ts_delta - self.slope * h0 - offset
        if current_hypothesis == _NORMAL:
            max_residual = 3.0 * math.sqrt(self.var_noise)
            if abs(residual) < max_residual:
                self.update_noise_estimate(residual, min_frame_period)
            else:
                self.update_noise_estimate(-max_residual if residual < 0 else max_residual, min_frame_period)

        denom = self.var_noise + h0 * eh0 + 1.0 * eh1
        k0 = eh0 / denom
        k1 = eh1 / denom
        ikh00 = 1.0 - k0 * h0
        ikh01 = -k0 * 1.0
        ikh10 = -k1 * h0
        ikh11 = 1.0 - k1 * 1.0

        new00 = e00 * ikh00 + e10 * ikh01
        new01 = e01 * ikh00 + e11 * ikh01
        new10 = e00 * ikh10 + e10 * ikh11
        new11 = e01 * ikh10 + e11 * ikh11
        row0[0], row0[1], row1[0], row1[1] = new00, new01, new10, new11

        self.previous_offset = offset
        self.slope += k0 * residual
        self._offset = offset + k1 * residual
