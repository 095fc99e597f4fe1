"""A consult's session log, for its host (``GET /api/consults/{id}/log``)."""

from __future__ import annotations

from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from web.schemas.base import DateTimeText, View


class SessionEventView(View):
    consult_id: str
    kind: EventKind
    at: DateTimeText
    actor_id: str
    actor_role: Role | None
    connection_id: str | None
    detail: dict[str, str]

    @classmethod
    def of(cls, event: SessionEvent) -> SessionEventView:
        return cls.model_validate(event.to_json())


class SessionLogView(View):
    consult_id: str
    archived: bool
    events: list[SessionEventView]
