"""Booking with a client request id: a retry returns the first booking, with the same link.

A client that sent a booking and heard nothing back (a timeout, a ``503`` while a dependency was
down) sends it again with the same key (``Idempotency-Key``). The appointment's id is derived from
the key (an HMAC with the server's key, scoped to the unit), so the retry finds the first request's
appointment instead of booking a second one — no ``409 double_booking`` for one's own retry — and
gets the same consult and the same link (the link's times come from the appointment). Two requests
with the same key racing each other: the store's atomic check lets one book, and the other, refused
as a double booking, finds that one's appointment and answers with it. A first request that stopped
between storing the appointment and its consult is completed by the retry. The same key for another
patient is refused (``request_id_reused``): a key names one booking.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rooms.appointments import AppointmentKind, DoubleBooking
from rooms.errors import DomainError
from rooms.patients import Patient
from services.ports import Outbox
from services.scheduling import Booking, Scheduling


class RequestIdReused(DomainError):
    CODE: ClassVar[str] = "request_id_reused"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Esa clave de solicitud ya se usó para otra cita; use una nueva.",
            "That request key was already used for another booking; use a new one.",
        )


@dataclass(frozen=True, slots=True)
class Booked:
    booking: Booking
    replayed: bool
    """The key's booking existed already: this is it again, nothing new was stored."""


class IdempotentBooking:
    def __init__(self, scheduling: Scheduling, key: bytes) -> None:
        self._scheduling = scheduling
        self._key = key

    def appointment_id(self, unit: str, request_id: str) -> str:
        digest = hmac.new(self._key, f"booking\0{unit}\0{request_id}".encode(), hashlib.sha256)
        return "c-" + digest.hexdigest()[:16]

    async def book(
        self,
        *,
        request_id: str | None,
        patient: Patient,
        unit: str,
        kind: AppointmentKind,
        start: datetime,
        created_by: str,
        channels: Sequence[str] | None = None,
        outbox: Outbox | None = None,
    ) -> Booked:
        """Book, or return the booking ``request_id`` made before (``None``: an ordinary booking)."""
        book = self._scheduling.book
        if request_id is None:
            booking = await book(
                patient=patient,
                unit=unit,
                kind=kind,
                start=start,
                created_by=created_by,
                channels=channels,
                outbox=outbox,
            )
            return Booked(booking, replayed=False)
        appointment_id = self.appointment_id(unit, request_id)
        if (earlier := await self._earlier(appointment_id, patient, created_by)) is not None:
            return Booked(earlier, replayed=True)
        try:
            booking = await book(
                patient=patient,
                unit=unit,
                kind=kind,
                start=start,
                created_by=created_by,
                appointment_id=appointment_id,
                channels=channels,
                outbox=outbox,
            )
        except DoubleBooking:
            # The same key racing this request booked first: its booking is this one's answer.
            if (earlier := await self._earlier(appointment_id, patient, created_by)) is not None:
                return Booked(earlier, replayed=True)
            raise
        return Booked(booking, replayed=False)

    async def _earlier(self, appointment_id: str, patient: Patient, created_by: str) -> Booking | None:
        scheduling = self._scheduling
        appointment = await scheduling.appointments.get(appointment_id)
        if appointment is None:
            return None
        if appointment.patient_id != patient.patient_id:
            raise RequestIdReused()
        consult = await scheduling.consults.get(appointment_id)
        if consult is None:  # the first request stopped before storing its consult: finish it
            return await scheduling.complete_booking(appointment, patient, created_by, appointment.booked_at)
        # Scheduling.book signed the first link at the time it booked: the same time gives the same link.
        return Booking(
            appointment, consult, scheduling.link_token(appointment, consult, appointment.booked_at)
        )
