"""What clients are shown of the domain: plain JSON-ready dictionaries, times in UTC ISO 8601.

Pages convert times to the viewer's own time zone; the server never guesses it.
"""

from __future__ import annotations

from datetime import datetime

from rooms.consult import Consult, ConsultKind, Invitee
from rooms.roles import Role


def consult(value: Consult) -> dict[str, object]:
    """What everyone in the consult (companions, interpreters, observers too) is shown of it.

    ``patient_id`` is the patient's opaque participant id; ``patient_nss`` (their identity in the
    clinical record) is never part of a view: it goes to staff only, through the REST/FHIR APIs.
    """
    return {
        "consult_id": value.consult_id,
        "state": value.state.value,
        "patient_id": value.patient_id,
        "patient_name": value.patient_name,
        "appointment_start": value.appointment_start.isoformat(),
        "appointment_end": value.appointment_end.isoformat(),
        "checked_in_at": _iso(value.checked_in_at),
        "host_id": value.host_id,
        "host_name": value.host_name,
        "in_call": sorted(value.in_call),
        "participants": participants(value),
        "kind": value.kind.value,
        "locked": value.locked,
        "lobby": sorted(value.lobby),
        "denied": sorted(value.denied),
    }


def participant(invitee: Invitee) -> dict[str, str]:
    view = {"participant_id": invitee.participant_id, "name": invitee.name, "role": invitee.role.value}
    if invitee.unit_name is not None:
        view["unit_name"] = invitee.unit_name
        view["unit_clues"] = invitee.unit_clues or ""
    return view


def participants(value: Consult) -> list[dict[str, object]]:
    """Everyone who may be in the call, with the name and role pages show on their tiles.

    ``receive_only`` is true while someone is in the call without camera or microphone (they
    joined with ``media:subscribe``): they publish nothing, so pages list them without a picture.
    """
    people = (
        [{"participant_id": value.patient_id, "name": value.patient_name, "role": Role.PATIENT.value}]
        if value.kind is ConsultKind.CONSULT
        else []
    )
    if value.host_id is not None:
        people.append(
            {
                "participant_id": value.host_id,
                "name": value.host_name or "",
                "role": (Role.COORDINATOR if value.kind is ConsultKind.INTERUNIT else Role.NURSE).value,
            }
        )
    people += [participant(invitee) for invitee in value.invitees]
    watching = value.receive_only & value.in_call
    return [{**person, "receive_only": person["participant_id"] in watching} for person in people]


def queue_order(value: Consult) -> tuple[datetime, datetime]:
    """Appointment time first, then who checked in first."""
    return (value.appointment_start, value.checked_in_at or value.appointment_end)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
