"""Invitations by link (``/api/consults/{id}/invites``, ``/api/invites/{token_id}``).

The body is the socket event ``consult:invite``'s own payload (:class:`signaling.messages.Invite`):
a link made here and one made from the console are the same message.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rooms.roles import Role
from signaling.messages import Invite
from web.schemas.base import Body, View


class InviteRequest(Invite, Body):
    """``{"role", "name"}``: who is invited (a companion, interpreter, physician, observer or
    coordinator) and their name, checked by the one name rule (docs/api.md, Names)."""


class ParticipantView(View):
    participant_id: str
    name: str
    role: Role
    unit_name: str | None = Field(default=None, description="only for a site of an inter-unit session")
    unit_clues: str | None = Field(default=None, description="only for a site of an inter-unit session")


class InvitationView(View):
    consult_id: str
    invitee: ParticipantView
    token_id: str = Field(description="revokes the invitation: DELETE /api/invites/{token_id}")
    token: str
    link: str = Field(description="<origin>/paciente#t=<token>")


class Revoked(View):
    ok: Literal[True]
    consult_id: str
    participant_id: str
