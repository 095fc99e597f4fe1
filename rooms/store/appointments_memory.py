"""The appointment store for a single process.

Each method is a coroutine with no ``await`` between checking for conflicts and writing, so it runs
atomically on the event loop: two bookings of the last free place in a slot cannot both succeed.

A booking costs the same in an empty slot and in a full one: the store keeps how many appointments
hold each of a unit's slots (``(start, end)`` → count, with the slots sorted by start) and each
patient's appointment ids, so the checks read a few counters and the patient's own appointments,
never the slot's list.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import datetime

from rooms.appointments import HOLDS_SLOT, Appointment, AppointmentStatus, DoubleBooking, SlotTaken
from rooms.patients import Patient
from rooms.store.appointments import MAX_APPOINTMENT, overlaps
from rooms.store.base import VersionConflict

Slot = tuple[datetime, datetime]


class MemoryAppointmentStore:
    def __init__(self) -> None:
        self._appointments: dict[str, Appointment] = {}
        self._patients: dict[str, Patient] = {}
        self._by_patient: dict[str, set[str]] = defaultdict(set)
        self._by_unit: dict[str, set[str]] = defaultdict(set)
        self._held: dict[str, dict[Slot, int]] = defaultdict(dict)
        """Unit → slot → how many appointments hold it (only slots held at all)."""
        self._slots: dict[str, list[Slot]] = defaultdict(list)
        """Unit → its held slots, sorted (by start)."""
        self._booked: list[tuple[datetime, str]] = []
        """(check-in window end, id) of every booked appointment, sorted: the due no-shows first."""

    def _count(self, appointment: Appointment, delta: int) -> None:
        if appointment.status not in HOLDS_SLOT:
            return
        slot = (appointment.start, appointment.end)
        held, slots = self._held[appointment.unit], self._slots[appointment.unit]
        count = held.get(slot, 0) + delta
        if count > 0:
            if slot not in held:
                bisect.insort(slots, slot)
            held[slot] = count
        elif slot in held:
            del held[slot]
            slots.pop(bisect.bisect_left(slots, slot))

    def _holders(self, appointment: Appointment) -> int:
        """How many appointments hold a slot of the unit that overlaps ``appointment``'s time."""
        slots = self._slots[appointment.unit]
        held = self._held[appointment.unit]
        low = bisect.bisect_left(slots, (appointment.start - MAX_APPOINTMENT, appointment.start))
        high = bisect.bisect_left(slots, (appointment.end, appointment.end))
        return sum(held[slot] for slot in slots[low:high] if slot[1] > appointment.start)

    def _check(self, appointment: Appointment, capacity: int, current: Appointment | None) -> None:
        if appointment.status not in HOLDS_SLOT:
            return
        for other_id in self._by_patient[appointment.patient_id]:
            other = self._appointments[other_id]
            if other_id == appointment.appointment_id or other.status not in HOLDS_SLOT:
                continue
            if overlaps(other, appointment.start, appointment.end):
                raise DoubleBooking()
        in_slot = self._holders(appointment)
        if (
            current is not None
            and current.status in HOLDS_SLOT
            and overlaps(current, appointment.start, appointment.end)
        ):
            in_slot -= 1  # itself, at its old time
        if in_slot >= capacity:
            raise SlotTaken()

    def _due_index(self, appointment: Appointment, delta: int) -> None:
        if appointment.status is not AppointmentStatus.BOOKED:
            return
        key = (appointment.check_in_window.not_after, appointment.appointment_id)
        if delta > 0:
            bisect.insort(self._booked, key)
        else:
            self._booked.pop(bisect.bisect_left(self._booked, key))

    def _put(self, appointment: Appointment, current: Appointment | None) -> None:
        if current is not None:
            self._count(current, -1)
            self._due_index(current, -1)
        self._count(appointment, +1)
        self._due_index(appointment, +1)
        self._appointments[appointment.appointment_id] = appointment
        self._by_patient[appointment.patient_id].add(appointment.appointment_id)
        self._by_unit[appointment.unit].add(appointment.appointment_id)

    async def add(self, appointment: Appointment, capacity: int) -> None:
        if appointment.appointment_id in self._appointments:
            raise VersionConflict(f"appointment {appointment.appointment_id} exists")
        self._check(appointment, capacity, None)
        self._put(appointment, None)

    async def save(self, appointment: Appointment, expected_version: int, capacity: int) -> None:
        current = self._appointments.get(appointment.appointment_id)
        if current is None or current.version != expected_version:
            raise VersionConflict(appointment.appointment_id)
        if (current.start, current.end) != (appointment.start, appointment.end):
            self._check(appointment, capacity, current)
        self._put(appointment, current)

    async def get(self, appointment_id: str) -> Appointment | None:
        return self._appointments.get(appointment_id)

    async def for_unit(self, unit: str, start: datetime, end: datetime) -> list[Appointment]:
        found = [self._appointments[i] for i in self._by_unit[unit]]
        return sorted((a for a in found if start <= a.start < end), key=lambda a: (a.start, a.appointment_id))

    async def for_patient(self, patient_id: str) -> list[Appointment]:
        found = [self._appointments[i] for i in self._by_patient[patient_id]]
        return sorted(found, key=lambda a: (a.start, a.appointment_id))

    async def due(self, until: datetime) -> list[Appointment]:
        end = bisect.bisect_right(self._booked, (until, "\U0010ffff"))
        return [self._appointments[i] for _, i in self._booked[:end]]

    async def put_patient(self, patient: Patient) -> None:
        self._patients[patient.patient_id] = patient

    async def get_patient(self, patient_id: str) -> Patient | None:
        return self._patients.get(patient_id)

    async def aclose(self) -> None:
        return None
