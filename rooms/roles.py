"""Who may do what in a consult room.

Every signaling event is checked against this table, so a rule lives in one place and a
role that is not listed for an action can never perform it.

Staff sign in and hold their role from their account. People who arrive by link (patients and
invitees) hold the role written in the link; a link may name a staff role (a specialist
physician, a coordinator from another unit), but a link never grants more than
:data:`LINK_ACTIONS`: hosting, admitting and the other room controls need a signed-in account.

A supervisor is a signed-in account that hosts nothing: it may only view its unit's dashboard
(aggregate figures, see ``rooms/supervision.py``), which coordinators may view too. An admin
is a signed-in account that provisions accounts and units and may do nothing in a consult.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PATIENT = "patient"
    COMPANION = "companion"
    INTERPRETER = "interpreter"
    NURSE = "nurse"
    PHYSICIAN = "physician"
    COORDINATOR = "coordinator"
    OBSERVER = "observer"
    SUPERVISOR = "supervisor"
    """A signed-in account that watches its unit's figures and takes part in no consult."""
    ADMIN = "admin"
    """A signed-in account of the insurer's IT that provisions units and staff accounts (the admin
    API) and takes part in no consult."""


class Action(StrEnum):
    CHECK_IN = "check_in"
    ADMIT = "admit"
    DENY = "deny"
    """Refuse a waiting person (their link stops working), or re-invite them afterwards."""
    SEND_BACK = "send_back"
    """Send someone in the call back to the waiting room."""
    LOCK = "lock"
    """Lock or unlock the room: while locked nobody new checks in or joins."""
    MUTE_OTHERS = "mute_others"
    JOIN_MEDIA = "join_media"
    SHARE_SCREEN = "share_screen"
    LEAVE = "leave"
    END = "end"
    VIEW_QUEUE = "view_queue"
    INVITE = "invite"
    WRITE_NOTES = "write_notes"
    CREATE_INTERUNIT = "create_interunit"
    """Create an inter-unit (hospital telemedicine) session and host it."""
    VIEW_DASHBOARD = "view_dashboard"
    """See one's own unit's dashboard: waits, consults in progress, nurses, call quality."""
    CHAT = "chat"
    """Write and read the consult's text chat (``rooms/chat.py`` says when and with whom)."""


STAFF_ROLES: frozenset[Role] = frozenset({Role.NURSE, Role.PHYSICIAN, Role.COORDINATOR})
"""Roles held by logged-in staff who may host a consult."""

_HOST_ACTIONS = frozenset(
    {
        Action.ADMIT,
        Action.DENY,
        Action.SEND_BACK,
        Action.LOCK,
        Action.MUTE_OTHERS,
        Action.JOIN_MEDIA,
        Action.SHARE_SCREEN,
        Action.LEAVE,
        Action.END,
        Action.VIEW_QUEUE,
        Action.INVITE,
        Action.WRITE_NOTES,
        Action.CHAT,
    }
)

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.PATIENT: frozenset(
        {Action.CHECK_IN, Action.JOIN_MEDIA, Action.SHARE_SCREEN, Action.LEAVE, Action.CHAT}
    ),
    Role.COMPANION: frozenset({Action.JOIN_MEDIA, Action.SHARE_SCREEN, Action.LEAVE, Action.CHAT}),
    Role.INTERPRETER: frozenset({Action.JOIN_MEDIA, Action.SHARE_SCREEN, Action.LEAVE, Action.CHAT}),
    Role.NURSE: _HOST_ACTIONS,
    Role.PHYSICIAN: _HOST_ACTIONS,
    Role.COORDINATOR: _HOST_ACTIONS | {Action.CREATE_INTERUNIT, Action.VIEW_DASHBOARD},
    Role.OBSERVER: frozenset({Action.JOIN_MEDIA, Action.LEAVE, Action.CHAT}),
    Role.SUPERVISOR: frozenset({Action.VIEW_DASHBOARD}),
    Role.ADMIN: frozenset(),
}

LINK_ACTIONS: frozenset[Action] = frozenset(
    {Action.CHECK_IN, Action.JOIN_MEDIA, Action.SHARE_SCREEN, Action.LEAVE, Action.CHAT}
)
"""The most a join link can grant, whatever role it names."""


def may(role: Role, action: Action, *, via_link: bool = False) -> bool:
    """Whether ``role`` is ever allowed ``action`` (the consult's state is checked separately).

    ``via_link``: the role comes from a join link rather than a signed-in staff account.
    """
    if via_link and action not in LINK_ACTIONS:
        return False
    return action in PERMISSIONS[role]
