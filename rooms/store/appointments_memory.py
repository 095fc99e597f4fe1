"""The appointment store for a single process.

Each method is a coroutine with no ``await`` between checking for conflicts and writing, so it runs
atomically on the event loop: two bookings of the last free place in a slot cannot both succeed.
"""

from __future__ import annotations

from datetime import datetime

from rooms.appointments import HOLDS_SLOT, Appointment, DoubleBooking, SlotTaken
from rooms.patients import Patient
from rooms.store.appointments import overlaps
from rooms.store.base import VersionConflict


class MemoryAppointmentStore:
    def __init__(self) -> None:
        self._appointments: dict[str, Appointment] = {}
        self._patients: dict[str, Patient] = {}

    def _check(self, appointment: Appointment, capacity: int) -> None:
        if appointment.status not in HOLDS_SLOT:
            return
        in_slot = 0
        for other in self._appointments.values():
            if other.appointment_id == appointment.appointment_id or other.status not in HOLDS_SLOT:
                continue
            if not overlaps(other, appointment.start, appointment.end):
                continue
            if other.patient_id == appointment.patient_id:
                raise DoubleBooking()
            if other.unit == appointment.unit:
                in_slot += 1
        if in_slot >= capacity:
            raise SlotTaken()

    async def add(self, appointment: Appointment, capacity: int) -> None:
        if appointment.appointment_id in self._appointments:
            raise VersionConflict(f"appointment {appointment.appointment_id} exists")
        self._check(appointment, capacity)
        self._appointments[appointment.appointment_id] = appointment

    async def save(self, appointment: Appointment, expected_version: int, capacity: int) -> None:
        current = self._appointments.get(appointment.appointment_id)
        if current is None or current.version != expected_version:
            raise VersionConflict(appointment.appointment_id)
        if (current.start, current.end) != (appointment.start, appointment.end):
            self._check(appointment, capacity)
        self._appointments[appointment.appointment_id] = appointment

    async def get(self, appointment_id: str) -> Appointment | None:
        return self._appointments.get(appointment_id)

    async def for_unit(self, unit: str, start: datetime, end: datetime) -> list[Appointment]:
        found = [a for a in self._appointments.values() if a.unit == unit and start <= a.start < end]
        return sorted(found, key=lambda a: (a.start, a.appointment_id))

    async def for_patient(self, patient_id: str) -> list[Appointment]:
        found = [a for a in self._appointments.values() if a.patient_id == patient_id]
        return sorted(found, key=lambda a: (a.start, a.appointment_id))

    async def put_patient(self, patient: Patient) -> None:
        self._patients[patient.patient_id] = patient

    async def get_patient(self, patient_id: str) -> Patient | None:
        return self._patients.get(patient_id)

    async def aclose(self) -> None:
        return None
