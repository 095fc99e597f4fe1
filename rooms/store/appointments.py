"""The async interface to booked appointments and the patients who booked them.

The booking rules are :mod:`rooms.appointments`'s; they check a request against the appointments
a store returns. Between that read and the write another request may book the same slot, so a
store re-checks the two conflicts that matter **atomically** as it writes:

* the unit's slot is full: as many appointments holding a slot overlap it as the unit's
  ``capacity`` (:class:`~rooms.appointments.SlotTaken`);
* the patient already holds an overlapping appointment (:class:`~rooms.appointments.DoubleBooking`).

Writes of an existing appointment are compare-and-set on its ``version``
(:class:`~rooms.store.base.VersionConflict`), so a cancel and a reschedule racing each other cannot
both apply. Every implementation passes the shared suite ``tests/rooms/test_appointment_store.py``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from rooms.appointments import (
    HOLDS_SLOT,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    TimeWindow,
)
from rooms.nss import Nss
from rooms.patients import Contact, Language, Patient

MAX_APPOINTMENT = timedelta(days=1)
"""No appointment lasts longer than this; stores look this far back for overlaps."""


class AppointmentStore(Protocol):
    async def add(self, appointment: Appointment, capacity: int) -> None:
        """Store a new appointment, or raise SlotTaken/DoubleBooking (checked atomically with the write)."""

    async def save(self, appointment: Appointment, expected_version: int, capacity: int) -> None:
        """Replace it if the stored version is ``expected_version`` (else VersionConflict); a new time
        is checked for conflicts atomically, like :meth:`add`."""

    async def get(self, appointment_id: str) -> Appointment | None: ...

    async def for_unit(self, unit: str, start: datetime, end: datetime) -> list[Appointment]:
        """The unit's appointments (any status) starting in [start, end), by start."""

    async def for_patient(self, patient_id: str) -> list[Appointment]:
        """Every appointment of the patient (any status), by start."""

    async def due(self, until: datetime) -> list[Appointment]:
        """Booked appointments whose check-in window closed by ``until`` (due no-shows), from an
        index of booked appointments by window end: the sweep reads these, not the service."""

    async def put_patient(self, patient: Patient) -> None:
        """Store (or update) who the patient is; the NSS is the key."""

    async def get_patient(self, patient_id: str) -> Patient | None: ...

    async def aclose(self) -> None: ...


def overlaps(a: Appointment, start: datetime, end: datetime) -> bool:
    return a.start < end and start < a.end


def encode_appointment(a: Appointment) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": a.appointment_id,
        "patient_id": a.patient_id,
        "unit": a.unit,
        "kind": a.kind.value,
        "start": a.start.isoformat(),
        "end": a.end.isoformat(),
        "service_zone": a.service_zone,
        "service_wall_start": a.service_wall_start.isoformat(),
        "patient_zone": a.patient_zone,
        "window": [a.check_in_window.not_before.isoformat(), a.check_in_window.not_after.isoformat()],
        "booked_at": a.booked_at.isoformat(),
        "status": a.status.value,
        "checked_in_at": iso(a.checked_in_at),
        "admitted_at": iso(a.admitted_at),
        "closed_at": iso(a.closed_at),
        "preferred_nurse": a.preferred_nurse,
        "link_generation": a.link_generation,
        "reschedules": a.reschedules,
        "version": a.version,
        "holds": a.status in HOLDS_SLOT,
    }


def decode_appointment(data: dict[str, Any]) -> Appointment:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value is not None else None

    return Appointment(
        appointment_id=data["id"],
        patient_id=data["patient_id"],
        unit=data["unit"],
        kind=AppointmentKind(data["kind"]),
        start=datetime.fromisoformat(data["start"]),
        end=datetime.fromisoformat(data["end"]),
        service_zone=data["service_zone"],
        service_wall_start=datetime.fromisoformat(data["service_wall_start"]),
        patient_zone=data["patient_zone"],
        check_in_window=TimeWindow(
            datetime.fromisoformat(data["window"][0]), datetime.fromisoformat(data["window"][1])
        ),
        booked_at=datetime.fromisoformat(data["booked_at"]),
        status=AppointmentStatus(data["status"]),
        checked_in_at=when(data["checked_in_at"]),
        admitted_at=when(data["admitted_at"]),
        closed_at=when(data["closed_at"]),
        preferred_nurse=data["preferred_nurse"],
        link_generation=int(data["link_generation"]),
        reschedules=int(data["reschedules"]),
        version=int(data["version"]),
    )


def encode_patient(p: Patient) -> str:
    return json.dumps(
        {
            "nss": p.nss.value,
            "name": p.name,
            "birth_date": p.birth_date.isoformat(),
            "phone": p.contact.phone,
            "email": p.contact.email,
            "time_zone": p.time_zone,
            "language": p.language.value,
        },
        separators=(",", ":"),
    )


def decode_patient(text: str | bytes) -> Patient:
    data = json.loads(text)
    return Patient(
        nss=Nss(data["nss"]),
        name=data["name"],
        birth_date=date.fromisoformat(data["birth_date"]),
        contact=Contact(data["phone"], data["email"]),
        time_zone=data["time_zone"],
        language=Language(data["language"]),
    )
