"""Staff accounts and their login sessions, as values.

Password hashing (argon2) happens at the web edge; here an account only carries the hash so the
domain never handles a clear-text password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rooms.names import clean_name
from rooms.roles import Role


@dataclass(frozen=True, slots=True)
class StaffMember:
    staff_id: str
    username: str
    full_name: str
    role: Role
    unit: str
    password_hash: str
    time_zone: str = "America/Mexico_City"
    licence: str = ""
    """Cédula profesional (SEP), needed to sign clinical notes; empty when not on file."""
    unit_clues: str = ""
    """CLUES of the staff member's unit, needed to sign clinical notes; empty when not on file."""

    def __post_init__(self) -> None:
        # Staff names are shown to patients and other sites: the one name rule (rooms/names.py).
        object.__setattr__(self, "full_name", clean_name(self.full_name))


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A server-side login session; the browser only holds its random id in a cookie."""

    session_id: str
    staff_id: str
    created_at: datetime
    expires_at: datetime
