"""A consult's ``patient_nss``: kept for the record, stored, never shown; older consults fall back."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rooms import consult as rules
from rooms.consult import Actor, Consult, ConsultKind, Invitee
from rooms.roles import Role
from rooms.store.codec import decode_consult, encode_consult
from signaling import views

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
NSS = "92919084431"
PATIENT = Actor("p-0a1b2c3d4e5f6a7b", Role.PATIENT, "sid-p", via_link=True)
NURSE = Actor("nurse-1", Role.NURSE, "sid-n", unit="UMF-1")
GUEST = Invitee("guest-1", Role.COMPANION, "Hija", "tok-1")


def booked(patient_nss: str = NSS) -> Consult:
    return rules.create(
        consult_id="c-1",
        patient_id=PATIENT.participant_id,
        patient_nss=patient_nss,
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="system",
        at=T0,
        unit="UMF-1",
    ).consult


def live_with_guest() -> Consult:
    consult = rules.check_in(booked(), PATIENT, T0).consult
    consult = rules.admit(consult, NURSE, T0, "Enf. Uno").consult
    consult = rules.invite(consult, NURSE, GUEST, T0).consult
    return rules.join(consult, PATIENT, T0).consult


def test_create_keeps_the_nss_apart_from_the_participant_id() -> None:
    consult = booked()
    assert (consult.patient_id, consult.patient_nss, consult.record_nss) == (
        PATIENT.participant_id,
        NSS,
        NSS,
    )
    # Without one, a consult has no registered patient.
    assert (
        rules.create(
            consult_id="c",
            patient_id="p",
            patient_name="n",
            appointment_start=T0,
            appointment_end=T0 + timedelta(minutes=1),
            created_by="x",
            at=T0,
        ).consult.patient_nss
        == ""
    )


def test_every_command_keeps_the_nss() -> None:
    consult = live_with_guest()
    assert consult.patient_nss == NSS
    assert rules.end(consult, NURSE, T0).consult.patient_nss == NSS


def test_the_codec_round_trips_the_nss() -> None:
    consult = live_with_guest()
    assert json.loads(encode_consult(consult))["patient_nss"] == NSS
    assert decode_consult(encode_consult(consult)) == consult


def test_an_older_record_decodes_without_an_nss_and_the_record_falls_back_to_its_patient_id() -> None:
    """Consults stored before ``patient_nss`` existed used the NSS as the patient's participant id."""
    legacy = json.loads(encode_consult(booked()))
    del legacy["patient_nss"]
    legacy["patient_id"] = NSS
    consult = decode_consult(json.dumps(legacy))
    assert consult.patient_nss == ""
    assert consult.record_nss == NSS
    # A record that stored an empty one decodes the same way.
    assert decode_consult(json.dumps({**legacy, "patient_nss": None})).record_nss == NSS


def test_an_inter_unit_session_has_no_nss_for_the_record() -> None:
    """No patient takes part (its ``patient_id`` is a placeholder, see rooms/interunit.py)."""
    session = replace(booked(patient_nss=""), patient_id="none-s-1", kind=ConsultKind.INTERUNIT)
    assert session.record_nss == ""


def test_no_consult_view_shows_the_nss() -> None:
    for consult in (booked(), live_with_guest(), rules.end(live_with_guest(), NURSE, T0).consult):
        view = views.consult(consult)
        assert "patient_nss" not in view
        assert NSS not in json.dumps(view)
        assert view["patient_id"] == PATIENT.participant_id
        assert views.participants(consult)[0]["participant_id"] == PATIENT.participant_id
