"""Signing in and out, and who is signed in (``/api/session``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, RootModel

from rooms.roles import Role
from rooms.staff import StaffMember
from web.schemas.base import Body, View


class LoginRequest(Body):
    """Credentials longer than 256 characters are refused as ``400 payload_too_large``."""

    model_config = ConfigDict(extra="ignore")
    MAX_BYTES: ClassVar[int] = 4096
    username: str
    password: str


class StaffView(View):
    staff_id: str
    username: str
    full_name: str
    role: Role
    unit: str
    time_zone: str

    @classmethod
    def of(cls, member: StaffMember) -> StaffView:
        return cls(
            staff_id=member.staff_id,
            username=member.username,
            full_name=member.full_name,
            role=member.role,
            unit=member.unit,
            time_zone=member.time_zone,
        )


class SignedIn(StaffView):
    signed_in: Literal[True]


class SignedOut(View):
    signed_in: Literal[False]


class SessionState(RootModel[SignedIn | SignedOut]):
    """Not being signed in is an ordinary answer, not an error: every staff page asks on load."""


class SignedOff(View):
    ok: Literal[True]
