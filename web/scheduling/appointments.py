"""Booking, reading, rescheduling and cancelling appointments: staff of the appointment's unit."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from records.facts import PatientFacts
from rooms.appointments import Appointment, AppointmentStatus
from rooms.errors import DomainError
from rooms.patients import register_patient
from rooms.staff import StaffMember
from rooms.store.base import VersionConflict
from services.idempotent_booking import IdempotentBooking
from services.ports import Outbox
from services.scheduling import Scheduling
from web.auth import Authenticator, require_unit
from web.errors import ApiError
from web.payloads import answer, read_body
from web.scheduling.refusals import changed_meanwhile, refused
from web.schemas.appointments import (
    AppointmentAnswer,
    AppointmentView,
    BookingAnswer,
    BookingRequest,
    RescheduleRequest,
)
from web.security import link_base

RegisterInRecord = Callable[[PatientFacts, StaffMember, str], Outbox]
"""The outbox a booking records its messages through, registering the patient in the clinical record
in the same transaction (patient, staff member, client address)."""
Cancelled = Callable[[str, datetime], Awaitable[None]]
"""Closes the consult of a cancelled appointment (its id, when)."""


IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,100}")


def _request_id(request: web.Request, in_body: str | None) -> str | None:
    """The client's key for this booking: the ``Idempotency-Key`` header, else the body's ``request_id``."""
    header = request.headers.get("Idempotency-Key")
    if header is None:
        return in_body
    if not IDEMPOTENCY_KEY.fullmatch(header) or (in_body is not None and in_body != header):
        raise ApiError(
            400,
            "bad_payload",
            "Idempotency-Key: de 1 a 100 caracteres visibles, igual a request_id si se envían ambos. / "
            "Idempotency-Key: 1 to 100 visible characters, equal to request_id when both are sent.",
        )
    return header


class AppointmentsApi:
    def __init__(
        self,
        *,
        scheduling: Scheduling,
        token_key: bytes,
        auth: Authenticator,
        base_url: str,
        clock: Callable[[], datetime],
        announce: Callable[[str, str | None], Awaitable[None]],
        on_cancelled: Cancelled,
        register_in_record: RegisterInRecord,
    ) -> None:
        self._scheduling = scheduling
        self._booking = IdempotentBooking(scheduling, token_key)
        self._auth = auth
        self._base_url = base_url
        self._clock = clock
        self._announce = announce
        self._on_cancelled = on_cancelled
        self._register_in_record = register_in_record

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/appointments", self.book),
            web.get("/api/appointments/{appointment_id}", self.get),
            web.patch("/api/appointments/{appointment_id}", self.reschedule),
            web.delete("/api/appointments/{appointment_id}", self.cancel),
        ]

    def _link(self, request: web.Request, token: str) -> str:
        return f"{link_base(self._base_url, request)}/paciente#t={token}"

    async def _appointment(self, request: web.Request) -> tuple[Appointment, StaffMember]:
        """The appointment in the path, for a signed-in member of its unit."""
        member = await self._auth.require_staff(request)
        appointment = await self._scheduling.appointments.get(request.match_info["appointment_id"])
        if appointment is None:
            raise ApiError(404, "not_found", "Cita no encontrada. / Appointment not found.")
        if appointment.unit != member.unit:
            raise ApiError(
                403, "wrong_unit", "La cita es de otra unidad. / The appointment belongs to another unit."
            )
        return appointment, member

    async def book(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        body = await read_body(request, BookingRequest)
        require_unit(member, body.unit)
        asked = body.patient
        try:
            patient = register_patient(
                nss=asked.nss,
                name=asked.name,
                birth_date=asked.birth_date,
                time_zone=asked.time_zone,
                today=self._clock().date(),
                phone=asked.phone,
                email=asked.email,
                language=asked.language or "es",
            )
            # Checked before booking, so a patient the clinical record would refuse books nothing.
            facts = PatientFacts(
                patient.nss.value, patient.name, patient.birth_date, phone=patient.contact.phone
            )
            # The record database first (the outbox registers the patient in the same transaction
            # before the stores' writes run): if it is down the booking fails (503) with nothing in Redis.
            booked = await self._booking.book(
                request_id=_request_id(request, body.request_id),
                patient=patient,
                unit=body.unit,
                kind=body.kind,
                start=body.start,
                created_by=member.staff_id,
                channels=body.channels,
                outbox=self._register_in_record(facts, member, request.remote or "unknown"),
            )
        except DomainError as error:
            raise refused(error) from None
        booking = booked.booking
        if not booked.replayed:
            await self._announce(body.unit, booking.consult.consult_id)
        view = BookingAnswer(
            appointment=AppointmentView.of(booking.appointment),
            patient_link=self._link(request, booking.token),
        )
        response = answer(view, 201)
        if booked.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    async def get(self, request: web.Request) -> web.Response:
        appointment, _ = await self._appointment(request)
        return answer(AppointmentAnswer(appointment=AppointmentView.of(appointment)))

    async def reschedule(self, request: web.Request) -> web.Response:
        """A new slot: the old link is revoked and a new one returned; the patient leaves the queue."""
        appointment, _ = await self._appointment(request)
        body = await read_body(request, RescheduleRequest)
        try:
            booking = await self._scheduling.reschedule(appointment.appointment_id, body.start)
        except DomainError as error:
            raise refused(error) from None
        except VersionConflict:
            raise changed_meanwhile() from None
        await self._announce(appointment.unit, appointment.appointment_id)
        view = BookingAnswer(
            appointment=AppointmentView.of(booking.appointment),
            patient_link=self._link(request, booking.token),
        )
        return answer(view)

    async def cancel(self, request: web.Request) -> web.Response:
        """The link is revoked, the slot freed and the consult ended (its pages hear why)."""
        appointment, member = await self._appointment(request)
        try:
            cancelled, _ = await self._scheduling.cancel(appointment.appointment_id, member)
        except DomainError as error:
            raise refused(error) from None
        except VersionConflict:
            raise changed_meanwhile() from None
        if appointment.status is not AppointmentStatus.CANCELLED:
            await self._on_cancelled(appointment.appointment_id, self._clock())
        await self._announce(appointment.unit, appointment.appointment_id)
        return answer(AppointmentAnswer(appointment=AppointmentView.of(cancelled)))
