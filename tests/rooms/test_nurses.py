from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rooms.nurses import (
    ALLOWED_FROM,
    InvalidNurseTransition,
    Nurse,
    NurseNotAvailable,
    NurseState,
    finish_consult,
    take_patient,
    transition,
)

T0 = datetime(2026, 3, 2, 15, tzinfo=UTC)


def nurse(state: NurseState = NurseState.AWAY) -> Nurse:
    return Nurse("n-1", "umf-1", state, T0 if state is not NurseState.AWAY else None)


@pytest.mark.parametrize("current", list(NurseState))
@pytest.mark.parametrize("target", list(NurseState))
def test_the_transition_table_is_enforced_exactly(current: NurseState, target: NurseState) -> None:
    start = nurse(current)
    later = T0 + timedelta(minutes=5)
    if current in ALLOWED_FROM[target]:
        moved = transition(start, target, later, "a-1")
        assert moved.state is target
        assert moved.since == (start.since if current is target else later)  # staying is not a new start
        assert moved.appointment_id == ("a-1" if target is NurseState.IN_CONSULT else start.appointment_id)
    else:
        expected = NurseNotAvailable if target is NurseState.IN_CONSULT else InvalidNurseTransition
        with pytest.raises(expected):
            transition(start, target, later)


def test_a_consult_from_start_to_wrap_up() -> None:
    busy = take_patient(nurse(NurseState.AVAILABLE), "a-1", T0)
    assert (busy.state, busy.appointment_id, busy.since) == (NurseState.IN_CONSULT, "a-1", T0)
    done, took = finish_consult(busy, T0 + timedelta(minutes=17))
    assert (done.state, done.appointment_id, took) == (NurseState.WRAP_UP, None, timedelta(minutes=17))
    assert take_patient(done, "a-2", T0 + timedelta(minutes=18)).state is NurseState.IN_CONSULT


def test_finishing_needs_a_consult() -> None:
    with pytest.raises(InvalidNurseTransition) as caught:
        finish_consult(nurse(NurseState.AVAILABLE), T0)
    assert caught.value.code == "invalid_nurse_transition"
    assert "available" in caught.value.message_en and "disponible" in caught.value.message_es


def test_a_nurse_in_a_consult_cannot_take_another_patient() -> None:
    with pytest.raises(NurseNotAvailable) as caught:
        take_patient(nurse(NurseState.IN_CONSULT), "a-2", T0)
    assert caught.value.code == "nurse_not_available"
    assert caught.value.current is NurseState.IN_CONSULT
