"""REST for invitations by link and for inter-unit (hospital telemedicine) sessions.

Invitations share their code with the socket event ``consult:invite``
(:meth:`SignalingServer.invite`), so a link made here and one made from the console are the same
thing; revoking one (:meth:`SignalingServer.revoke_invite`) takes the invitee out of the call and
makes their link fail at once. Inter-unit sessions follow the pure rules of ``rooms/interunit.py``:
only a coordinator creates one, and hosts it.

``OPENAPI_PATHS`` describes every route here (OpenAPI 3.1 path items) for ``web/openapi.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rooms import interunit
from rooms.consult import Actor
from rooms.errors import DomainError
from rooms.interunit import Purpose
from rooms.roles import STAFF_ROLES, Role
from rooms.staff import StaffMember
from rooms.store.base import VersionConflict
from services.interunit import InterunitSessions, NewSession
from services.invitations import Invitations
from signaling import views
from signaling.errors import SignalingError
from signaling.messages import PERSON_NAME, PersonName
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
    "unknown_patient": 404,
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


class SessionsApi:
    def __init__(
        self,
        invitations: Invitations,
        sessions: InterunitSessions,
        staff_of: Callable[[web.Request], Awaitable[StaffMember | None]],
        settings: Settings,
    ) -> None:
        self._invitations = invitations
        self._sessions = sessions
        self._staff_of = staff_of
        self._settings = settings

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
            guest, token = await self._invitations.invite(
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
        try:
            consult, invitee = await self._invitations.revoke_link(_actor(member, request), token_id)
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
        sessions = [interunit.to_json(c) for c in await self._sessions.of(_actor(member, request))]
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
        wanted = NewSession(
            purpose=Purpose(body.purpose),
            specialty=body.specialty,
            scheduled_at=scheduled_at,
            duration=timedelta(minutes=body.duration_minutes),
            clues=body.clues,
            unit_name=body.unit_name,
            patient_nss=body.patient_nss or "",
        )
        try:
            session = await self._sessions.create(
                _actor(member, request), member.full_name, wanted, request.remote or "unknown"
            )
        except Exception as error:
            raise _refusal(error) from None
        return web.json_response(interunit.to_json(session), status=201)

    async def get_session(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        try:
            session = await self._sessions.hosted(_actor(member, request), request.match_info["session_id"])
        except Exception as error:
            raise _refusal(error) from None
        return web.json_response(interunit.to_json(session))

    async def add_site(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        actor = _actor(member, request)
        session_id = request.match_info["session_id"]
        try:
            await self._sessions.hosted(actor, session_id)  # who first, then what they sent
            body = _parse(SiteBody, await json_object(request))
            assert isinstance(body, SiteBody)
            view, token = await self._sessions.add_site(
                actor,
                session_id,
                role=Role(body.role),
                name=body.name,
                clues=body.clues,
                unit_name=body.unit_name,
            )
        except ApiError:
            raise
        except Exception as error:
            raise _refusal(error) from None
        return web.json_response(
            {"site": view.to_json(), "token": token, "link": self._link(request, token)}, status=201
        )

    async def remove_site(self, request: web.Request) -> web.Response:
        member = await self._staff(request)
        try:
            updated = await self._sessions.remove_site(
                _actor(member, request), request.match_info["session_id"], request.match_info["site_id"]
            )
        except Exception as error:
            raise _refusal(error) from None
        return web.json_response(interunit.to_json(updated))

    # -- helpers -------------------------------------------------------------------------------------

    async def _staff(self, request: web.Request) -> StaffMember:
        member = await self._staff_of(request)
        if member is None or member.role not in STAFF_ROLES:
            raise ApiError(401, "auth_required", "Inicie sesión. / Please sign in.")
        return member

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
