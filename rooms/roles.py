"""Who may do what in a consult room.

Every signaling event is checked against this table, so a rule lives in one place and a
role that is not listed for an action can never perform it.
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


class Action(StrEnum):
    CHECK_IN = "check_in"
    ADMIT = "admit"
    JOIN_MEDIA = "join_media"
    LEAVE = "leave"
    END = "end"
    VIEW_QUEUE = "view_queue"
    INVITE = "invite"


STAFF_ROLES: frozenset[Role] = frozenset({Role.NURSE, Role.PHYSICIAN, Role.COORDINATOR})
"""Roles held by logged-in staff who may host a consult."""

_HOST_ACTIONS = frozenset(
    {Action.ADMIT, Action.JOIN_MEDIA, Action.LEAVE, Action.END, Action.VIEW_QUEUE, Action.INVITE}
)

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.PATIENT: frozenset({Action.CHECK_IN, Action.JOIN_MEDIA, Action.LEAVE}),
    Role.COMPANION: frozenset({Action.JOIN_MEDIA, Action.LEAVE}),
    Role.INTERPRETER: frozenset({Action.JOIN_MEDIA, Action.LEAVE}),
    Role.NURSE: _HOST_ACTIONS,
    Role.PHYSICIAN: _HOST_ACTIONS,
    Role.COORDINATOR: _HOST_ACTIONS,
    Role.OBSERVER: frozenset({Action.JOIN_MEDIA, Action.LEAVE}),
}


def may(role: Role, action: Action) -> bool:
    """Whether ``role`` is ever allowed ``action`` (the consult's state is checked separately)."""
    return action in PERMISSIONS[role]
