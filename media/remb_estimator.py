"""aiortc's receive-side bandwidth estimator (REMB), its per-packet step in one function.

``RemoteBitrateEstimator.add`` runs for every video packet a publisher sends. In aiortc it is a
chain of small methods (the inter-arrival grouping's out-of-order, burst and new-group tests, each
through ``uint32_add``; the detector's ``state()``; the rate control's ``feedback_interval()``):
after the Kalman filter (``media/overuse_filter.py``) it was the largest share of a media worker's
per-packet Python. :class:`RembEstimator` does the same steps inline, on the same state objects
(the inter-arrival's ``TimestampGroup``\\ s, the detector, the rate control), in aiortc's order,
so it sends the same REMBs (``tests/media/test_remb_estimator.py`` compares both, state and
output, packet by packet on random streams). The once-a-frame work (filter, detector, rate
control) stays in aiortc's methods.
"""

from __future__ import annotations

from typing import Final

from aiortc.rate import (
    BURST_DELTA_THRESHOLD_MS,
    TIMESTAMP_TO_MS,
    BandwidthUsage,
    InterArrivalDelta,
    OveruseEstimator,
    RemoteBitrateEstimator,
    TimestampGroup,
)

from media.overuse_filter import OveruseFilter

_OVERUSING: Final = BandwidthUsage.OVERUSING
_HALF: Final = 0x80000000
_MASK: Final = 0xFFFFFFFF


class RembEstimator(RemoteBitrateEstimator):
    """Drop-in for ``RemoteBitrateEstimator`` (``add`` and the same public state)."""

    @classmethod
    def taking_over(cls, running: RemoteBitrateEstimator) -> RembEstimator:
        """An estimator that goes on from ``running``'s state, its objects included (a receiver's
        estimator may have been fed already when forwarding starts). Its Kalman filter becomes an
        :class:`OveruseFilter`."""
        adopted = cls.__new__(cls)
        vars(adopted).update(vars(running))
        if isinstance(adopted.estimator, OveruseEstimator) and not isinstance(
            adopted.estimator, OveruseFilter
        ):
            adopted.estimator = OveruseFilter.taking_over(adopted.estimator)
        return adopted

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        timestamp = abs_send_time << 8
        self.ssrcs[ssrc] = arrival_time_ms

        incoming = self.incoming_bitrate
        if incoming.rate(arrival_time_ms) is not None:
            self.incoming_bitrate_initialized = True
        elif self.incoming_bitrate_initialized:
            incoming.reset()
            self.incoming_bitrate_initialized = False
        incoming.add(payload_size, arrival_time_ms)

        # InterArrival.compute_deltas
        inter = self.inter_arrival
        deltas = None
        current = inter.current_group
        if current is None:
            current = inter.current_group = TimestampGroup(timestamp)
        else:
            # A group is made with its first timestamp and given its arrival in the same step.
            first, last, arrived = current.first_timestamp, current.last_timestamp, current.arrival_time
            assert first is not None and last is not None and arrived is not None
            if ((timestamp - first) & _MASK) >= _HALF:
                current = None  # out of order: the group stays as it is
            else:
                timestamp_delta_ms = round(inter.timestamp_to_ms * ((timestamp - last) & _MASK))
                arrival_delta = arrival_time_ms - arrived
                in_burst = timestamp_delta_ms == 0 or (
                    arrival_delta - timestamp_delta_ms < 0 and arrival_delta <= BURST_DELTA_THRESHOLD_MS
                )
                if not in_burst and ((timestamp - first) & _MASK) > inter.group_length:
                    previous = inter.previous_group
                    if previous is not None:
                        assert previous.last_timestamp is not None and previous.arrival_time is not None
                        deltas = InterArrivalDelta(
                            timestamp=(last - previous.last_timestamp) & _MASK,
                            arrival_time=arrived - previous.arrival_time,
                            size=current.size - previous.size,
                        )
                    inter.previous_group = current
                    current = inter.current_group = TimestampGroup(timestamp=timestamp)
                elif (last < timestamp and timestamp - last < _HALF) or (
                    last > timestamp and last - timestamp > _HALF
                ):
                    current.last_timestamp = timestamp  # uint32_gt(timestamp, last)
        if current is not None:
            current.size += payload_size
            current.arrival_time = arrival_time_ms

        detector = self.detector
        if deltas is not None:
            timestamp_delta_ms_f = deltas.timestamp * TIMESTAMP_TO_MS
            estimator = self.estimator
            estimator.update(
                deltas.arrival_time, timestamp_delta_ms_f, deltas.size, detector.state(), arrival_time_ms
            )
            detector.detect(
                estimator.offset(), timestamp_delta_ms_f, estimator.num_of_deltas(), arrival_time_ms
            )

        rate_control = self.rate_control
        last_update_ms = self.last_update_ms
        if (
            last_update_ms is None
            or arrival_time_ms - last_update_ms > rate_control.feedback_interval()
            or detector.state() == _OVERUSING
        ):
            target_bitrate = rate_control.update(
                detector.state(), incoming.rate(arrival_time_ms), arrival_time_ms
            )
            if target_bitrate is not None:
                self.last_update_ms = arrival_time_ms
                return target_bitrate, list(self.ssrcs.keys())
        return None
