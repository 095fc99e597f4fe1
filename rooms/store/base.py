"""The async storage interfaces the rest of the server depends on.

Implementations (in memory, Redis) must pass the same shared test suite. Writes of a consult
are compare-and-set on its version, so concurrent commands on several nodes cannot both apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from rooms.consult import Consult, Transition
from rooms.session_log import SessionEvent
from rooms.staff import StaffMember, StaffSession


def numbered(event: SessionEvent, seq: int) -> SessionEvent:
    """``event`` carrying its chat number (what :meth:`ConsultStore.append_numbered` stores)."""
    return replace(event, detail={**event.detail, "seq": str(seq)})


class VersionConflict(Exception):
    """The consult changed since it was read; re-read and apply the command again."""


class ConsultStore(Protocol):
    async def add(self, transition: Transition) -> None:
        """Store a new consult and its first log events; fails if the id exists."""

    async def get(self, consult_id: str) -> Consult | None: ...

    async def commit(self, transition: Transition, expected_version: int) -> None:
        """Replace the consult if its stored version is ``expected_version`` and append the events."""

    async def log(self, consult_id: str) -> list[SessionEvent]: ...

    async def append_log(self, consult_id: str, events: Sequence[SessionEvent]) -> None:
        """Append observations (e.g. media quality) that change nothing in the consult itself."""

    async def append_numbered(self, consult_id: str, event: SessionEvent, cap: int) -> int | None:
        """Append ``event`` numbered by the consult's next chat number (``detail["seq"]``, from 1),
        atomically, so messages sent at once on several nodes still get one order. Returns the
        number, or None when the consult already holds ``cap`` numbered entries (or does not exist)."""

    async def open_consults(self) -> list[Consult]:
        """Every consult that has not ended, in the whole service (the sweep; not for a staff list)."""

    async def open_in_unit(self, unit: str) -> list[Consult]:
        """Consults of ``unit`` that have not ended: one unit's staff list, without the others'."""

    async def open_hosted_by(self, host_id: str) -> list[Consult]:
        """Consults hosted by ``host_id`` that have not ended."""

    async def invited_to(self, token_id: str) -> Consult | None:
        """The open consult one of whose invitees holds the link ``token_id`` (an index, not a scan)."""

    async def revoke_token(self, token_id: str) -> None: ...

    async def is_token_revoked(self, token_id: str) -> bool: ...


class StaffStore(Protocol):
    """Who may sign in. The record database holds the accounts (``records/staff.py``); an account
    that is disabled is not found."""

    async def add(self, member: StaffMember) -> None:
        """Store a new account (its unit is made if missing); fails if the username is taken."""

    async def by_username(self, username: str) -> StaffMember | None: ...

    async def by_id(self, staff_id: str) -> StaffMember | None: ...


class StaffCache(Protocol):
    """Accounts read recently, so a staff request need not ask the database who its session is;
    whoever changes an account forgets it here."""

    async def get(self, staff_id: str) -> StaffMember | None: ...

    async def put(self, member: StaffMember) -> None: ...

    async def forget(self, staff_id: str) -> None: ...


class LoginSessionStore(Protocol):
    async def add(self, session: StaffSession) -> None: ...

    async def get(self, session_id: str) -> StaffSession | None: ...

    async def remove(self, session_id: str) -> None: ...

    async def remove_staff(self, staff_id: str) -> int:
        """End every session of ``staff_id`` (their account was disabled); how many there were."""


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store the server needs, built once by the composition root."""

    consults: ConsultStore
    staff: StaffStore
    sessions: LoginSessionStore
