"""Who is connected to this node: one :class:`Connection` per socket, and the socket.io rooms.

socket.io rooms carry messages to every node (through Redis when configured): a consult's room,
one participant's room (all their connections, wherever they are), one unit's staff room and one
unit's supervision room.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

from rooms.consult import Actor
from rooms.roles import STAFF_ROLES, Action, Role, may
from signaling.rate_limit import TokenBucket, link_report_bucket

SESSION_COOKIE = "tc_session"


def consult_room(consult_id: str) -> str:
    return f"consult:{consult_id}"


def participant_room(participant_id: str) -> str:
    """Every connection of one participant, on whichever node it is."""
    return f"participant:{participant_id}"


def staff_room(unit: str) -> str:
    """Every signed-in staff connection of one unit, on whichever node it is: they hear
    ``queue:diff`` with that unit's consults only."""
    return f"staff:{unit}"


def supervision_room(unit: str) -> str:
    """Every connection of one unit's accounts that may view its dashboard: they hear
    ``dashboard:changed`` (no content) whenever the unit's list or queue changes."""
    return f"supervision:{unit}"


@dataclass(slots=True)
class Connection:
    sid: str
    participant_id: str
    role: Role
    display_name: str
    consult_id: str | None
    token_id: str | None
    bucket: TokenBucket
    superseded: bool = False
    unit: str = ""
    """Staff: their unit (``StaffMember.unit``), whose consults their queue lists."""
    refusals_logged: dict[str, int] = field(default_factory=dict)
    """Consult id -> how many refused attempts on it this connection left in its log."""
    link_reports: TokenBucket = field(default_factory=link_report_bucket)

    @property
    def via_link(self) -> bool:
        """Patients and invitees arrive by link; a link never makes its holder staff."""
        return self.token_id is not None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES and not self.via_link

    @property
    def views_dashboard(self) -> bool:
        """A signed-in supervisor or coordinator, who follows their unit's dashboard."""
        return may(self.role, Action.VIEW_DASHBOARD, via_link=self.via_link)

    def actor(self) -> Actor:
        return Actor(self.participant_id, self.role, self.sid, via_link=self.via_link, unit=self.unit)


@dataclass
class Registry:
    """This node's live connections, by socket id and by participant."""

    by_sid: dict[str, Connection] = field(default_factory=dict)
    by_participant: dict[str, str] = field(default_factory=dict)

    def add(self, connection: Connection) -> Connection | None:
        """Register ``connection``; the same participant's older connection here, if any."""
        previous_sid = self.by_participant.get(connection.participant_id)
        self.by_sid[connection.sid] = connection
        self.by_participant[connection.participant_id] = connection.sid
        return self.by_sid.get(previous_sid) if previous_sid is not None else None

    def remove(self, sid: str) -> Connection | None:
        connection = self.by_sid.pop(sid, None)
        if connection is not None and self.by_participant.get(connection.participant_id) == sid:
            del self.by_participant[connection.participant_id]
        return connection

    def of_participant(self, participant_id: str) -> Connection | None:
        sid = self.by_participant.get(participant_id)
        return self.by_sid.get(sid) if sid is not None else None

    def in_consult(self, consult_id: str) -> list[Connection]:
        return [c for c in self.by_sid.values() if c.consult_id == consult_id]


def session_cookie(environ: Mapping[str, Any]) -> str | None:
    """The staff session id from a connection's ``Cookie`` header (bounded, never trusted further)."""
    header = environ.get("HTTP_COOKIE")
    if not isinstance(header, str) or len(header) > 8192:
        return None
    try:
        cookie = SimpleCookie(header)
    except CookieError:
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None
