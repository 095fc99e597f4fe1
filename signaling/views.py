"""What clients are shown of the domain: plain JSON-ready dictionaries, times in UTC ISO 8601.

Pages convert times to the viewer's own time zone; the server never guesses it.
"""

from __future__ import annotations

from datetime import datetime

from rooms.consult import Consult, ConsultKind, Invitee
from rooms.nurses import Nurse
from rooms.queue import QueueChange, QueueEntry
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


def listed(value: Consult) -> dict[str, object]:
    """A consult as a staff list holds it: its view and its ``version``, so a list that hears two
    changes of one consult out of order keeps the newer."""
    return {**consult(value), "version": value.version}


def queue_entry(entry: QueueEntry) -> dict[str, object]:
    """A waiting patient as consoles place them: the order key's fields and the connection.

    Consoles sort by urgent first, appointment time, check-in time, then id; a patient counts as
    absent ``absent_after_seconds`` (in the snapshot) after ``dropped_at``.
    """
    return {
        "consult_id": entry.appointment_id,
        "appointment_start": entry.appointment_start.isoformat(),
        "checked_in_at": entry.checked_in_at.isoformat(),
        "urgent": entry.urgent,
        "connected": entry.connected,
        "dropped_at": _iso(entry.dropped_at),
        "pinned_nurse": entry.pinned_nurse,
        "pinned_until": _iso(entry.pinned_until),
    }


def nurse(value: Nurse) -> dict[str, object]:
    return {
        "nurse_id": value.nurse_id,
        "unit": value.unit,
        "state": value.state.value,
        "since": _iso(value.since),
    }


def queue_diff(
    change: QueueChange,
    consults: list[dict[str, object]] | None = None,
    consults_removed: list[str] | None = None,
) -> dict[str, object]:
    """One numbered change of a unit's list (``queue:diff``): only what changed."""
    return {
        "unit": change.unit,
        "version": change.version,
        "consults": consults or [],
        "consults_removed": consults_removed or [],
        "entries": [queue_entry(e) for e in change.entries],
        "entries_removed": list(change.removed),
        "nurses": [nurse(n) for n in change.nurses],
        "nurses_removed": list(change.nurses_removed),
    }


def queue_order(value: Consult) -> tuple[datetime, datetime]:
    """Appointment time first, then who checked in first."""
    return (value.appointment_start, value.checked_in_at or value.appointment_end)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
