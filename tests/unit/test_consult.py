"""The consult state machine: every command in every state for every role, plus random sequences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooms import consult as rules
from rooms.consult import Actor, Consult, ConsultState, RuleViolation, Transition, ViolationCode
from rooms.roles import STAFF_ROLES, Role
from rooms.session_log import EventKind

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PATIENT = Actor("patient-1", Role.PATIENT, "sid-p")
NURSE = Actor("nurse-1", Role.NURSE, "sid-n")
OTHER_NURSE = Actor("nurse-2", Role.NURSE, "sid-n2")
OTHER_PATIENT = Actor("patient-2", Role.PATIENT, "sid-p2")

Command = Callable[[Consult, Actor, datetime], Transition]
COMMANDS: dict[str, Command] = {
    "check_in": rules.check_in,
    "admit": rules.admit,
    "join": rules.join,
    "leave": rules.leave,
    "end": rules.end,
}


def test_a_consult_keeps_its_unit_through_every_command() -> None:
    consult = rules.create(
        consult_id="c",
        patient_id=PATIENT.participant_id,
        patient_name="n",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="x",
        at=T0,
        unit="UMF-7",
    ).consult
    consult = rules.check_in(consult, PATIENT, T0).consult
    nurse = Actor("nurse-1", Role.NURSE, "sid-n", unit="UMF-7")
    consult = rules.admit(consult, nurse, T0).consult
    assert rules.end(consult, nurse, T0).consult.unit == "UMF-7"


def new_consult() -> Consult:
    return rules.create(
        consult_id="c-1",
        patient_id=PATIENT.participant_id,
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="system",
        at=T0 - timedelta(days=1),
    ).consult


def in_state(state: ConsultState) -> Consult:
    consult = new_consult()
    if state is ConsultState.SCHEDULED:
        return consult
    consult = rules.check_in(consult, PATIENT, T0).consult
    if state is ConsultState.WAITING:
        return consult
    consult = rules.admit(consult, NURSE, T0).consult
    if state is ConsultState.LIVE:
        return consult
    return rules.end(consult, NURSE, T0).consult


def test_create_logs_created_and_rejects_an_empty_slot() -> None:
    created = rules.create(
        consult_id="c",
        patient_id="p",
        patient_name="n",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=1),
        created_by="x",
        at=T0,
    )
    assert created.consult.state is ConsultState.SCHEDULED
    assert created.consult.unit == ""  # tied to no unit unless the caller says which
    assert [e.kind for e in created.events] == [EventKind.CREATED]
    with pytest.raises(ValueError):
        rules.create(
            consult_id="c",
            patient_id="p",
            patient_name="n",
            appointment_start=T0,
            appointment_end=T0,
            created_by="x",
            at=T0,
        )


# What each command does from each state, for the actor the rules expect.
EXPECTED: dict[tuple[str, ConsultState], ConsultState | ViolationCode | None] = {
    ("check_in", ConsultState.SCHEDULED): ConsultState.WAITING,
    ("check_in", ConsultState.WAITING): None,  # idempotent: a reload keeps the place
    ("check_in", ConsultState.LIVE): ViolationCode.INVALID_STATE,
    ("check_in", ConsultState.ENDED): ViolationCode.CONSULT_ENDED,
    ("admit", ConsultState.SCHEDULED): ViolationCode.INVALID_STATE,
    ("admit", ConsultState.WAITING): ConsultState.LIVE,
    ("admit", ConsultState.LIVE): ViolationCode.INVALID_STATE,
    ("admit", ConsultState.ENDED): ViolationCode.CONSULT_ENDED,
    ("join", ConsultState.SCHEDULED): ViolationCode.INVALID_STATE,
    ("join", ConsultState.WAITING): ViolationCode.INVALID_STATE,
    ("join", ConsultState.LIVE): ConsultState.LIVE,
    ("join", ConsultState.ENDED): ViolationCode.CONSULT_ENDED,
    ("leave", ConsultState.SCHEDULED): None,
    ("leave", ConsultState.WAITING): None,
    ("leave", ConsultState.LIVE): None,
    ("leave", ConsultState.ENDED): None,
    ("end", ConsultState.SCHEDULED): ConsultState.ENDED,
    ("end", ConsultState.WAITING): ConsultState.ENDED,
    ("end", ConsultState.LIVE): ConsultState.ENDED,
    ("end", ConsultState.ENDED): ViolationCode.CONSULT_ENDED,
}
NATURAL_ACTOR = {"check_in": PATIENT, "admit": NURSE, "join": PATIENT, "leave": PATIENT, "end": NURSE}


@pytest.mark.parametrize(("command", "state"), list(EXPECTED))
def test_every_command_in_every_state(command: str, state: ConsultState) -> None:
    consult = in_state(state)
    expected = EXPECTED[(command, state)]
    if isinstance(expected, ViolationCode):
        with pytest.raises(RuleViolation) as caught:
            COMMANDS[command](consult, NATURAL_ACTOR[command], T0)
        assert caught.value.code is expected
        return
    transition = COMMANDS[command](consult, NATURAL_ACTOR[command], T0)
    if expected is None:
        assert transition.consult == consult and transition.events == ()
    else:
        assert transition.consult.state is expected
        assert transition.consult.version == consult.version + 1
        assert transition.events and all(e.consult_id == "c-1" for e in transition.events)


ROLE_ALLOWED = {
    "check_in": {Role.PATIENT},
    "admit": STAFF_ROLES,
    "end": STAFF_ROLES,
    "join": set(Role),
    "leave": set(Role),
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("command", ["check_in", "admit", "end"])
def test_roles_that_may_not_act_are_forbidden(role: Role, command: str) -> None:
    state = {"check_in": ConsultState.SCHEDULED, "admit": ConsultState.WAITING, "end": ConsultState.WAITING}[
        command
    ]
    consult = in_state(state)
    actor = Actor(PATIENT.participant_id if role is Role.PATIENT else "someone", role)
    if role in ROLE_ALLOWED[command]:
        COMMANDS[command](consult, actor, T0)
    else:
        with pytest.raises(RuleViolation) as caught:
            COMMANDS[command](consult, actor, T0)
        assert caught.value.code is ViolationCode.FORBIDDEN


def test_a_patient_may_not_check_in_or_join_someone_elses_consult() -> None:
    with pytest.raises(RuleViolation) as caught:
        rules.check_in(in_state(ConsultState.SCHEDULED), OTHER_PATIENT, T0)
    assert caught.value.code is ViolationCode.NOT_YOUR_CONSULT
    with pytest.raises(RuleViolation) as caught:
        rules.join(in_state(ConsultState.LIVE), OTHER_PATIENT, T0)
    assert caught.value.code is ViolationCode.NOT_YOUR_CONSULT


def test_only_the_host_may_join_or_end_once_admitted() -> None:
    live = in_state(ConsultState.LIVE)
    for command in (rules.join, rules.end):
        with pytest.raises(RuleViolation) as caught:
            command(live, OTHER_NURSE, T0)
        assert caught.value.code is ViolationCode.NOT_YOUR_CONSULT
    assert rules.join(live, NURSE, T0).consult.in_call == {NURSE.participant_id}


def test_check_in_again_keeps_the_first_check_in_time() -> None:
    waiting = rules.check_in(new_consult(), PATIENT, T0).consult
    again = rules.check_in(waiting, PATIENT, T0 + timedelta(minutes=5))
    assert again.consult.checked_in_at == T0 and again.events == ()


def test_end_logs_everyone_leaving_then_ended_and_empties_the_call() -> None:
    live = in_state(ConsultState.LIVE)
    live = rules.join(live, PATIENT, T0).consult
    live = rules.join(live, NURSE, T0).consult
    ended = rules.end(live, NURSE, T0 + timedelta(minutes=15))
    assert ended.consult.state is ConsultState.ENDED and ended.consult.in_call == frozenset()
    assert [e.kind for e in ended.events] == [EventKind.LEFT, EventKind.LEFT, EventKind.ENDED]
    assert ended.events[-1].detail["previous_state"] == "live"


def test_events_name_who_did_it_from_which_connection() -> None:
    event = rules.check_in(new_consult(), PATIENT, T0).events[0]
    assert (event.kind, event.actor_id, event.actor_role, event.connection_id, event.at) == (
        EventKind.CHECKED_IN,
        "patient-1",
        Role.PATIENT,
        "sid-p",
        T0,
    )


ACTORS = [PATIENT, NURSE, OTHER_NURSE, OTHER_PATIENT, Actor("obs", Role.OBSERVER)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(COMMANDS)), st.sampled_from(ACTORS)), max_size=30))
def test_random_sequences_keep_the_invariants(steps: list[tuple[str, Actor]]) -> None:
    consult = new_consult()
    log_kinds: list[EventKind] = []
    for index, (command, actor) in enumerate(steps):
        before = consult
        try:
            transition = COMMANDS[command](consult, actor, T0 + timedelta(seconds=index))
        except RuleViolation:
            assert consult == before  # a refused command changes nothing
            continue
        consult = transition.consult
        log_kinds += [e.kind for e in transition.events]
        assert consult.version == before.version + (1 if transition.events else 0)
        # Nobody is in the call unless it is live; the patient only after admission.
        assert consult.in_call == frozenset() or consult.state is ConsultState.LIVE
        if consult.state in (ConsultState.LIVE, ConsultState.ENDED) and EventKind.ADMITTED in log_kinds:
            assert consult.host_id in {NURSE.participant_id, OTHER_NURSE.participant_id}
        if before.state is ConsultState.ENDED:
            assert consult == before  # nothing leaves ENDED
    assert log_kinds.count(EventKind.ENDED) <= 1
    assert log_kinds.count(EventKind.ADMITTED) <= 1
    if EventKind.ADMITTED in log_kinds:
        assert log_kinds.index(EventKind.CHECKED_IN) < log_kinds.index(EventKind.ADMITTED)


def test_a_consult_is_immutable() -> None:
    consult = new_consult()
    with pytest.raises(AttributeError):
        consult.state = ConsultState.LIVE  # type: ignore[misc]
    assert replace(consult) == consult
