"""The follow-up, booked by the consult's host from the note for the consult's own patient.

The patient's NSS and contact stay on the server: the nurse's page names the consult only, and the
new patient link goes to the patient, not to the nurse's page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from rooms.appointments import AppointmentKind, AppointmentStatus
from rooms.consult import Consult
from rooms.errors import DomainError
from rooms.patients import Patient
from rooms.staff import StaffMember
from rooms.store.base import ConsultStore
from services.scheduling import Scheduling
from web.auth import Authenticator
from web.errors import ApiError
from web.payloads import answer, read_body
from web.scheduling.refusals import refused
from web.schemas.appointments import AppointmentAnswer, AppointmentView, FollowUpRequest, FollowUpView


class FollowUpApi:
    def __init__(
        self,
        *,
        scheduling: Scheduling,
        auth: Authenticator,
        consults: ConsultStore,
        clock: Callable[[], datetime],
        announce: Callable[[str, str | None], Awaitable[None]],
    ) -> None:
        self._scheduling = scheduling
        self._auth = auth
        self._consults = consults
        self._clock = clock
        self._announce = announce

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/consults/{consult_id}/follow-up", self.follow_up),
            web.post("/api/consults/{consult_id}/follow-up", self.book_follow_up),
        ]

    async def _hosted_patient(self, request: web.Request) -> tuple[Consult, Patient, StaffMember]:
        """The consult named in the path, its patient and the signed-in staff member, who must host it."""
        member = await self._auth.require_staff(request)
        consult = await self._consults.get(request.match_info["consult_id"])
        if consult is None:
            raise ApiError(404, "not_found", "Consulta no encontrada. / Consult not found.")
        if consult.host_id != member.staff_id:
            raise ApiError(
                403,
                "not_your_consult",
                "Solo quien atiende la consulta agenda su seguimiento. / "
                "Only the consult's host books its follow-up.",
            )
        nss = consult.record_nss
        patient = await self._scheduling.appointments.get_patient(nss) if nss else None
        if patient is None or not consult.unit:
            raise ApiError(
                409,
                "no_patient",
                "Esta consulta no tiene un paciente con cita en una unidad. / "
                "This consult has no patient booked in a unit.",
            )
        return consult, patient, member

    async def follow_up(self, request: web.Request) -> web.Response:
        """What the nurse needs to offer a follow-up slot: the unit, the patient's time zone (slots
        are shown in hers and theirs) and the patient's appointments still to come."""
        consult, patient, _ = await self._hosted_patient(request)
        now = self._clock()
        upcoming = [
            AppointmentView.of(a)
            for a in await self._scheduling.appointments.for_patient(patient.patient_id)
            if a.status is AppointmentStatus.BOOKED and a.start > now
        ]
        return answer(
            FollowUpView(
                consult_id=consult.consult_id,
                unit=consult.unit,
                patient_zone=patient.time_zone,
                service_zone=self._scheduling.rules.hours.zone_name,
                upcoming=upcoming,
            )
        )

    async def book_follow_up(self, request: web.Request) -> web.Response:
        """Book a follow-up for the consult's own patient (same unit, same contact and time zone)."""
        consult, patient, member = await self._hosted_patient(request)
        body = await read_body(request, FollowUpRequest)
        try:
            booking = await self._scheduling.book(
                patient=patient,
                unit=consult.unit,
                kind=AppointmentKind.FOLLOW_UP,
                start=body.start,
                created_by=member.staff_id,
            )
        except DomainError as error:
            raise refused(error) from None
        await self._announce(consult.unit, booking.consult.consult_id)
        return answer(AppointmentAnswer(appointment=AppointmentView.of(booking.appointment)), 201)
