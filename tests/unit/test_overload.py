"""An overloaded node refuses cheaply: new connections first, then events, with ``busy``; a flood of
one failure writes a few log lines, not one each (web/backpressure.py, signaling/guard.py)."""

from __future__ import annotations

import pytest

from signaling.errors import ErrorCode, SignalingError
from signaling.guard import LogThrottle, NoOverload, check_capacity
from web.backpressure import LoopPressure


def pressure_after(*lags: float, at: float) -> LoopPressure:
    """Ticks 0.4 s apart from ``at`` (monotonic seconds), each ``lag`` late."""
    pressure = LoopPressure(connection_lag=0.25, event_lag=0.5, hold=1.0)
    for index, lag in enumerate(lags):
        pressure.observe(lag, at + 0.4 * index)
    return pressure


def test_lateness_that_does_not_last_a_second_is_not_overload() -> None:
    one_pause = pressure_after(0.0, 2.0, 0.0, at=1e12)
    assert not one_pause.refuse_connection() and not one_pause.refuse_event()
    short = pressure_after(0.6, 0.6, 0.6, at=1e12)  # 0.8 s
    assert not short.refuse_connection() and not short.refuse_event()


def test_sustained_lag_refuses_new_connections_before_events() -> None:
    slow = pressure_after(0.3, 0.3, 0.3, 0.3, at=1e12)
    assert slow.refuse_connection() and not slow.refuse_event()
    check_capacity(slow)  # events still pass
    saturated = pressure_after(0.6, 0.6, 0.6, 0.6, at=1e12)
    assert saturated.refuse_connection() and saturated.refuse_event()
    with pytest.raises(SignalingError) as refused:
        check_capacity(saturated)
    assert refused.value.code is ErrorCode.BUSY
    assert refused.value.to_json()["retry_after_s"] == "2"
    assert "ocupado" in refused.value.to_json()["message_es"]


def test_refusing_stops_once_the_loop_is_on_time_again() -> None:
    recovered = pressure_after(0.6, 0.6, 0.6, 0.6, at=0.0)  # the hold ran out long ago
    assert not recovered.refuse_connection() and not recovered.refuse_event()
    check_capacity(NoOverload())


def test_a_flood_of_errors_is_logged_a_few_times_a_second_with_a_count_of_the_rest() -> None:
    throttle = LogThrottle(per_window=3, window=1.0)
    allowed = [throttle.allow(100.0 + i * 0.01) for i in range(50)]
    assert allowed.count(True) == 3 and throttle.take_suppressed() == 47
    assert throttle.allow(101.5) and throttle.take_suppressed() == 0
