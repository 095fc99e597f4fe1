"""What the waiting patient is told about who is on duty: nobody, nurses who are all with someone,
or a nurse free right now (``WaitEstimate.nurses_available``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rooms import queue as q
from rooms.nurses import Nurse, NurseState
from rooms.queue import QueuePolicy, UnitQueue

T0 = datetime(2026, 3, 2, 16, tzinfo=UTC)
POLICY = QueuePolicy()


def unit(*states: NurseState) -> UnitQueue:
    nurses = {f"n-{i}": Nurse(f"n-{i}", "umf-1", s, T0 - timedelta(minutes=5)) for i, s in enumerate(states)}
    return UnitQueue("umf-1", nurses=nurses)


def test_nobody_on_duty_means_nobody_available() -> None:
    estimate = q.expected_wait(unit(NurseState.AWAY, NurseState.AWAY), 0, T0, POLICY)
    assert (estimate.nurses_on_duty, estimate.nurses_available) == (0, 0)


def test_nurses_on_duty_but_all_with_someone() -> None:
    estimate = q.expected_wait(
        unit(NurseState.IN_CONSULT, NurseState.WRAP_UP, NurseState.AWAY), 0, T0, POLICY
    )
    assert (estimate.nurses_on_duty, estimate.nurses_available) == (2, 0)
    busy = q.expected_wait(unit(NurseState.IN_CONSULT), 0, T0, POLICY)
    assert (busy.nurses_available, busy.expected) == (0, timedelta(minutes=18))  # 15 min left + wrap-up


def test_a_free_nurse_is_counted_apart_from_the_busy_ones() -> None:
    states = (NurseState.AVAILABLE, NurseState.IN_CONSULT, NurseState.AVAILABLE, NurseState.AWAY)
    estimate = q.expected_wait(unit(*states), 0, T0, POLICY)
    assert (estimate.nurses_on_duty, estimate.nurses_available) == (3, 2)
    assert estimate.expected == timedelta(0)
