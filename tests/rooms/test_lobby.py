"""Lobby control and the role table: deny, re-invite, send back, re-admit, lock, mute, revoke.

Every command in its refused cases changes nothing; random sequences keep the invariants.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooms import consult as rules
from rooms.consult import Actor, Consult, ConsultState, Invitee, RuleViolation, Transition, ViolationCode
from rooms.roles import LINK_ACTIONS, PERMISSIONS, STAFF_ROLES, Action, Role, may
from rooms.session_log import EventKind
from rooms.store.codec import decode_consult, encode_consult

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PATIENT = Actor("patient-1", Role.PATIENT, "sid-p", via_link=True)
NURSE = Actor("nurse-1", Role.NURSE, "sid-n")
OTHER_NURSE = Actor("nurse-2", Role.NURSE, "sid-n2")
GUEST = Invitee("guest-1", Role.COMPANION, "Ana", "tok-1")
GUEST_ACTOR = Actor("guest-1", Role.COMPANION, "sid-g", via_link=True)
LATE = Invitee("guest-2", Role.INTERPRETER, "Luis", "tok-2")
LATE_ACTOR = Actor("guest-2", Role.INTERPRETER, "sid-l", via_link=True)
LINK_PHYSICIAN = Actor("doc-link", Role.PHYSICIAN, "sid-d", via_link=True)


# -- the role table -------------------------------------------------------------------------------

H = {
    Action.ADMIT,
    Action.DENY,
    Action.SEND_BACK,
    Action.LOCK,
    Action.MUTE_OTHERS,
    Action.JOIN_MEDIA,
    Action.SHARE_SCREEN,
    Action.LEAVE,
    Action.END,
    Action.VIEW_QUEUE,
    Action.INVITE,
    Action.WRITE_NOTES,
    Action.CHAT,
}
EXPECTED_TABLE: dict[Role, set[Action]] = {
    Role.PATIENT: {Action.CHECK_IN, Action.JOIN_MEDIA, Action.SHARE_SCREEN, Action.LEAVE, Action.CHAT},
    Role.COMPANION: {Action.JOIN_MEDIA, Action.SHARE_SCREEN, Action.LEAVE, Action.CHAT},
    Role.INTERPRETER: {Action.JOIN_MEDIA, Action.SHARE_SCREEN, Action.LEAVE, Action.CHAT},
    Role.OBSERVER: {Action.JOIN_MEDIA, Action.LEAVE, Action.CHAT},
    Role.NURSE: H,
    Role.PHYSICIAN: H,
    Role.COORDINATOR: H | {Action.CREATE_INTERUNIT, Action.VIEW_DASHBOARD},
    Role.SUPERVISOR: {Action.VIEW_DASHBOARD},
    Role.ADMIN: set(),
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_the_role_table_cell_by_cell(role: Role, action: Action) -> None:
    assert may(role, action) is (action in EXPECTED_TABLE[role])
    # A link never grants more than the link actions, whatever role it names.
    assert may(role, action, via_link=True) is (action in EXPECTED_TABLE[role] and action in LINK_ACTIONS)


def test_only_staff_write_notes_and_only_coordinators_create_inter_unit_sessions() -> None:
    assert {r for r in Role if may(r, Action.WRITE_NOTES)} == STAFF_ROLES
    assert {r for r in Role if may(r, Action.CREATE_INTERUNIT)} == {Role.COORDINATOR}
    # A supervisor hosts nothing: the dashboard is all it may see, and no staff role is one.
    assert {r for r in Role if may(r, Action.VIEW_DASHBOARD)} == {Role.SUPERVISOR, Role.COORDINATOR}
    assert PERMISSIONS[Role.SUPERVISOR] == {Action.VIEW_DASHBOARD} and Role.SUPERVISOR not in STAFF_ROLES
    assert not may(Role.OBSERVER, Action.SHARE_SCREEN) and may(Role.PATIENT, Action.SHARE_SCREEN)
    assert set(PERMISSIONS) == set(Role)


# -- fixtures as values ---------------------------------------------------------------------------


def scheduled() -> Consult:
    return rules.create(
        consult_id="c-1",
        patient_id=PATIENT.participant_id,
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="system",
        at=T0 - timedelta(days=1),
    ).consult


def waiting() -> Consult:
    return rules.invite(rules.check_in(scheduled(), PATIENT, T0).consult, NURSE, GUEST, T0).consult


def live_in_call() -> Consult:
    consult = rules.admit(waiting(), NURSE, T0).consult
    for actor in (NURSE, PATIENT, GUEST_ACTOR):
        consult = rules.join(consult, actor, T0).consult
    return consult


def refused(code: ViolationCode, command: Callable[[], object]) -> None:
    with pytest.raises(RuleViolation) as caught:
        command()
    assert caught.value.code is code, caught.value.message


# -- deny and re-invite ---------------------------------------------------------------------------


def test_denying_the_waiting_patient_sends_the_consult_back_and_blocks_the_link() -> None:
    before = waiting()
    denied = rules.deny(before, NURSE, PATIENT.participant_id, T0)
    consult = denied.consult
    assert consult.state is ConsultState.SCHEDULED and consult.checked_in_at is None
    assert consult.denied == {PATIENT.participant_id}
    [event] = denied.events
    assert (event.kind, event.actor_id, event.connection_id, event.detail["participant"]) == (
        EventKind.DENIED,
        NURSE.participant_id,
        "sid-n",
        PATIENT.participant_id,
    )
    refused(ViolationCode.DENIED, lambda: rules.check_in(consult, PATIENT, T0))
    assert rules.deny(consult, NURSE, PATIENT.participant_id, T0).events == ()  # idempotent
    again = rules.reinvite(consult, NURSE, PATIENT.participant_id, T0)
    assert again.events[0].kind is EventKind.REINVITED and again.consult.denied == frozenset()
    assert rules.check_in(again.consult, PATIENT, T0).consult.state is ConsultState.WAITING


def test_a_denied_guest_cannot_join_until_re_invited() -> None:
    live = rules.admit(waiting(), NURSE, T0).consult
    denied = rules.deny(live, NURSE, GUEST.participant_id, T0).consult
    refused(ViolationCode.DENIED, lambda: rules.join(denied, GUEST_ACTOR, T0))
    back = rules.reinvite(denied, NURSE, GUEST.participant_id, T0).consult
    assert GUEST.participant_id in rules.join(back, GUEST_ACTOR, T0).consult.in_call


def test_deny_refusals_change_nothing() -> None:
    live = live_in_call()
    refused(ViolationCode.INVALID_STATE, lambda: rules.deny(live, NURSE, PATIENT.participant_id, T0))
    refused(ViolationCode.INVALID_STATE, lambda: rules.deny(live, NURSE, NURSE.participant_id, T0))
    refused(ViolationCode.NOT_FOUND, lambda: rules.deny(live, NURSE, "nobody", T0))
    refused(ViolationCode.NOT_YOUR_CONSULT, lambda: rules.deny(live, OTHER_NURSE, GUEST.participant_id, T0))
    refused(ViolationCode.FORBIDDEN, lambda: rules.deny(live, PATIENT, GUEST.participant_id, T0))
    refused(ViolationCode.FORBIDDEN, lambda: rules.deny(live, LINK_PHYSICIAN, GUEST.participant_id, T0))
    refused(ViolationCode.INVALID_STATE, lambda: rules.reinvite(live, NURSE, GUEST.participant_id, T0))
    ended = rules.end(live, NURSE, T0).consult
    refused(ViolationCode.CONSULT_ENDED, lambda: rules.deny(ended, NURSE, GUEST.participant_id, T0))


def test_any_staff_member_may_deny_before_anyone_hosts() -> None:
    consult = rules.deny(waiting(), OTHER_NURSE, PATIENT.participant_id, T0).consult
    assert consult.denied == {PATIENT.participant_id}


# -- send back and re-admit ------------------------------------------------------------------------


def test_send_back_then_readmit_then_join_again() -> None:
    live = live_in_call()
    sent = rules.send_back(live, NURSE, PATIENT.participant_id, T0)
    consult = sent.consult
    assert PATIENT.participant_id not in consult.in_call and consult.lobby == {PATIENT.participant_id}
    assert sent.events[0].kind is EventKind.SENT_BACK and sent.events[0].detail["role"] == "patient"
    refused(ViolationCode.INVALID_STATE, lambda: rules.join(consult, PATIENT, T0))
    assert rules.send_back(consult, NURSE, PATIENT.participant_id, T0).events == ()
    readmitted = rules.admit(consult, NURSE, T0, participant_id=PATIENT.participant_id)
    assert readmitted.events[0].kind is EventKind.READMITTED
    assert readmitted.consult.lobby == frozenset() and readmitted.consult.host_id == NURSE.participant_id
    assert PATIENT.participant_id in rules.join(readmitted.consult, PATIENT, T0).consult.in_call


def test_send_back_refusals() -> None:
    live = live_in_call()
    refused(ViolationCode.INVALID_STATE, lambda: rules.send_back(live, NURSE, NURSE.participant_id, T0))
    refused(ViolationCode.NOT_YOUR_CONSULT, lambda: rules.send_back(live, OTHER_NURSE, "patient-1", T0))
    refused(ViolationCode.FORBIDDEN, lambda: rules.send_back(live, GUEST_ACTOR, "patient-1", T0))
    refused(ViolationCode.INVALID_STATE, lambda: rules.send_back(waiting(), NURSE, "patient-1", T0))
    with_late = rules.invite(live, NURSE, LATE, T0).consult
    refused(ViolationCode.INVALID_STATE, lambda: rules.send_back(with_late, NURSE, "guest-2", T0))
    refused(ViolationCode.INVALID_STATE, lambda: rules.admit(live, NURSE, T0, participant_id="patient-1"))


# -- lock ----------------------------------------------------------------------------------------------


def test_a_locked_room_lets_back_only_people_already_admitted() -> None:
    live = rules.invite(live_in_call(), NURSE, LATE, T0).consult
    locked = rules.lock(live, NURSE, T0)
    assert locked.consult.locked and locked.events[0].kind is EventKind.LOCKED
    consult = locked.consult
    refused(ViolationCode.ROOM_LOCKED, lambda: rules.join(consult, LATE_ACTOR, T0))
    # The guest hangs up and comes back: she was admitted before, so she may.
    left = rules.leave(consult, GUEST_ACTOR, T0).consult
    assert GUEST.participant_id in rules.join(left, GUEST_ACTOR, T0).consult.in_call
    # Sent back while locked, the patient is re-admitted and joins.
    sent = rules.send_back(consult, NURSE, PATIENT.participant_id, T0).consult
    back = rules.admit(sent, NURSE, T0, participant_id=PATIENT.participant_id).consult
    assert PATIENT.participant_id in rules.join(back, PATIENT, T0).consult.in_call
    assert rules.lock(consult, NURSE, T0).events == ()
    unlocked = rules.lock(consult, NURSE, T0, locked=False)
    assert unlocked.events[0].kind is EventKind.UNLOCKED
    assert LATE.participant_id in rules.join(unlocked.consult, LATE_ACTOR, T0).consult.in_call


def test_lock_refusals() -> None:
    refused(ViolationCode.INVALID_STATE, lambda: rules.lock(waiting(), NURSE, T0))
    refused(ViolationCode.NOT_YOUR_CONSULT, lambda: rules.lock(live_in_call(), OTHER_NURSE, T0))
    for actor in (PATIENT, GUEST_ACTOR, LINK_PHYSICIAN, Actor("o", Role.OBSERVER)):
        refused(ViolationCode.FORBIDDEN, lambda actor=actor: rules.lock(live_in_call(), actor, T0))


# -- mute and revoke --------------------------------------------------------------------------------


def test_the_host_may_ask_someone_in_the_call_to_mute() -> None:
    live = live_in_call()
    event = rules.request_mute(live, NURSE, PATIENT.participant_id, T0)
    assert (event.kind, event.detail["participant"]) == (EventKind.MUTE_REQUESTED, "patient-1")
    refused(ViolationCode.FORBIDDEN, lambda: rules.request_mute(live, PATIENT, GUEST.participant_id, T0))
    refused(ViolationCode.NOT_YOUR_CONSULT, lambda: rules.request_mute(live, OTHER_NURSE, "patient-1", T0))
    with_late = rules.invite(live, NURSE, LATE, T0).consult
    refused(ViolationCode.INVALID_STATE, lambda: rules.request_mute(with_late, NURSE, "guest-2", T0))


def test_revoking_an_invitation_takes_the_invitee_out() -> None:
    live = live_in_call()
    revoked = rules.revoke_invite(live, NURSE, GUEST.participant_id, T0)
    assert [e.kind for e in revoked.events] == [EventKind.LEFT, EventKind.INVITE_REVOKED]
    assert rules.find_invitee(revoked.consult, GUEST.participant_id) is None
    assert GUEST.participant_id not in revoked.consult.in_call | revoked.consult.admitted
    refused(ViolationCode.NOT_FOUND, lambda: rules.revoke_invite(live, NURSE, "patient-1", T0))
    refused(ViolationCode.NOT_YOUR_CONSULT, lambda: rules.revoke_invite(live, OTHER_NURSE, "guest-1", T0))


def test_the_store_codec_keeps_every_lobby_field() -> None:
    consult = rules.send_back(live_in_call(), NURSE, PATIENT.participant_id, T0).consult
    consult = rules.lock(consult, NURSE, T0).consult
    consult = rules.deny(rules.invite(consult, NURSE, LATE, T0).consult, NURSE, "guest-2", T0).consult
    assert decode_consult(encode_consult(consult)) == consult


# -- random sequences -------------------------------------------------------------------------------

ACTORS = [PATIENT, NURSE, OTHER_NURSE, GUEST_ACTOR, LATE_ACTOR, LINK_PHYSICIAN]
TARGETS = [PATIENT.participant_id, GUEST.participant_id, LATE.participant_id, NURSE.participant_id, "x"]
Step = Callable[[Consult, Actor, str, datetime], Transition]
STEPS: dict[str, Step] = {
    "check_in": lambda c, a, _t, at: rules.check_in(c, a, at),
    "admit": lambda c, a, _t, at: rules.admit(c, a, at),
    "readmit": lambda c, a, t, at: rules.admit(c, a, at, participant_id=t),
    "join": lambda c, a, _t, at: rules.join(c, a, at),
    "leave": lambda c, a, _t, at: rules.leave(c, a, at),
    "end": lambda c, a, _t, at: rules.end(c, a, at),
    "invite_late": lambda c, a, _t, at: rules.invite(c, a, LATE, at),
    "deny": lambda c, a, t, at: rules.deny(c, a, t, at),
    "reinvite": lambda c, a, t, at: rules.reinvite(c, a, t, at),
    "send_back": lambda c, a, t, at: rules.send_back(c, a, t, at),
    "lock": lambda c, a, _t, at: rules.lock(c, a, at),
    "unlock": lambda c, a, _t, at: rules.lock(c, a, at, locked=False),
    "revoke": lambda c, a, t, at: rules.revoke_invite(c, a, t, at),
}


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(STEPS)), st.sampled_from(ACTORS), st.sampled_from(TARGETS)),
        max_size=40,
    )
)
def test_random_lobby_sequences_keep_the_invariants(steps: list[tuple[str, Actor, str]]) -> None:
    consult = waiting()
    for index, (name, actor, target) in enumerate(steps):
        before = consult
        try:
            transition = STEPS[name](consult, actor, target, T0 + timedelta(seconds=index))
        except RuleViolation:
            assert consult == before  # a refused command changes nothing
            continue
        consult = transition.consult
        assert consult.version == before.version + (1 if transition.events else 0)
        assert all(e.actor_id == actor.participant_id for e in transition.events if e.kind != EventKind.LEFT)
        # Nobody is both in the call and waiting or denied; the call holds only admitted people.
        assert not consult.in_call & consult.lobby and not consult.in_call & consult.denied
        assert consult.in_call <= consult.admitted | before.in_call
        assert not consult.lobby or consult.state is ConsultState.LIVE
        if before.locked and consult.locked:
            assert consult.in_call - before.in_call <= before.admitted  # locked: nobody new
        if before.state is ConsultState.ENDED:
            assert consult == before
        if actor.via_link:  # links never decide for others
            assert name in {"check_in", "join", "leave"}
        if consult.host_id is not None and name not in {"check_in", "join", "leave"}:
            assert actor.participant_id == consult.host_id or not transition.events
