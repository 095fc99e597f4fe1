"""REST for invitations by link and for inter-unit (hospital telemedicine) sessions.

Invitations share their code with the socket event ``consult:invite``
(:meth:`SignalingServer.invite`), so a link made here and one made from the console are the same
thing; revoking one (:meth:`SignalingServer.revoke_invite`) takes the invitee out of the call and
makes their link fail at once. Inter-unit sessions follow the pure rules of ``rooms/interunit.py``:
only a coordinator creates one, and hosts it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from aiohttp import web

from rooms import interunit
from rooms.consult import Actor, Consult
from rooms.errors import DomainError
from rooms.interunit import Purpose
from rooms.roles import Role
from rooms.staff import StaffMember
from rooms.store.base import VersionConflict
from services.interunit import InterunitSessions, NewSession
from services.invitations import Invitations
from signaling import views
from signaling.errors import SignalingError
from web.auth import Authenticator
from web.config import Settings
from web.errors import ApiError
from web.payloads import answer, read_body
from web.schemas.interunit import (
    Label,
    NewSiteView,
    OptionsView,
    PurposeOption,
    SessionRequest,
    SessionsView,
    SessionView,
    SiteRequest,
    SiteView,
)
from web.schemas.invitations import InvitationView, InviteRequest, ParticipantView, Revoked
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


class SessionsApi:
    def __init__(
        self,
        invitations: Invitations,
        sessions: InterunitSessions,
        auth: Authenticator,
        settings: Settings,
    ) -> None:
        self._invitations = invitations
        self._sessions = sessions
        self._auth = auth
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
        member = await self._auth.require_staff(request)
        body = await read_body(request, InviteRequest)
        consult_id = request.match_info["consult_id"]
        try:
            guest, token = await self._invitations.invite(
                _actor(member, request), consult_id, Role(body.role), body.name
            )
        except Exception as error:
            raise _refusal(error) from None
        view = InvitationView(
            consult_id=consult_id,
            invitee=ParticipantView.model_validate(views.participant(guest)),
            token_id=guest.token_id,
            token=token,
            link=self._link(request, token),
        )
        return answer(view, 201)

    async def revoke_invite(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        token_id = request.match_info["token_id"]
        if not 1 <= len(token_id) <= 128:
            raise _error("not_found", "No such invitation.")
        try:
            consult, invitee = await self._invitations.revoke_link(_actor(member, request), token_id)
        except Exception as error:
            raise _refusal(error) from None
        return answer(Revoked(ok=True, consult_id=consult.consult_id, participant_id=invitee.participant_id))

    # -- inter-unit sessions -----------------------------------------------------------------------

    async def options(self, request: web.Request) -> web.Response:
        await self._auth.require_staff(request)
        purposes = [
            PurposeOption(value=p, label=Label.model_validate(interunit.PURPOSE_LABELS[p])) for p in Purpose
        ]
        return answer(
            OptionsView(
                purposes=purposes,
                specialties=list(self._settings.interunit_specialties),
                site_roles=sorted(interunit.SITE_ROLES, key=lambda role: role.value),
                max_sites=interunit.MAX_SITES,
            )
        )

    async def list_sessions(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        sessions = [_session(c) for c in await self._sessions.of(_actor(member, request))]
        return answer(SessionsView(sessions=sorted(sessions, key=lambda s: s.scheduled_at)))

    async def create_session(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        body = await read_body(request, SessionRequest)
        wanted = NewSession(
            purpose=body.purpose,
            specialty=body.specialty,
            scheduled_at=body.scheduled_at,
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
        return answer(_session(session), 201)

    async def get_session(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        try:
            session = await self._sessions.hosted(_actor(member, request), request.match_info["session_id"])
        except Exception as error:
            raise _refusal(error) from None
        return answer(_session(session))

    async def add_site(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        actor = _actor(member, request)
        session_id = request.match_info["session_id"]
        try:
            await self._sessions.hosted(actor, session_id)  # who first, then what they sent
            body = await read_body(request, SiteRequest)
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
        site = SiteView.model_validate(view.to_json())
        return answer(NewSiteView(site=site, token=token, link=self._link(request, token)), 201)

    async def remove_site(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        try:
            updated = await self._sessions.remove_site(
                _actor(member, request), request.match_info["session_id"], request.match_info["site_id"]
            )
        except Exception as error:
            raise _refusal(error) from None
        return answer(_session(updated))

    # -- helpers -------------------------------------------------------------------------------------

    def _link(self, request: web.Request, token: str) -> str:
        return f"{link_base(self._settings.public_url, request)}/paciente#t={token}"


def _actor(member: StaffMember, request: web.Request) -> Actor:
    """Decisions over REST are logged with the HTTP client's address as their connection."""
    return Actor(member.staff_id, member.role, f"http:{request.remote or 'unknown'}", unit=member.unit)


def _session(consult: Consult) -> SessionView:
    return SessionView.model_validate(interunit.to_json(consult))
