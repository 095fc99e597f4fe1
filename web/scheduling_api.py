"""The REST face of appointments, service hours and the unit queues (JSON).

Who may call what:

* anyone: ``GET /api/service-hours`` and ``GET /api/slots`` (no personal data in them);
* staff (nurse, physician or coordinator) **of the unit**: book, reschedule and cancel its
  appointments, read its queue, take its next patient. Staff of another unit get ``403``;
* a signed-in nurse: her own state (``PUT /api/nurses/me/state``);
* the host of a consult: a follow-up for its patient (``/api/consults/{id}/follow-up``);
* the patient, with the join token of their link in ``Authorization: Bearer`` (never in the URL,
  so it reaches no access log): their place in the queue.

Every refusal is a 4xx ``{"error": {"code", "message"}}`` with the message in Spanish and English,
and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from records.access import AccessContext
from records.facts import PatientFacts
from records.repository import RecordRepository
from rooms import queue as queue_rules
from rooms.appointments import HOLDS_SLOT, Appointment, AppointmentKind, AppointmentStatus
from rooms.consult import Consult
from rooms.errors import DomainError
from rooms.hours import ServiceHours
from rooms.nurses import Nurse, NurseState
from rooms.patients import Patient, register_patient
from rooms.queue import QueuePosition
from rooms.roles import STAFF_ROLES, Action, Role, may
from rooms.slots import slots_for_local_day
from rooms.staff import StaffMember
from rooms.store.base import ConsultStore, Stores, VersionConflict
from rooms.store.commands import ConsultNotFound
from rooms.tokens import TokenError, verify
from rooms.zones import resolve_zone
from services.consults import ConsultService
from services.scheduling import UNIT_PATTERN, Scheduling
from web.auth import Authenticator
from web.config import Settings
from web.errors import ApiError, json_object
from web.security import link_base

RegisterInRecord = Callable[[PatientFacts, StaffMember, str], Awaitable[None]]
"""Registers a newly booked patient in the clinical record (patient, staff member, client address)."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_STATUS = {
    "not_found": 404,
    "wrong_unit": 403,
    "slot_taken": 409,
    "double_booking": 409,
    "invalid_appointment_state": 409,
    "appointment_cancelled": 409,
    "check_in_closed": 409,
    "nurse_not_available": 409,
    "invalid_nurse_transition": 409,
    "already_served": 409,
}


def _domain(error: DomainError) -> ApiError:
    return ApiError(_STATUS.get(error.code, 400), error.code, f"{error.message_es} / {error.message_en}")


def _bad(field: str, es: str, en: str) -> ApiError:
    return ApiError(400, "bad_payload", f"Dato no válido ({field}): {es}. / Invalid {field}: {en}.")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _string(data: Mapping[str, object], name: str, *, required: bool = True, limit: int = 254) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _bad(name, f"texto de 1 a {limit} caracteres", f"a text of 1 to {limit} characters")
    return value


def _instant(text: str | None, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text or "")
    except ValueError:
        raise _bad(name, "fecha y hora ISO 8601 con zona", "an ISO 8601 date-time with an offset") from None
    if value.tzinfo is None:
        raise _bad(
            name, "falta la zona horaria (p. ej. Z o -06:00)", "the offset is missing (e.g. Z or -06:00)"
        )
    return value


def _zone_param(request: web.Request, default: str) -> str:
    zone = request.query.get("zone", default)
    try:
        resolve_zone(zone)
    except DomainError as error:
        raise _domain(error) from None
    return zone


def _unit(value: str | None) -> str:
    if value is None or not UNIT_PATTERN.fullmatch(value):
        raise _bad(
            "unit",
            "clave de unidad de 1 a 64 letras, dígitos, - o _",
            "a unit id of 1-64 letters, digits, - or _",
        )
    return value


def appointment_view(a: Appointment) -> dict[str, object]:
    zone = resolve_zone(a.patient_zone)
    return {
        "appointment_id": a.appointment_id,
        "consult_id": a.appointment_id,
        "unit": a.unit,
        "kind": a.kind.value,
        "status": a.status.value,
        "start": a.start.isoformat(),
        "end": a.end.isoformat(),
        "start_local": a.start.astimezone(zone).isoformat(),
        "patient_zone": a.patient_zone,
        "check_in_opens": a.check_in_window.not_before.isoformat(),
        "check_in_closes": a.check_in_window.not_after.isoformat(),
        "checked_in_at": _iso(a.checked_in_at),
        "admitted_at": _iso(a.admitted_at),
        "reschedules": a.reschedules,
    }


def nurse_view(n: Nurse) -> dict[str, object]:
    return {"nurse_id": n.nurse_id, "unit": n.unit, "state": n.state.value, "since": _iso(n.since)}


def position_view(p: QueuePosition) -> dict[str, object]:
    e = p.estimate

    def minutes(value: timedelta | None) -> int | None:
        return None if value is None else -(-value // timedelta(minutes=1))

    return {
        "waiting": True,
        "place": p.place,
        "ahead": p.ahead,
        "connected": p.connected,
        "absent": p.absent,
        "expected_wait_minutes": e.expected_minutes,
        "expected_wait_low_minutes": minutes(e.low),
        "expected_wait_high_minutes": minutes(e.high),
        "basis": e.basis.value,
        "nurses_on_duty": e.nurses_on_duty,
        "nurses_available": e.nurses_available,
    }


class SchedulingApi:
    def __init__(
        self,
        *,
        scheduling: Scheduling,
        auth: Authenticator,
        consults: ConsultStore,
        token_key: bytes,
        base_url: str,
        clock: Callable[[], datetime],
        on_change: Callable[[str], Any] | None = None,
        on_cancelled: Callable[[str, datetime], Any] | None = None,
        register_in_record: RegisterInRecord | None = None,
    ) -> None:
        self._register_in_record = register_in_record
        self._scheduling = scheduling
        self._auth = auth
        self._consults = consults
        self._token_key = token_key
        self._base_url = base_url
        self._clock = clock
        self._on_change = on_change
        self._on_cancelled = on_cancelled

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/service-hours", self.service_hours),
            web.get("/api/slots", self.slots),
            web.post("/api/appointments", self.book),
            web.get("/api/appointments/{appointment_id}", self.get_appointment),
            web.patch("/api/appointments/{appointment_id}", self.reschedule),
            web.delete("/api/appointments/{appointment_id}", self.cancel),
            web.get("/api/units/{unit}/queue", self.queue),
            web.post("/api/units/{unit}/next", self.next_patient),
            web.get("/api/nurses/me/state", self.my_state),
            web.put("/api/nurses/me/state", self.set_my_state),
            web.get("/api/queue/position", self.position),
            web.get("/api/consults/{consult_id}/follow-up", self.follow_up),
            web.post("/api/consults/{consult_id}/follow-up", self.book_follow_up),
        ]

    # -- helpers -------------------------------------------------------------------------------

    async def _staff(self, request: web.Request, unit: str | None = None) -> StaffMember:
        member = await self._auth.current_staff(request)
        if member is None or member.role not in STAFF_ROLES:
            raise ApiError(401, "auth_required", "Inicie sesión. / Please sign in.")
        if unit is not None and member.unit != unit:
            raise ApiError(
                403,
                "wrong_unit",
                f"No pertenece a la unidad «{unit}». / You are not a member of unit '{unit}'.",
            )
        return member

    def _link(self, request: web.Request, token: str) -> str:
        return f"{link_base(self._base_url, request)}/paciente#t={token}"

    async def _changed(self, unit: str) -> None:
        """``unit``'s appointments, consults or queue changed: its staff consoles hear of it."""
        if self._on_change is not None:
            await self._on_change(unit)

    async def _appointment(self, request: web.Request) -> tuple[Appointment, StaffMember]:
        member = await self._staff(request)
        appointment = await self._scheduling.appointments.get(request.match_info["appointment_id"])
        if appointment is None:
            raise ApiError(404, "not_found", "Cita no encontrada. / Appointment not found.")
        if appointment.unit != member.unit:
            raise ApiError(
                403, "wrong_unit", "La cita es de otra unidad. / The appointment belongs to another unit."
            )
        return appointment, member

    # -- public ----------------------------------------------------------------------------------

    async def service_hours(self, request: web.Request) -> web.Response:
        hours: ServiceHours = self._scheduling.rules.hours
        zone_name = _zone_param(request, hours.zone_name)
        zone = resolve_zone(zone_name)
        now = self._clock()
        today = now.astimezone(hours.zone).date()
        week = []
        for offset in range(7):
            day = today + timedelta(days=offset)
            week.append(
                {
                    "date": day.isoformat(),
                    "weekday": WEEKDAYS[day.weekday()],
                    "windows": [str(w) for w in hours.windows_on(day)],
                    "intervals": [
                        {
                            "start": i.start.isoformat(),
                            "end": i.end.isoformat(),
                            "start_local": i.start.astimezone(zone).isoformat(),
                            "end_local": i.end.astimezone(zone).isoformat(),
                        }
                        for i in hours.intervals_on(day)
                    ],
                }
            )
        return web.json_response(
            {
                "service_zone": hours.zone_name,
                "zone": zone_name,
                "weekly": {name: [str(w) for w in hours.weekly[i]] for i, name in enumerate(WEEKDAYS)},
                "closures": {
                    d.isoformat(): [str(w) for w in ws] for d, ws in sorted(hours.exceptions.items())
                },
                "open_now": hours.is_open(now),
                "next_7_days": week,
                "slot_minutes": self._scheduling.rules.slots.length // timedelta(minutes=1),
            }
        )

    async def slots(self, request: web.Request) -> web.Response:
        unit = _unit(request.query.get("unit"))
        zone_name = _zone_param(request, self._scheduling.rules.hours.zone_name)
        try:
            day = date.fromisoformat(request.query.get("date", ""))
        except ValueError:
            raise _bad("date", "fecha AAAA-MM-DD", "a YYYY-MM-DD date") from None
        rules = self._scheduling.rules
        now = self._clock()
        local = slots_for_local_day(rules.hours, rules.slots, day, resolve_zone(zone_name))
        free = []
        if local:
            taken = await self._scheduling.appointments.for_unit(
                unit, local[0].slot.start - timedelta(days=1), local[-1].slot.end
            )
            for item in local:
                slot = item.slot
                if slot.start <= now or slot.start - now > rules.slots.horizon:
                    continue
                used = sum(
                    1 for a in taken if a.status in HOLDS_SLOT and a.start < slot.end and slot.start < a.end
                )
                if used < rules.slots.capacity:
                    free.append(
                        {
                            "start": slot.start.isoformat(),
                            "end": slot.end.isoformat(),
                            "start_local": item.start.isoformat(),
                            "end_local": item.end.isoformat(),
                        }
                    )
        return web.json_response({"unit": unit, "date": day.isoformat(), "zone": zone_name, "slots": free})

    # -- appointments ----------------------------------------------------------------------------

    async def book(self, request: web.Request) -> web.Response:
        data = await json_object(request)
        unit = _unit(_string(data, "unit", limit=64))
        member = await self._staff(request, unit)
        patient_data = data.get("patient")
        if not isinstance(patient_data, dict):
            raise _bad(
                "patient",
                "un objeto con nss, name, birth_date, phone/email, time_zone, language",
                "an object",
            )
        kind_text = data.get("kind", "first")
        try:
            kind = AppointmentKind(str(kind_text))
        except ValueError:
            raise _bad("kind", "«first» o «follow_up»", "'first' or 'follow_up'") from None
        start = _instant(_string(data, "start", limit=64), "start")
        try:
            birth = date.fromisoformat(str(patient_data.get("birth_date", "")))
        except ValueError:
            raise _bad("patient.birth_date", "fecha AAAA-MM-DD", "a YYYY-MM-DD date") from None
        try:
            patient = register_patient(
                nss=_string(patient_data, "nss", limit=64) or "",
                name=_string(patient_data, "name", limit=400) or "",
                birth_date=birth,
                time_zone=_string(patient_data, "time_zone", limit=64) or "",
                today=self._clock().date(),
                phone=_string(patient_data, "phone", required=False, limit=32),
                email=_string(patient_data, "email", required=False),
                language=_string(patient_data, "language", required=False, limit=8) or "es",
            )
            # Checked before booking, so a patient the clinical record would refuse books nothing.
            facts = PatientFacts(
                patient.nss.value, patient.name, patient.birth_date, phone=patient.contact.phone
            )
            booking = await self._scheduling.book(
                patient=patient, unit=unit, kind=kind, start=start, created_by=member.staff_id
            )
            if self._register_in_record is not None:
                await self._register_in_record(facts, member, request.remote or "unknown")
        except DomainError as error:
            raise _domain(error) from None
        await self._changed(unit)
        return web.json_response(
            {
                "appointment": appointment_view(booking.appointment),
                "patient_link": self._link(request, booking.token),
            },
            status=201,
        )

    async def get_appointment(self, request: web.Request) -> web.Response:
        appointment, _ = await self._appointment(request)
        return web.json_response({"appointment": appointment_view(appointment)})

    async def reschedule(self, request: web.Request) -> web.Response:
        appointment, _ = await self._appointment(request)
        data = await json_object(request)
        start = _instant(_string(data, "start", limit=64), "start")
        try:
            booking = await self._scheduling.reschedule(appointment.appointment_id, start)
        except DomainError as error:
            raise _domain(error) from None
        except VersionConflict:
            raise ApiError(
                409, "conflict", "La cita cambió; intente de nuevo. / The appointment changed; try again."
            ) from None
        await self._changed(appointment.unit)
        return web.json_response(
            {
                "appointment": appointment_view(booking.appointment),
                "patient_link": self._link(request, booking.token),
            }
        )

    async def cancel(self, request: web.Request) -> web.Response:
        appointment, member = await self._appointment(request)
        try:
            cancelled, _ = await self._scheduling.cancel(appointment.appointment_id, member)
        except DomainError as error:
            raise _domain(error) from None
        except VersionConflict:
            raise ApiError(
                409, "conflict", "La cita cambió; intente de nuevo. / The appointment changed; try again."
            ) from None
        if self._on_cancelled is not None and appointment.status is not AppointmentStatus.CANCELLED:
            await self._on_cancelled(appointment.appointment_id, self._clock())
        await self._changed(appointment.unit)
        return web.json_response({"appointment": appointment_view(cancelled)})

    # -- the queue -------------------------------------------------------------------------------

    async def queue(self, request: web.Request) -> web.Response:
        unit = _unit(request.match_info["unit"])
        member = await self._staff(request, unit)
        state, consults = await self._scheduling.queue(unit)
        now = self._clock()
        policy = self._scheduling.queue_policy
        entries = []
        for place, entry in enumerate(state.waiting, start=1):
            consult = consults.get(entry.appointment_id)
            entries.append(
                {
                    "place": place,
                    "appointment_id": entry.appointment_id,
                    "consult_id": entry.appointment_id,
                    "patient_name": consult.patient_name if consult else None,
                    "appointment_start": entry.appointment_start.isoformat(),
                    "checked_in_at": entry.checked_in_at.isoformat(),
                    "urgent": entry.urgent,
                    "connected": entry.connected,
                    "absent": entry.is_absent(now, policy),
                    "eligible_for_me": queue_rules.is_eligible(state, entry, member.staff_id, now),
                }
            )
        me = state.nurses.get(member.staff_id)
        return web.json_response(
            {
                "unit": unit,
                "entries": entries,
                "nurses": [nurse_view(n) for n in state.nurses.values()],
                "me": nurse_view(me) if me is not None else None,
                "server_time": now.isoformat(),
            }
        )

    async def next_patient(self, request: web.Request) -> web.Response:
        unit = _unit(request.match_info["unit"])
        member = await self._staff(request, unit)
        if not may(member.role, Action.ADMIT):
            raise ApiError(
                403, "forbidden", "Su rol no permite atender pacientes. / Your role may not admit patients."
            )
        try:
            pairing = await self._scheduling.next_patient(member, unit)
        except DomainError as error:
            raise _domain(error) from None
        if pairing is None:
            raise ApiError(
                404, "queue_empty", "No hay pacientes esperando. / Nobody is waiting for you right now."
            )
        consult_id = pairing.entry.appointment_id
        try:
            consult = await self._scheduling.consult_for(consult_id)
        except ConsultNotFound:
            raise ApiError(404, "not_found", "Consulta no encontrada. / Consult not found.") from None
        await self._changed(unit)
        return web.json_response(
            {
                "consult_id": consult_id,
                "appointment_id": consult_id,
                "patient_name": consult.patient_name,
                "waited_seconds": int(pairing.waited.total_seconds()),
                "nurse": nurse_view(pairing.nurse),
            }
        )

    async def my_state(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        return web.json_response(nurse_view(await self._scheduling.nurse(member)))

    async def set_my_state(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        data = await json_object(request, max_bytes=1024)
        value = data.get("state")
        if value not in ("available", "away"):
            raise _bad("state", "«available» o «away»", "'available' or 'away'")
        try:
            nurse = await self._scheduling.set_nurse_state(member, NurseState(str(value)))
        except DomainError as error:
            raise _domain(error) from None
        await self._changed(member.unit)
        return web.json_response(nurse_view(nurse))

    # -- the follow-up, booked by the nurse from the note ----------------------------------------

    async def _hosted_patient(self, request: web.Request) -> tuple[Consult, Patient, StaffMember]:
        """The consult named in the path, its patient and the signed-in staff member, who must host it.

        The patient's NSS and contact stay on the server: the nurse's page names the consult only.
        """
        member = await self._staff(request)
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
            appointment_view(a)
            for a in await self._scheduling.appointments.for_patient(patient.patient_id)
            if a.status is AppointmentStatus.BOOKED and a.start > now
        ]
        return web.json_response(
            {
                "consult_id": consult.consult_id,
                "unit": consult.unit,
                "patient_zone": patient.time_zone,
                "service_zone": self._scheduling.rules.hours.zone_name,
                "upcoming": upcoming,
            }
        )

    async def book_follow_up(self, request: web.Request) -> web.Response:
        """Book a follow-up for the consult's own patient (same unit, same contact and time zone).

        The answer is the appointment only: the patient's new link goes to the patient, not to the
        nurse's page.
        """
        consult, patient, member = await self._hosted_patient(request)
        data = await json_object(request, max_bytes=1024)
        start = _instant(_string(data, "start", limit=64), "start")
        try:
            booking = await self._scheduling.book(
                patient=patient,
                unit=consult.unit,
                kind=AppointmentKind.FOLLOW_UP,
                start=start,
                created_by=member.staff_id,
            )
        except DomainError as error:
            raise _domain(error) from None
        await self._changed(consult.unit)
        return web.json_response({"appointment": appointment_view(booking.appointment)}, status=201)

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
        body: dict[str, object] = {"waiting": False}
        if place is not None:
            body = position_view(place)
        body["status"] = appointment.status.value
        body["appointment_start"] = appointment.start.isoformat()
        body["server_time"] = now.isoformat()
        refusal = await self._scheduling.check_in_refusal(appointment, now)
        body["check_in"] = _refusal_view(refusal) if refusal is not None else None
        return web.json_response(body)


def scheduling_routes(
    settings: Settings,
    scheduling: Scheduling,
    auth: Authenticator,
    stores: Stores,
    consults: ConsultService,
    records: RecordRepository,
    clock: Callable[[], datetime],
) -> list[web.RouteDef]:
    """The routes, wired to the live side: consoles hear of every change, a cancelled consult closes,
    and a booked patient exists in the clinical record before their first note is written."""

    async def cancelled(consult_id: str, at: datetime) -> None:
        # Like a consult its host ended: pages hear why and let go, the session log is archived.
        await consults.consult_closed(consult_id, at, "appointment_cancelled")

    async def register_in_record(facts: PatientFacts, member: StaffMember, address: str) -> None:
        await records.ensure_patient(
            facts, AccessContext.staff(member.staff_id, member.full_name, member.role, address)
        )

    return SchedulingApi(
        scheduling=scheduling,
        auth=auth,
        consults=stores.consults,
        token_key=settings.secret_key,
        base_url=settings.public_url.rstrip("/"),
        clock=clock,
        on_change=consults.publish_queue,
        on_cancelled=cancelled,
        register_in_record=register_in_record,
    ).routes()


def _refusal_view(refusal: DomainError) -> dict[str, str]:
    """What checking in now would answer, as the socket would say it (code, English, Spanish, when)."""
    return {
        **refusal.detail(),
        "code": refusal.code,
        "message": refusal.message_en,
        "message_es": refusal.message_es,
    }


def _err(*codes: str) -> dict[str, object]:
    return {
        "description": ", ".join(codes),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json_ok(description: str) -> dict[str, object]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def _path_param(name: str) -> dict[str, object]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, required: bool = False) -> dict[str, object]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": {"type": "string"},
        "description": description,
    }


_STAFF: list[dict[str, list[str]]] = [{"staffSession": []}]
_START = {"type": "string", "format": "date-time", "description": "the slot's start, ISO 8601 with offset"}
_PATIENT = {
    "type": "object",
    "required": ["nss", "name", "birth_date", "time_zone"],
    "properties": {
        "nss": {"type": "string", "description": "11 digits with a valid check digit"},
        "name": {"type": "string", "maxLength": 200},
        "birth_date": {"type": "string", "format": "date"},
        "phone": {"type": "string", "description": "E.164, e.g. +525512345678"},
        "email": {"type": "string", "format": "email"},
        "time_zone": {"type": "string", "description": "IANA zone, e.g. America/Tijuana"},
        "language": {"type": "string", "enum": ["es", "en"]},
    },
}

OPENAPI_PATHS: dict[str, object] = {
    "/api/service-hours": {
        "get": {
            "summary": "Weekly service hours and closures, in Mexico City and in ?zone=",
            "tags": ["scheduling"],
            "parameters": [_query("zone", "IANA zone to show the next 7 days' intervals in")],
            "responses": {"200": _json_ok("hours"), "400": _err("unknown_time_zone")},
        }
    },
    "/api/slots": {
        "get": {
            "summary": "Free slots of a unit on a date of the patient's calendar, shown in their zone",
            "tags": ["scheduling"],
            "parameters": [
                _query("unit", "unit id", True),
                _query("date", "YYYY-MM-DD in the patient's zone", True),
                _query("zone", "the patient's IANA zone (default: the service's)"),
            ],
            "responses": {"200": _json_ok("slots"), "400": _err("bad_payload", "unknown_time_zone")},
        }
    },
    "/api/appointments": {
        "post": {
            "summary": "Book an appointment (staff of the unit); returns it and the patient's join link",
            "tags": ["scheduling"],
            "security": _STAFF,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["unit", "start", "patient"],
                            "properties": {
                                "unit": {"type": "string"},
                                "start": _START,
                                "kind": {"type": "string", "enum": ["first", "follow_up"]},
                                "patient": _PATIENT,
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _json_ok("{appointment, patient_link}"),
                "400": _err(
                    "bad_payload",
                    "invalid_nss",
                    "invalid_patient",
                    "unknown_time_zone",
                    "past_time",
                    "slot_outside_hours",
                    "not_a_slot",
                    "too_far_ahead",
                ),
                "401": _err("auth_required"),
                "403": _err("wrong_unit"),
                "409": _err("slot_taken", "double_booking"),
            },
        }
    },
    "/api/appointments/{appointment_id}": {
        "get": {
            "summary": "One appointment (staff of its unit)",
            "tags": ["scheduling"],
            "security": _STAFF,
            "parameters": [_path_param("appointment_id")],
            "responses": {
                "200": _json_ok("{appointment}"),
                "401": _err("auth_required"),
                "403": _err("wrong_unit"),
                "404": _err("not_found"),
            },
        },
        "patch": {
            "summary": "Reschedule: the old link is revoked, a new one is returned",
            "tags": ["scheduling"],
            "security": _STAFF,
            "parameters": [_path_param("appointment_id")],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "required": ["start"], "properties": {"start": _START}}
                    }
                },
            },
            "responses": {
                "200": _json_ok("{appointment, patient_link}"),
                "400": _err("bad_payload", "past_time", "slot_outside_hours", "not_a_slot"),
                "401": _err("auth_required"),
                "403": _err("wrong_unit"),
                "404": _err("not_found"),
                "409": _err("slot_taken", "double_booking", "invalid_appointment_state", "check_in_closed"),
            },
        },
        "delete": {
            "summary": "Cancel: the link is revoked, the slot freed, the consult ended",
            "tags": ["scheduling"],
            "security": _STAFF,
            "parameters": [_path_param("appointment_id")],
            "responses": {
                "200": _json_ok("{appointment}"),
                "401": _err("auth_required"),
                "403": _err("wrong_unit"),
                "404": _err("not_found"),
                "409": _err("invalid_appointment_state"),
            },
        },
    },
    "/api/units/{unit}/queue": {
        "get": {
            "summary": "The unit's waiting queue, in order (staff of the unit)",
            "tags": ["queue"],
            "security": _STAFF,
            "parameters": [_path_param("unit")],
            "responses": {
                "200": _json_ok("{entries, nurses, me}"),
                "401": _err("auth_required"),
                "403": _err("wrong_unit"),
            },
        }
    },
    "/api/units/{unit}/next": {
        "post": {
            "summary": "Next patient: atomically pairs the nurse with the head of her eligible queue",
            "tags": ["queue"],
            "security": _STAFF,
            "parameters": [_path_param("unit")],
            "responses": {
                "200": _json_ok("{consult_id, patient_name, waited_seconds, nurse}: admit consult_id"),
                "401": _err("auth_required"),
                "403": _err("wrong_unit", "forbidden"),
                "404": _err("queue_empty"),
                "409": _err("nurse_not_available"),
            },
        }
    },
    "/api/nurses/me/state": {
        "get": {
            "summary": "The signed-in nurse's queue state",
            "tags": ["queue"],
            "security": _STAFF,
            "responses": {"200": _json_ok("nurse"), "401": _err("auth_required")},
        },
        "put": {
            "summary": "Available or away",
            "tags": ["queue"],
            "security": _STAFF,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["state"],
                            "properties": {"state": {"type": "string", "enum": ["available", "away"]}},
                        }
                    }
                },
            },
            "responses": {
                "200": _json_ok("nurse"),
                "400": _err("bad_payload"),
                "401": _err("auth_required"),
                "409": _err("invalid_nurse_transition"),
            },
        },
    },
    "/api/consults/{consult_id}/follow-up": {
        "get": {
            "summary": "For the consult's host: its unit, the patient's time zone and upcoming appointments",
            "tags": ["scheduling"],
            "security": _STAFF,
            "parameters": [_path_param("consult_id")],
            "responses": {
                "200": _json_ok("{consult_id, unit, patient_zone, service_zone, upcoming}"),
                "401": _err("auth_required"),
                "403": _err("not_your_consult"),
                "404": _err("not_found"),
                "409": _err("no_patient"),
            },
        },
        "post": {
            "summary": "The consult's host books its patient's follow-up; returns the appointment (no link)",
            "tags": ["scheduling"],
            "security": _STAFF,
            "parameters": [_path_param("consult_id")],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "required": ["start"], "properties": {"start": _START}}
                    }
                },
            },
            "responses": {
                "201": _json_ok("{appointment}"),
                "400": _err("bad_payload", "past_time", "slot_outside_hours", "not_a_slot", "too_far_ahead"),
                "401": _err("auth_required"),
                "403": _err("not_your_consult"),
                "404": _err("not_found"),
                "409": _err("no_patient", "slot_taken", "double_booking"),
            },
        },
    },
    "/api/queue/position": {
        "get": {
            "summary": "The patient's place and expected wait (join token in Authorization: Bearer)",
            "tags": ["queue"],
            "security": [{"joinToken": []}],
            "responses": {
                "200": _json_ok(
                    "{waiting, place, ahead, expected_wait_minutes, …, nurses_available, status, check_in}"
                ),
                "401": _err("auth_required", "auth_invalid", "auth_expired", "auth_revoked"),
                "404": _err("not_found"),
            },
        }
    },
}
