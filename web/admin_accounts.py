"""Provisioning staff accounts: what the admin CLI, the admin REST API and the demo all call.

The record database holds the accounts (``records/staff.py``); this adds what the web face knows:
the login sessions to end when an account is disabled or its password reset, and the address of
the one-time set-password page a new account's link points to.
"""

from __future__ import annotations

from dataclasses import dataclass

from records.staff import Admin, Provisioned, Setup, StaffAccount, StaffDirectory
from records.staff_facts import StaffFacts, UnitFacts
from records.staff_import import ImportReport, import_csv
from rooms.store.base import LoginSessionStore

SETUP_PAGE = "/contrasena"


@dataclass(frozen=True, slots=True)
class Ended:
    account: StaffAccount
    sessions_ended: int


class Accounts:
    def __init__(self, directory: StaffDirectory, sessions: LoginSessionStore, base_url: str) -> None:
        self.directory = directory
        self._sessions = sessions
        self._base_url = base_url.rstrip("/")

    def link(self, setup: Setup, base_url: str | None = None) -> str:
        """The one-time set-password link on ``base_url`` (default: the configured origin); the secret
        rides in the fragment, so it never reaches a server log."""
        return f"{(base_url or self._base_url).rstrip('/')}{SETUP_PAGE}#t={setup.token}"

    async def put_unit(self, facts: UnitFacts, admin: Admin) -> bool:
        return await self.directory.put_unit(facts, admin)

    async def provision(
        self, facts: StaffFacts, admin: Admin, *, password_hash: str | None = None
    ) -> Provisioned:
        [result] = await self.directory.provision([facts], admin, password_hash=password_hash)
        return result

    async def import_csv(self, text: str, admin: Admin) -> ImportReport:
        return await import_csv(self.directory, text, admin)

    async def disable(self, username: str, admin: Admin) -> Ended:
        """The account can no longer sign in and every session it holds ends now."""
        account = await self.directory.set_disabled(username, admin, disabled=True)
        return Ended(account, await self._sessions.remove_staff(account.staff_id))

    async def enable(self, username: str, admin: Admin) -> StaffAccount:
        return await self.directory.set_disabled(username, admin, disabled=False)

    async def reset_password(self, username: str, admin: Admin) -> tuple[Ended, Setup]:
        """The old password stops working and its sessions end; the new link (:meth:`link`) sets another."""
        account, setup = await self.directory.reset_password(username, admin)
        return Ended(account, await self._sessions.remove_staff(account.staff_id)), setup

    async def change_unit(self, username: str, unit_id: str, admin: Admin) -> StaffAccount:
        return await self.directory.change_unit(username, unit_id, admin)
