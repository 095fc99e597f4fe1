"""Joining a call to watch and listen only: the consult keeps who did, so pages draw no picture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rooms import consult as rules
from rooms.consult import Actor, Consult
from rooms.roles import Role
from rooms.store.codec import decode_consult, encode_consult
from signaling import views

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PATIENT = Actor("p-1", Role.PATIENT, "sid-p", via_link=True)
NURSE = Actor("nurse-1", Role.NURSE, "sid-n")
OBSERVER = Actor("i-obs", Role.OBSERVER, "sid-o", via_link=True)


def live_consult() -> Consult:
    consult = rules.create(
        consult_id="c-1",
        patient_id=PATIENT.participant_id,
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="system",
        at=T0,
    ).consult
    consult = rules.check_in(consult, PATIENT, T0).consult
    consult = rules.admit(consult, NURSE, T0, host_name="Enf. Ana Ruiz").consult
    invitee = rules.Invitee(OBSERVER.participant_id, Role.OBSERVER, "Dra. Observa", "tok-1")
    return rules.invite(consult, NURSE, invitee, T0).consult


def receive_only_in_view(consult: Consult) -> dict[str, bool]:
    return {str(p["participant_id"]): bool(p["receive_only"]) for p in views.participants(consult)}


def test_a_receive_only_join_is_logged_once_and_shown_in_the_view() -> None:
    consult = live_consult()
    joined = rules.join(consult, OBSERVER, T0, receive_only=True)
    assert [event.kind.value for event in joined.events] == ["joined"]
    assert joined.consult.receive_only == {OBSERVER.participant_id}
    assert receive_only_in_view(joined.consult) == {"p-1": False, "nurse-1": False, "i-obs": True}
    # The same again (a reconnect) changes nothing at all.
    again = rules.join(joined.consult, OBSERVER, T0, receive_only=True)
    assert again.consult is joined.consult and again.events == ()


def test_starting_to_publish_in_the_call_changes_only_that_and_logs_nothing() -> None:
    watching = rules.join(live_consult(), OBSERVER, T0, receive_only=True).consult
    publishing = rules.join(watching, OBSERVER, T0)
    assert publishing.events == ()
    assert publishing.consult.receive_only == frozenset()
    assert publishing.consult.version == watching.version + 1
    assert publishing.consult.in_call == watching.in_call
    # And back: a reload without camera or microphone.
    back = rules.join(publishing.consult, OBSERVER, T0, receive_only=True)
    assert back.events == () and back.consult.receive_only == {OBSERVER.participant_id}


def test_someone_who_left_is_not_shown_receive_only() -> None:
    watching = rules.join(live_consult(), OBSERVER, T0, receive_only=True).consult
    left = rules.leave(watching, OBSERVER, T0).consult
    assert receive_only_in_view(left)["i-obs"] is False
    # Joining again with a camera sets it afresh.
    rejoined = rules.join(left, OBSERVER, T0).consult
    assert OBSERVER.participant_id not in rejoined.receive_only


def test_the_host_entry_carries_the_staff_name() -> None:
    consult = live_consult()
    host = next(p for p in views.participants(consult) if p["participant_id"] == "nurse-1")
    assert views.consult(consult)["host_name"] == "Enf. Ana Ruiz" and host["name"] == "Enf. Ana Ruiz"


def test_the_store_codec_keeps_who_is_receive_only() -> None:
    watching = rules.join(live_consult(), OBSERVER, T0, receive_only=True).consult
    assert decode_consult(encode_consult(watching)) == watching
