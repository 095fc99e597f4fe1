"""The pure queue rules that are not about storage: entries, the wait estimate, positions.

Behaviour through the stores (ordering, pins, drops, pairing) is in ``test_queue_store.py``,
which runs against the in-memory store (these same functions) and Redis.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from rooms import appointments as appts
from rooms import queue as q
from rooms.appointments import AppointmentKind, BookingRules, InvalidAppointmentState
from rooms.nurses import Nurse, NurseState
from rooms.patients import register_patient
from rooms.queue import Pairing, QueueEntry, QueuePolicy, UnitQueue, WaitBasis

T0 = datetime(2026, 3, 2, 16, tzinfo=UTC)  # Monday 10:00 in Mexico City
MIN = timedelta(minutes=1)
POLICY = QueuePolicy()


def entry(
    appointment_id: str, start_minutes: int = 0, checked_in_minutes: int = 0, **changes: object
) -> QueueEntry:
    made = QueueEntry(
        appointment_id,
        f"p-{appointment_id}",
        "umf-1",
        T0 + start_minutes * MIN,
        T0 + checked_in_minutes * MIN,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_entry_for_a_checked_in_appointment_with_a_pin() -> None:
    patient = register_patient(
        nss="92919084431",
        name="P",
        birth_date=date(1990, 1, 1),
        time_zone="UTC",
        today=date(2026, 3, 2),
        phone="+525512345678",
    )
    booked = appts.book(
        appointment_id="a-1",
        patient=patient,
        unit="umf-1",
        kind=AppointmentKind.FOLLOW_UP,
        start=T0,
        rules=BookingRules(),
        existing=(),
        now=T0 - timedelta(days=1),
        preferred_nurse="n-7",
    )
    with pytest.raises(InvalidAppointmentState):
        q.entry_for(booked, POLICY)
    early = q.entry_for(appts.check_in(booked, T0 - 10 * MIN), POLICY, urgent=True)
    assert early == QueueEntry("a-1", "92919084431", "umf-1", T0, T0 - 10 * MIN, True, "n-7", T0 + 10 * MIN)
    late = q.entry_for(appts.check_in(booked, T0 + 5 * MIN), POLICY)
    assert late.pinned_until == T0 + 15 * MIN  # the pin counts from when they could be seen


def test_the_order_key() -> None:
    ordered = [
        entry("z", 40, 39, urgent=True),
        entry("b", 0, 5),
        entry("a", 0, 6),
        entry("c", 20, -10),
    ]
    assert sorted(reversed(ordered), key=lambda e: e.order_key) == ordered


def test_pairing_wait_counts_from_when_the_patient_could_be_seen() -> None:
    nurse = Nurse("n-1", "umf-1", NurseState.IN_CONSULT, T0 + 12 * MIN, "a")
    assert Pairing(entry("a", 0, -10), nurse, T0 + 12 * MIN).waited == 12 * MIN
    assert Pairing(entry("a", 0, 5), nurse, T0 + 12 * MIN).waited == 7 * MIN
    assert Pairing(entry("a", 20, 5), nurse, T0 + 12 * MIN).waited == timedelta(0)  # taken early


def test_set_nurse_state_is_only_for_available_and_away() -> None:
    state, _ = q.register_nurse(UnitQueue("umf-1"), "n-1")
    for target in (NurseState.IN_CONSULT, NurseState.WRAP_UP):
        with pytest.raises(ValueError):
            q.set_nurse_state(state, "n-1", target, T0)


def test_policy_validation() -> None:
    for bad in ({"recent_consults": 0}, {"min_samples": 0}, {"default_consult": timedelta(0)}):
        with pytest.raises(ValueError):
            QueuePolicy(**bad)


# --- the wait estimate -----------------------------------------------------------------------------


def nurses(*states: tuple[NurseState, int]) -> dict[str, Nurse]:
    """Nurses in ``state`` since ``minutes`` ago."""
    return {f"n-{i}": Nurse(f"n-{i}", "umf-1", s, T0 - m * MIN) for i, (s, m) in enumerate(states)}


def test_no_nurse_on_duty_gives_no_number() -> None:
    state = UnitQueue("umf-1", nurses=nurses((NurseState.AWAY, 0)))
    estimate = q.expected_wait(state, 3, T0, POLICY)
    assert estimate.basis is WaitBasis.NO_NURSE_ON_DUTY
    assert estimate.expected is None and estimate.expected_minutes is None and estimate.nurses_on_duty == 0


def test_an_available_nurse_means_no_wait_for_the_head() -> None:
    state = UnitQueue("umf-1", nurses=nurses((NurseState.AVAILABLE, 0), (NurseState.AWAY, 0)))
    estimate = q.expected_wait(state, 0, T0, POLICY)
    assert (estimate.expected, estimate.basis, estimate.nurses_on_duty) == (
        timedelta(0),
        WaitBasis.SLOT_LENGTH,
        1,
    )
    # The second in line waits for a whole consult and wrap-up (20 + 3 min, the slot length).
    assert q.expected_wait(state, 1, T0, POLICY).expected == 23 * MIN


def test_busy_nurses_free_up_after_the_rest_of_their_consult() -> None:
    state = UnitQueue(
        "umf-1",
        nurses=nurses((NurseState.IN_CONSULT, 15), (NurseState.IN_CONSULT, 5), (NurseState.WRAP_UP, 1)),
    )
    # Free in: 5 + 3, 15 + 3, and 2 (wrap-up of 3 minus 1) minutes.
    assert [q.expected_wait(state, ahead, T0, POLICY).expected for ahead in range(4)] == [
        2 * MIN,
        8 * MIN,
        18 * MIN,
        25 * MIN,  # the wrap-up nurse again: 2 + 20 + 3
    ]
    overrun = UnitQueue("umf-1", nurses=nurses((NurseState.IN_CONSULT, 45)))
    assert q.expected_wait(overrun, 0, T0, POLICY).expected == 3 * MIN  # a long consult ends any moment


def test_recent_consults_replace_the_slot_length_once_there_are_enough() -> None:
    durations = tuple(m * MIN for m in (8, 10, 12, 14, 16))
    state = UnitQueue("umf-1", nurses=nurses((NurseState.AVAILABLE, 0)), durations=durations[:4])
    assert q.expected_wait(state, 1, T0, POLICY).basis is WaitBasis.SLOT_LENGTH
    learned = q.expected_wait(replace(state, durations=durations), 1, T0, POLICY)
    assert learned.basis is WaitBasis.RECENT_CONSULTS
    assert learned.expected == 15 * MIN  # median 12 + wrap-up 3
    assert learned.low == 13 * MIN and learned.high == 17 * MIN  # quartiles 10 and 14
    assert learned.low <= learned.expected <= learned.high
    single = QueuePolicy(min_samples=1)
    one = q.expected_wait(replace(state, durations=(9 * MIN,)), 1, T0, single)
    assert one.expected == one.low == one.high == 12 * MIN


def test_expected_minutes_round_up() -> None:
    assert q.WaitEstimate(WaitBasis.SLOT_LENGTH, 1, timedelta(seconds=61)).expected_minutes == 2
    assert q.WaitEstimate(WaitBasis.SLOT_LENGTH, 1, timedelta(0)).expected_minutes == 0


def test_position_counts_who_is_really_ahead() -> None:
    waiting = (
        entry("a", 0, 0),
        entry("b", 0, 1, connected=False, dropped_at=T0 - 10 * MIN),  # absent: gone for 10 minutes
        entry("c", 0, 2, connected=False, dropped_at=T0 - MIN),  # a brief drop: probably back soon
        entry("d", 20, 0),
    )
    state = UnitQueue("umf-1", waiting=waiting, nurses=nurses((NurseState.AVAILABLE, 0)))
    where = q.position(state, "d", T0, POLICY)
    assert where is not None
    assert (where.place, where.ahead, where.connected, where.absent) == (4, 2, True, False)
    assert where.estimate.expected == 46 * MIN  # two consults and wrap-ups ahead, one nurse
    b = q.position(state, "b", T0, POLICY)
    assert b is not None and (b.place, b.ahead, b.connected, b.absent) == (2, 1, False, True)
    assert q.position(state, "nobody", T0, POLICY) is None
