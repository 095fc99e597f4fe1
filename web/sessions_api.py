"""REST for invitations by link and for inter-unit (hospital telemedicine) sessions.

Invitations share their code with the socket event ``consult:invite``
(:meth:`SignalingServer.invite`), so a link made here and one made from the console are the same
thing; revoking one (:meth:`SignalingServer.revoke_invite`) takes the invitee out of the call and
makes their link fail at once. Inter-unit sessions follow the pure rules of ``rooms/interunit.py``:
only a coordinator creates one, and hosts it.

``OPENAPI_PATHS`` describes every route here (OpenAPI 3.1 path items) for ``web/openapi.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rooms import interunit
from rooms.consult import Actor, Consult, ConsultKind
from rooms.errors import DomainError
from rooms.interunit import InterunitError, Purpose
from rooms.roles import STAFF_ROLES, Role
from rooms.staff import StaffMember
from rooms.store.base import Stores, VersionConflict
from signaling import views
from signaling.errors import SignalingError
from signaling.messages import PERSON_NAME, PersonName
from signaling.server import SignalingServer
from web.config import Settings
from web.errors import ApiError, json_object
from web.security import link_base

SESSIONS_PAGE = Path(__file__).parent / "static" / "sessions.html"

_STATUS = {
    "bad_payload": 400,
    "unknown_specialty": 400,
    "auth_required": 401,
    "forbidden": 403,
    "not_your_consult": 403,
    "wrong_unit": 403,
    "not_found": 404,
    "too_many_sites": 409,
    "room_full": 409,
    "room_locked": 409,
    "invalid_state": 409,
    "consult_ended": 409,
    "denied": 409,
    "conflict": 409,
}
_SPANISH = {
    "bad_payload": "Datos no válidos.",
    "unknown_specialty": "Esa especialidad no está en la lista.",
    "forbidden": "Su rol no permite esta acción.",
    "not_your_consult": "Esta sesión la coordina otra persona.",
    "wrong_unit": "Esta consulta pertenece a otra unidad.",
    "not_found": "No encontrado.",
    "too_many_sites": f"Una sesión une como máximo {interunit.MAX_SITES} sedes.",
    "room_full": "La llamada está llena.",
    "room_locked": "La sala está cerrada.",
    "invalid_state": "Esta acción no es posible ahora.",
    "consult_ended": "La consulta ya terminó.",
    "denied": "Acceso denegado.",
    "conflict": "Hubo un cambio simultáneo; intente de nuevo.",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InviteBody(_Body):
    role: Literal["companion", "interpreter", "physician", "observer", "coordinator"]
    name: PersonName


class SessionBody(_Body):
    purpose: Literal["emergency_assessment", "surgical_planning", "case_presentation", "second_opinion"]
    specialty: str = Field(min_length=1, max_length=80)
    scheduled_at: str = Field(min_length=10, max_length=40)
    duration_minutes: int = Field(default=60, ge=15, le=720)
    clues: str = Field(min_length=1, max_length=20)
    unit_name: PersonName
    patient_nss: str | None = Field(default=None, max_length=32)
    """The patient a case presentation or second opinion is about (optional)."""


class SiteBody(_Body):
    clues: str = Field(min_length=1, max_length=20)
    unit_name: PersonName
    name: PersonName
    role: Literal["physician", "nurse", "coordinator", "observer"]


def _error(code: str, message: str) -> ApiError:
    spanish = _SPANISH.get(code, "Error.")
    return ApiError(_STATUS.get(code, 400), code, f"{spanish} / {message}")


def _refusal(error: Exception) -> ApiError:
    if isinstance(error, SignalingError):
        return _error(str(error.code), error.message)
    if isinstance(error, VersionConflict):
        return _error("conflict", "The consult changed at the same time; try again.")
    if isinstance(error, DomainError):  # the rule's own words in both languages
        return ApiError(_STATUS.get(error.code, 400), error.code, f"{error.message_es} / {error.message_en}")
    raise error


def _parse(model: type[_Body], data: dict[str, object]) -> _Body:
    try:
        return model.model_validate(data)
    except ValidationError as error:  # name the fields, never echo the values
        fields = ", ".join(sorted({".".join(str(p) for p in e["loc"]) or "body" for e in error.errors()}))
        raise _error("bad_payload", f"Invalid fields: {fields}.") from None


@dataclass(frozen=True, slots=True)
class SessionPatients:
    """What the clinical record tells and grants about the patient a session is about."""

    known: Callable[[str], Awaitable[bool]]
    """Whether the record has a patient with this NSS."""
    grant_care: Callable[[Consult, str], Awaitable[None]]
    """Give the session's host a role in its patient's care (session, client address)."""


class SessionsApi:
    def __init__(
        self,
        stores: Stores,
        signaling: SignalingServer,
        staff_of: Callable[[web.Request], Awaitable[StaffMember | None]],
        settings: Settings,
        clock: Callable[[], datetime],
        patients: SessionPatients | None = None,
    ) -> None:
        self._patients = patients
        self._stores = stores
        self._signaling = signaling
        self._staff_of = staff_of
        self._settings = settings
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/sesiones", self.page),
            web.post("/api/consults/{consult_id}/invites", self.create_invite),
            web.delete("/api/invites/{token_id}", self.revoke_invite),
            web.get("/api/interunit-options", self.options),
            web.get("/api/interunit-sessions", self.list_sessions),
            web.post("/api/interunit-sessions", self.create_session),
            web.get("/api/interunit-sessions/{session_id}", self.get_session),
            web.post("/api/interunit-sessions/{session_id}/sites", self.add_site),
            web.delete("/api/interunit-sessions/{session_id}/sites/{site_id}", self.remove_site),
        ]

    async def page(self, _: web.Request) -> web.FileResponse:
        return web.FileResponse(SESSIONS_PAGE, headers={"Cache-Control": "no-store"})

    # -- invitations ---------------------------------------------------------------------------

    async def create_invite(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        body = _parse(InviteBody, await json_object(request))
        assert isinstance(body, InviteBody)
        consult_id = request.match_info["consult_id"]
        try:
            guest, token = await self._signaling.invite(
                _actor(member, request), consult_id, Role(body.role), body.name
            )
        except Exception as error:
            raise _refusal(error) from None
        return web.json_response(
            {
                "consult_id": consult_id,
                "invitee": views.participant(guest),
                "token_id": guest.token_id,
                "token": token,
                "link": self._link(request, token),
            },
            status=201,
        )

    async def revoke_invite(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        token_id = request.match_info["token_id"]
        if not 1 <= len(token_id) <= 128:
            raise _error("not_found", "No such invitation.")
        for consult in await self._stores.consults.open_consults():
            invitee = next((i for i in consult.invitees if i.token_id == token_id), None)
            if invitee is not None:
                break
        else:
            raise _error("not_found", "No such invitation.")
        try:
            await self._signaling.revoke_invite(
                _actor(member, request), consult.consult_id, invitee.participant_id
            )
        except Exception as error:
            raise _refusal(error) from None
        return web.json_response(
            {"ok": True, "consult_id": consult.consult_id, "participant_id": invitee.participant_id}
        )

    # -- inter-unit sessions -----------------------------------------------------------------------

    async def options(self, request: web.Request) -> web.Response:
        await self._staff(request)
        return web.json_response(
            {
                "purposes": [{"value": p.value, "label": dict(interunit.PURPOSE_LABELS[p])} for p in Purpose],
                "specialties": list(self._settings.interunit_specialties),
                "site_roles": sorted(role.value for role in interunit.SITE_ROLES),
                "max_sites": interunit.MAX_SITES,
            }
        )

    async def list_sessions(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        sessions = [
            interunit.to_json(c)
            for c in await self._stores.consults.open_hosted_by(member.staff_id)
            if c.kind is ConsultKind.INTERUNIT
        ]
        sessions.sort(key=lambda s: str(s["scheduled_at"]))
        return web.json_response({"sessions": sessions})

    async def create_session(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        body = _parse(SessionBody, await json_object(request))
        assert isinstance(body, SessionBody)
        try:
            scheduled_at = datetime.fromisoformat(body.scheduled_at)
        except ValueError:
            raise _error("bad_payload", "Invalid fields: scheduled_at.") from None
        try:
            transition = interunit.create(
                session_id="iu-" + secrets.token_hex(6),
                coordinator=_actor(member, request),
                coordinator_name=member.full_name,
                purpose=Purpose(body.purpose),
                specialty=body.specialty,
                specialties=self._settings.interunit_specialties,
                scheduled_at=scheduled_at,
                duration=timedelta(minutes=body.duration_minutes),
                host_clues=body.clues,
                host_unit=body.unit_name,
                at=self._clock(),
                unit=member.unit,
                patient_nss=body.patient_nss or "",
            )
        except DomainError as error:
            raise _refusal(error) from None
        session = transition.consult
        if session.patient_nss and (
            self._patients is None or not await self._patients.known(session.patient_nss)
        ):
            raise ApiError(
                404,
                "unknown_patient",
                "Ese paciente no está registrado en el expediente. / "
                "That patient is not in the clinical record.",
            )
        await self._stores.consults.add(transition)
        if session.patient_nss and self._patients is not None:
            # The coordinator hosts from the start (no admission): her role in the patient's care
            # begins here, so she may write the session's conclusions into their record.
            await self._patients.grant_care(session, request.remote or "unknown")
        await self._signaling.announce_room(session)
        return web.json_response(interunit.to_json(transition.consult), status=201)

    async def get_session(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        session = await self._session(request, member)
        return web.json_response(interunit.to_json(session))

    async def add_site(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        session = await self._session(request, member)
        body = _parse(SiteBody, await json_object(request))
        assert isinstance(body, SiteBody)
        actor = _actor(member, request)
        now = self._clock()
        try:
            guest = self._signaling.new_invitee(Role(body.role), body.name)
            site = interunit.site_invitee(
                guest.participant_id,
                guest.token_id or "",
                role=guest.role,
                name=body.name,
                clues=body.clues,
                unit=body.unit_name,
            )
            token = await self._signaling.issue_invite(
                session.consult_id, site, lambda c: interunit.add_site(c, actor, site, now)
            )
        except Exception as error:
            raise _refusal(error) from None
        updated = await self._stores.consults.get(session.consult_id)
        assert updated is not None
        [view] = [s for s in interunit.sites(updated) if s.site_id == site.participant_id]
        return web.json_response(
            {"site": view.to_json(), "token": token, "link": self._link(request, token)}, status=201
        )

    async def remove_site(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        session = await self._session(request, member)
        site_id = request.match_info["site_id"]
        if site_id == session.host_id:
            raise _error("invalid_state", "The coordinator's own site cannot be removed; end the session.")
        actor = _actor(member, request)
        try:
            if interunit.find_site(session, site_id) is None:
                raise InterunitError(
                    interunit.InterunitErrorCode.NOT_FOUND, "No existe esa sede.", "No such site."
                )
            updated = await self._signaling.revoke_invite(actor, session.consult_id, site_id)
        except Exception as error:
            raise _refusal(error) from None
        return web.json_response(interunit.to_json(updated))

    # -- helpers -------------------------------------------------------------------------------------

    async def _staff(self, request: web.Request) -> StaffMember:
        member = await self._staff_of(request)
        if member is None or member.role not in STAFF_ROLES:
            raise ApiError(401, "auth_required", "Inicie sesión. / Please sign in.")
        return member

    async def _session(self, request: web.Request, member: StaffMember) -> Consult:
        consult = await self._stores.consults.get(request.match_info["session_id"])
        if consult is None or consult.kind is not ConsultKind.INTERUNIT:
            raise _error("not_found", "No such inter-unit session.")
        if consult.host_id != member.staff_id:
            raise _error("not_your_consult", "Another coordinator runs this session.")
        return consult

    def _link(self, request: web.Request, token: str) -> str:
        return f"{link_base(self._settings.public_url, request)}/paciente#t={token}"


def _actor(member: StaffMember, request: web.Request) -> Actor:
    """Decisions over REST are logged with the HTTP client's address as their connection."""
    return Actor(member.staff_id, member.role, f"http:{request.remote or 'unknown'}", unit=member.unit)


# -- OpenAPI 3.1 ----------------------------------------------------------------------------------------


def _error_responses(*statuses: int) -> dict[str, dict[str, Any]]:
    text = {
        400: "Bad input (`bad_payload`, `unknown_specialty`): the message names the fields.",
        401: "Not signed in (`auth_required`).",
        403: "Not allowed (`forbidden`, `not_your_consult`).",
        404: "Not found (`not_found`).",
        409: "Refused in this state (`too_many_sites`, `room_full`, `invalid_state`, `consult_ended`).",
        413: "Body too large.",
        415: "Not JSON.",
    }
    return {
        str(s): {"description": text[s], "content": _json({"$ref": "#/components/schemas/Error"})}
        for s in statuses
    }


def _responses(ok: Mapping[str, object], *statuses: int) -> dict[str, object]:
    return {**ok, **_error_responses(*statuses)}


def _json(schema: Mapping[str, object]) -> dict[str, object]:
    return {"application/json": {"schema": schema}}


def _param(name: str, description: str) -> dict[str, object]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_NAME: dict[str, object] = {"type": "string", "minLength": 1, "maxLength": 120, "pattern": PERSON_NAME}
_PARTICIPANT: dict[str, object] = {
    "type": "object",
    "properties": {
        "participant_id": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string"},
        "unit_name": {"type": "string"},
        "unit_clues": {"type": "string"},
    },
    "required": ["participant_id", "name", "role"],
}
_SITE: dict[str, object] = {
    "type": "object",
    "properties": {
        "site_id": {"type": "string"},
        "clues": {"type": "string", "description": "CLUES code: 5 letters and 6 digits"},
        "unit_name": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string", "enum": ["coordinator", "physician", "nurse", "observer"]},
        "host": {"type": "boolean"},
        "in_call": {"type": "boolean"},
        "token_id": {"type": ["string", "null"]},
    },
}
_SESSION: dict[str, object] = {
    "type": "object",
    "properties": {
        "session_id": {"type": "string"},
        "purpose": {"type": "string", "enum": [p.value for p in Purpose]},
        "purpose_label": {
            "type": "object",
            "properties": {"es": {"type": "string"}, "en": {"type": "string"}},
        },
        "specialty": {"type": "string"},
        "title": {"type": "string"},
        "scheduled_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "state": {"type": "string"},
        "locked": {"type": "boolean"},
        "coordinator_id": {"type": "string"},
        "coordinator_name": {"type": ["string", "null"]},
        "max_sites": {"type": "integer"},
        "sites": {"type": "array", "items": _SITE},
    },
}
_CLUES: dict[str, object] = {
    "type": "string",
    "pattern": "^[A-Za-z]{5}[0-9]{6}$",
    "description": "CLUES code, e.g. DFIMS000123",
}
_SESSION_ID: dict[str, object] = _param("session_id", "the inter-unit session's id")

OPENAPI_PATHS: dict[str, object] = {
    "/api/consults/{consult_id}/invites": {
        "post": {
            "summary": "Invite someone into a consult by link (the host, or any staff before admission)",
            "tags": ["invitations"],
            "parameters": [_param("consult_id", "the consult")],
            "requestBody": {
                "required": True,
                "content": _json(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["role", "name"],
                        "properties": {
                            "role": {
                                "type": "string",
                                "enum": ["companion", "interpreter", "physician", "observer", "coordinator"],
                            },
                            "name": _NAME,
                        },
                    }
                ),
            },
            "responses": _responses(
                {
                    "201": {
                        "description": "The invitation and its link (`/paciente#t=<token>`)",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "consult_id": {"type": "string"},
                                    "invitee": _PARTICIPANT,
                                    "token_id": {"type": "string"},
                                    "token": {"type": "string"},
                                    "link": {"type": "string"},
                                },
                            }
                        ),
                    },
                },
                400,
                401,
                403,
                404,
                409,
                413,
                415,
            ),
        }
    },
    "/api/invites/{token_id}": {
        "delete": {
            "summary": "Revoke an invitation: the link fails from now on and the invitee leaves the call",
            "tags": ["invitations"],
            "parameters": [_param("token_id", "the `token_id` returned when the link was made")],
            "responses": _responses(
                {
                    "200": {
                        "description": "Revoked",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "ok": {"const": True},
                                    "consult_id": {"type": "string"},
                                    "participant_id": {"type": "string"},
                                },
                            }
                        ),
                    },
                },
                401,
                403,
                404,
                409,
            ),
        }
    },
    "/api/interunit-options": {
        "get": {
            "summary": "Purposes (Spanish and English labels), specialties, site roles, the site limit",
            "tags": ["inter-unit sessions"],
            "responses": _responses(
                {
                    "200": {
                        "description": "The options the coordinator page offers",
                        "content": _json({"type": "object"}),
                    },
                },
                401,
            ),
        }
    },
    "/api/interunit-sessions": {
        "get": {
            "summary": "The signed-in coordinator's open inter-unit sessions",
            "tags": ["inter-unit sessions"],
            "responses": _responses(
                {
                    "200": {
                        "description": "Sessions by scheduled time",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {"sessions": {"type": "array", "items": _SESSION}},
                            }
                        ),
                    },
                },
                401,
            ),
        },
        "post": {
            "summary": "Create an inter-unit session (coordinators only), live at once, hosted by them",
            "tags": ["inter-unit sessions"],
            "requestBody": {
                "required": True,
                "content": _json(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["purpose", "specialty", "scheduled_at", "clues", "unit_name"],
                        "properties": {
                            "purpose": {"type": "string", "enum": [p.value for p in Purpose]},
                            "specialty": {"type": "string", "description": "one of TC_INTERUNIT_SPECIALTIES"},
                            "scheduled_at": {"type": "string", "format": "date-time"},
                            "duration_minutes": {
                                "type": "integer",
                                "minimum": 15,
                                "maximum": 720,
                                "default": 60,
                            },
                            "clues": _CLUES,
                            "unit_name": _NAME,
                            "patient_nss": {
                                "type": ["string", "null"],
                                "description": "The registered patient the session is about (11-digit NSS); "
                                "its conclusions go into their record. Never shown to the sites.",
                            },
                        },
                    }
                ),
            },
            "responses": _responses(
                {
                    "201": {"description": "The session", "content": _json(_SESSION)},
                },
                400,
                401,
                403,
                413,
                415,
            ),
        },
    },
    "/api/interunit-sessions/{session_id}": {
        "get": {
            "summary": "One inter-unit session with its sites (its coordinator only)",
            "tags": ["inter-unit sessions"],
            "parameters": [_SESSION_ID],
            "responses": _responses(
                {
                    "200": {"description": "The session", "content": _json(_SESSION)},
                },
                401,
                403,
                404,
            ),
        }
    },
    "/api/interunit-sessions/{session_id}/sites": {
        "post": {
            "summary": f"Invite a unit or specialist by link ({interunit.MAX_SITES} sites at most, "
            "the coordinator's own included)",
            "tags": ["inter-unit sessions"],
            "parameters": [_SESSION_ID],
            "requestBody": {
                "required": True,
                "content": _json(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["clues", "unit_name", "name", "role"],
                        "properties": {
                            "clues": _CLUES,
                            "unit_name": _NAME,
                            "name": _NAME,
                            "role": {
                                "type": "string",
                                "enum": ["physician", "nurse", "coordinator", "observer"],
                            },
                        },
                    }
                ),
            },
            "responses": _responses(
                {
                    "201": {
                        "description": "The site and its link",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "site": _SITE,
                                    "token": {"type": "string"},
                                    "link": {"type": "string"},
                                },
                            }
                        ),
                    },
                },
                400,
                401,
                403,
                404,
                409,
                413,
                415,
            ),
        }
    },
    "/api/interunit-sessions/{session_id}/sites/{site_id}": {
        "delete": {
            "summary": "Withdraw a site: its link fails from now on and it leaves the call",
            "tags": ["inter-unit sessions"],
            "parameters": [_SESSION_ID, _param("site_id", "the site's id")],
            "responses": _responses(
                {
                    "200": {"description": "The session without that site", "content": _json(_SESSION)},
                },
                401,
                403,
                404,
                409,
            ),
        }
    },
}
