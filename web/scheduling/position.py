"""The patient's place in the queue and expected wait, read with their own link.

The join token travels in ``Authorization: Bearer`` (never in the URL, so it reaches no access
log), and only the patient's own token reads it: an invitee's link is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from rooms.appointments import AppointmentStatus
from rooms.roles import Role
from rooms.store.base import ConsultStore
from rooms.tokens import TokenError, verify
from services.scheduling import Scheduling
from web.errors import ApiError
from web.payloads import answer
from web.schemas.queue import CheckInRefusal, NotWaiting, PositionView, Waiting


class PositionApi:
    def __init__(
        self,
        *,
        scheduling: Scheduling,
        consults: ConsultStore,
        token_key: bytes,
        clock: Callable[[], datetime],
    ) -> None:
        self._scheduling = scheduling
        self._consults = consults
        self._token_key = token_key
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/queue/position", self.position)]

    async def position(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or len(header) > 2048:
            raise ApiError(
                401, "auth_required", "Falta el enlace de la cita. / The appointment link is missing."
            )
        try:
            claims = verify(self._token_key, header[7:].strip(), self._clock().timestamp())
        except TokenError as error:
            raise ApiError(401, error.code, "El enlace no es válido. / The link is not valid.") from None
        if claims.role is not Role.PATIENT:
            raise ApiError(
                403, "forbidden", "Solo el paciente ve su lugar. / Only the patient sees their place."
            )
        appointment, place = await self._scheduling.position(claims.consult_id, claims.participant_id)
        if appointment is None:
            raise ApiError(
                404, "not_found", "Esta consulta no tiene cita. / This consult has no appointment."
            )
        cancelled = appointment.status is AppointmentStatus.CANCELLED
        if not cancelled and await self._consults.is_token_revoked(claims.token_id):
            # A cancelled appointment's link says so (the page shows it); a replaced one is refused.
            raise ApiError(401, "auth_revoked", "Este enlace fue cancelado. / This link has been revoked.")
        now = self._clock()
        refusal = await self._scheduling.check_in_refusal(appointment, now)
        check_in = CheckInRefusal.of(refusal) if refusal is not None else None
        if place is None:
            view = PositionView(
                NotWaiting(
                    waiting=False,
                    status=appointment.status,
                    appointment_start=appointment.start.isoformat(),
                    server_time=now.isoformat(),
                    check_in=check_in,
                )
            )
        else:
            view = PositionView(Waiting.of(place, appointment.status, appointment.start, now, check_in))
        return answer(view)
