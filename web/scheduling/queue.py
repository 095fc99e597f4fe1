"""A unit's queue, "next patient" and the nurse's own state: staff of the unit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from rooms import queue as queue_rules
from rooms.errors import DomainError
from rooms.nurses import NurseState
from rooms.roles import Action, may
from rooms.store.commands import ConsultNotFound
from services.scheduling import UNIT_PATTERN, Scheduling
from signaling import views
from web.auth import Authenticator
from web.errors import ApiError
from web.payloads import answer, bad_payload, read_body
from web.scheduling.refusals import refused
from web.schemas.queue import NextPatientView, NurseStateRequest, NurseView, QueueEntryView, QueueView


def _unit(request: web.Request) -> str:
    unit = request.match_info["unit"]
    if not UNIT_PATTERN.fullmatch(unit):
        raise bad_payload("unit")
    return unit


class QueueApi:
    def __init__(
        self,
        *,
        scheduling: Scheduling,
        auth: Authenticator,
        clock: Callable[[], datetime],
        announce: Callable[[str, str | None], Awaitable[None]],
    ) -> None:
        self._scheduling = scheduling
        self._auth = auth
        self._clock = clock
        self._announce = announce

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/units/{unit}/queue", self.queue),
            web.post("/api/units/{unit}/next", self.next_patient),
            web.get("/api/nurses/me/state", self.my_state),
            web.put("/api/nurses/me/state", self.set_my_state),
        ]

    async def queue(self, request: web.Request) -> web.Response:
        unit = _unit(request)
        member = await self._auth.require_staff(request, unit)
        state, listed = await self._scheduling.queue(unit, member.staff_id)
        consults = {c.consult_id: c for c in listed}
        now = self._clock()
        policy = self._scheduling.queue_policy
        entries = []
        for place, entry in enumerate(state.waiting, start=1):
            consult = consults.get(entry.appointment_id)
            entries.append(
                QueueEntryView(
                    place=place,
                    appointment_id=entry.appointment_id,
                    consult_id=entry.appointment_id,
                    patient_name=consult.patient_name if consult else None,
                    appointment_start=entry.appointment_start.isoformat(),
                    checked_in_at=entry.checked_in_at.isoformat(),
                    urgent=entry.urgent,
                    connected=entry.connected,
                    absent=entry.is_absent(now, policy),
                    eligible_for_me=queue_rules.is_eligible(state, entry, member.staff_id, now),
                )
            )
        me = state.nurses.get(member.staff_id)
        return answer(
            QueueView(
                unit=unit,
                entries=entries,
                nurses=[NurseView.of(n) for n in state.nurses.values()],
                me=NurseView.of(me) if me is not None else None,
                server_time=now.isoformat(),
                version=state.version,
                consults=[views.listed(c) for c in sorted(listed, key=views.queue_order)],
                absent_after_seconds=int(policy.absent_after.total_seconds()),
            )
        )

    async def next_patient(self, request: web.Request) -> web.Response:
        """Atomically the head of the nurse's eligible queue: two nurses never get the same patient."""
        unit = _unit(request)
        member = await self._auth.require_staff(request, unit)
        if not may(member.role, Action.ADMIT):
            raise ApiError(
                403, "forbidden", "Su rol no permite atender pacientes. / Your role may not admit patients."
            )
        try:
            pairing = await self._scheduling.next_patient(member, unit)
        except DomainError as error:
            raise refused(error) from None
        if pairing is None:
            raise ApiError(
                404, "queue_empty", "No hay pacientes esperando. / Nobody is waiting for you right now."
            )
        consult_id = pairing.entry.appointment_id
        try:
            consult = await self._scheduling.consult_for(consult_id)
        except ConsultNotFound:
            raise ApiError(404, "not_found", "Consulta no encontrada. / Consult not found.") from None
        await self._announce(unit, None)
        return answer(
            NextPatientView(
                consult_id=consult_id,
                appointment_id=consult_id,
                patient_name=consult.patient_name,
                waited_seconds=int(pairing.waited.total_seconds()),
                nurse=NurseView.of(pairing.nurse),
            )
        )

    async def my_state(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        return answer(NurseView.of(await self._scheduling.nurse(member)))

    async def set_my_state(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        body = await read_body(request, NurseStateRequest)
        try:
            nurse = await self._scheduling.set_nurse_state(member, NurseState(body.state))
        except DomainError as error:
            raise refused(error) from None
        await self._announce(member.unit, None)
        return answer(NurseView.of(nurse))
