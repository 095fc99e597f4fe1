"""Staff accounts and units in the record database: who may sign in, with which role, in which unit.

The database is the source of truth, so a Redis restart loses login sessions (people sign in
again) but never an account. A staff request asks who its session belongs to; that read goes
through an optional cache (Redis, shared by every node) that every change here clears, so a
disabled or moved account is seen at once by every node. An account that is disabled, or that has
no password yet, cannot sign in.

Every change is audited: an ``AuditEvent`` naming who changed what, written in the same transaction
as the change, so there is never a change without its audit nor an audit of a change that did not
happen. New accounts get no password from the administrator: they get a one-time link
(:class:`Setup`) with which the person chooses their own (see docs/operations.md for why).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from records.bundle_audit import audit_event
from records.errors import RecordError
from records.identifiers import CLUES_SYSTEM, STAFF_SYSTEM
from records.staff_facts import StaffFacts, UnitFacts, UnknownAccount, UnknownUnit
from records.store import Store
from records.tables import AuditRow, StaffRow, UnitRow
from rooms.roles import Role
from rooms.staff import StaffMember
from rooms.store.base import StaffCache

SETUP_LIFETIME = timedelta(days=7)
"""How long a one-time set-password link works."""
_CHUNK = 500
"""Usernames per ``IN`` list when an import reads what exists (well under every driver's limit)."""


class SetupLinkInvalid(RecordError):
    CODE = "setup_link_invalid"
    HTTP_STATUS = 400

    def __init__(self) -> None:
        super().__init__(
            "El enlace para crear la contraseña no es válido o ya se usó; pida uno nuevo.",
            "The set-password link is not valid or was already used; ask for a new one.",
        )


@dataclass(frozen=True, slots=True)
class Admin:
    """Who makes a change, as its ``AuditEvent`` names them."""

    actor_id: str
    """The admin's staff id, or ``cli:<system user>`` from the command line."""
    display: str
    address: str


@dataclass(frozen=True, slots=True)
class Setup:
    """A one-time set-password link's secret: only its SHA-256 is stored."""

    token: str
    expires_at: datetime

    @property
    def digest(self) -> str:
        return _digest(self.token)


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """An account as an administrator sees it (never its password hash)."""

    staff_id: str
    username: str
    full_name: str
    role: Role
    unit_id: str
    licence: str
    disabled: bool
    password_set: bool


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What creating or updating one account did, and the link a new account sets its password with."""

    account: StaffAccount
    created: bool
    changed: bool
    setup: Setup | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account(row: StaffRow) -> StaffAccount:
    return StaffAccount(
        staff_id=row.id,
        username=row.username,
        full_name=row.full_name,
        role=Role(row.role),
        unit_id=row.unit_id,
        licence=row.licence,
        disabled=row.disabled_at is not None,
        password_set=bool(row.password_hash),
    )


def _member(row: StaffRow, unit: UnitRow) -> StaffMember:
    return StaffMember(
        staff_id=row.id,
        username=row.username,
        full_name=row.full_name,
        role=Role(row.role),
        unit=row.unit_id,
        password_hash=row.password_hash,
        time_zone=unit.time_zone,
        licence=row.licence,
        unit_clues=unit.clues,
    )


class StaffDirectory:
    """The accounts (the :class:`~rooms.store.base.StaffStore` port) and their provisioning."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime],
        cache: StaffCache | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = Store(engine, clock=clock, new_id=new_id)
        self._cache = cache

    # -- signing in (the StaffStore port) --------------------------------------------------------

    async def add(self, member: StaffMember) -> None:
        """Store ``member`` as it is (tests and benchmarks set accounts up this way); a unit it names
        that does not exist yet is made with the member's CLUES and time zone."""
        now = self._store.clock()
        async with self._store.write.begin() as session:
            if await self._row(session, member.username) is not None:
                raise ValueError(f"username {member.username!r} is taken")
            if await session.get(UnitRow, member.unit) is None:
                session.add(
                    UnitRow(
                        id=member.unit,
                        clues=member.unit_clues,
                        name=member.unit,
                        time_zone=member.time_zone,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.flush()
            session.add(
                StaffRow(
                    id=member.staff_id,
                    username=member.username,
                    full_name=member.full_name,
                    role=member.role.value,
                    unit_id=member.unit,
                    licence=member.licence,
                    password_hash=member.password_hash,
                    created_at=now,
                    updated_at=now,
                )
            )

    async def by_username(self, username: str) -> StaffMember | None:
        """The account that may sign in as ``username`` (read from the database, never the cache)."""
        async with self._store.read() as session:
            found = (
                await session.execute(
                    select(StaffRow, UnitRow)
                    .join(UnitRow, UnitRow.id == StaffRow.unit_id)
                    .where(StaffRow.username == username, StaffRow.disabled_at.is_(None))
                )
            ).first()
        return _member(*found) if found is not None else None

    async def by_id(self, staff_id: str) -> StaffMember | None:
        """The account of a session: from the cache if there, else the database (then cached)."""
        if self._cache is not None and (cached := await self._cache.get(staff_id)) is not None:
            return cached
        async with self._store.read() as session:
            found = (
                await session.execute(
                    select(StaffRow, UnitRow)
                    .join(UnitRow, UnitRow.id == StaffRow.unit_id)
                    .where(StaffRow.id == staff_id, StaffRow.disabled_at.is_(None))
                )
            ).first()
        if found is None:
            return None
        member = _member(*found)
        if self._cache is not None:
            await self._cache.put(member)
        return member

    # -- units ---------------------------------------------------------------------------------

    async def put_unit(self, facts: UnitFacts, admin: Admin) -> bool:
        """Create the unit or update its CLUES, name and zone; True if it was created."""
        now = self._store.clock()
        async with self._store.write.begin() as session:
            row = await session.get(UnitRow, facts.unit_id)
            created = row is None
            if row is None:
                row = UnitRow(id=facts.unit_id, created_at=now)
                session.add(row)
            row.clues, row.name, row.time_zone, row.updated_at = (
                facts.clues,
                facts.name,
                facts.time_zone,
                now,
            )
            session.add(
                self._audit(
                    admin, "C" if created else "U", "unit_put", [_unit_entity(facts.unit_id, facts.clues)]
                )
            )
            staff_ids = [] if created else await self._staff_of_unit(session, facts.unit_id)
        await self._forget(staff_ids)  # their StaffMember carries the unit's CLUES and zone
        return created

    async def units(self) -> list[UnitFacts]:
        async with self._store.read() as session:
            rows = (await session.scalars(select(UnitRow).order_by(UnitRow.id))).all()
        return [UnitFacts(r.id, r.clues, r.name, r.time_zone) for r in rows]

    # -- accounts ------------------------------------------------------------------------------

    async def provision(
        self, accounts: Sequence[StaffFacts], admin: Admin, *, password_hash: str | None = None
    ) -> list[Provisioned]:
        """Create or update each account by username, in one transaction (all or nothing).

        New accounts get a :class:`Setup` link, or ``password_hash`` when given (the demo); an
        existing account keeps its password, its link and its enabled state, so importing the same
        file again changes nothing. Every unit named must exist (:class:`UnknownUnit`).
        """
        now = self._store.clock()
        async with self._store.write.begin() as session:
            await self._require_units(session, {a.unit_id for a in accounts})
            existing = await self._rows(session, [a.username for a in accounts])
            results: list[Provisioned] = []
            new_rows: list[dict[str, Any]] = []
            audits: list[AuditRow] = []
            for facts in accounts:
                row = existing.get(facts.username)
                if row is None:
                    setup = None if password_hash else Setup(secrets.token_urlsafe(32), now + SETUP_LIFETIME)
                    values = {
                        "id": "staff-" + secrets.token_hex(8),
                        "username": facts.username,
                        "full_name": facts.full_name,
                        "role": facts.role.value,
                        "unit_id": facts.unit_id,
                        "licence": facts.licence,
                        "password_hash": password_hash or "",
                        "setup_sha256": setup.digest if setup else None,
                        "setup_expires_at": setup.expires_at if setup else None,
                        "disabled_at": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                    new_rows.append(values)
                    account = _account(StaffRow(**values))
                    audits.append(self._audit(admin, "C", "staff_created", [_staff_entity(account)]))
                    results.append(Provisioned(account, created=True, changed=True, setup=setup))
                    continue
                changed = (row.full_name, row.role, row.unit_id, row.licence) != (
                    facts.full_name,
                    facts.role.value,
                    facts.unit_id,
                    facts.licence,
                )
                if changed:
                    row.full_name, row.role, row.unit_id, row.licence = (
                        facts.full_name,
                        facts.role.value,
                        facts.unit_id,
                        facts.licence,
                    )
                    row.updated_at = now
                    audits.append(self._audit(admin, "U", "staff_updated", [_staff_entity(_account(row))]))
                if password_hash:
                    row.password_hash, row.setup_sha256, row.setup_expires_at = password_hash, None, None
                    row.updated_at = now
                    changed = True
                results.append(Provisioned(_account(row), created=False, changed=changed))
            if new_rows:
                await session.execute(insert(StaffRow), new_rows)
            if audits:
                await session.execute(insert(AuditRow), [_audit_values(a) for a in audits])
        await self._forget(r.account.staff_id for r in results if r.changed and not r.created)
        return results

    async def set_disabled(self, username: str, admin: Admin, *, disabled: bool) -> StaffAccount:
        """Disable (it can no longer sign in; the caller ends its sessions) or enable an account."""

        def change(row: StaffRow, now: datetime) -> str:
            row.disabled_at = now if disabled else None
            return "staff_disabled" if disabled else "staff_enabled"

        return await self._change(username, admin, change)

    async def reset_password(self, username: str, admin: Admin) -> tuple[StaffAccount, Setup]:
        """The old password stops working now; the person sets a new one with the returned link."""
        setup = Setup(secrets.token_urlsafe(32), self._store.clock() + SETUP_LIFETIME)

        def change(row: StaffRow, _: datetime) -> str:
            row.password_hash, row.setup_sha256, row.setup_expires_at = "", setup.digest, setup.expires_at
            return "staff_password_reset"

        return await self._change(username, admin, change), setup

    async def change_unit(self, username: str, unit_id: str, admin: Admin) -> StaffAccount:
        def change(row: StaffRow, _: datetime) -> str:
            row.unit_id = unit_id
            return "staff_unit_changed"

        async with self._store.read() as session:
            await self._require_units(session, {unit_id})
        return await self._change(username, admin, change)

    async def complete_setup(self, token: str, password_hash: str, address: str) -> StaffAccount:
        """The person behind a set-password link chooses their password; the link is then spent."""
        now = self._store.clock()
        async with self._store.write.begin() as session:
            row = await session.scalar(select(StaffRow).where(StaffRow.setup_sha256 == _digest(token)))
            expires = row.setup_expires_at if row is not None else None
            if row is None or expires is None or expires <= now or row.disabled_at is not None:
                raise SetupLinkInvalid()
            row.password_hash, row.setup_sha256, row.setup_expires_at, row.updated_at = (
                password_hash,
                None,
                None,
                now,
            )
            account = _account(row)
            himself = Admin(row.id, row.full_name, address)
            session.add(self._audit(himself, "U", "staff_password_set", [_staff_entity(account)]))
        await self._forget([account.staff_id])
        return account

    async def accounts(self, unit_id: str | None = None) -> list[StaffAccount]:
        query = select(StaffRow).order_by(StaffRow.unit_id, StaffRow.username)
        if unit_id is not None:
            query = query.where(StaffRow.unit_id == unit_id)
        async with self._store.read() as session:
            return [_account(row) for row in (await session.scalars(query)).all()]

    async def account(self, username: str) -> StaffAccount:
        async with self._store.read() as session:
            row = await self._row(session, username)
        if row is None:
            raise UnknownAccount(username)
        return _account(row)

    # -- helpers -------------------------------------------------------------------------------

    async def _change(
        self, username: str, admin: Admin, change: Callable[[StaffRow, datetime], str]
    ) -> StaffAccount:
        now = self._store.clock()
        async with self._store.write.begin() as session:
            row = await self._row(session, username)
            if row is None:
                raise UnknownAccount(username)
            what = change(row, now)
            row.updated_at = now
            account = _account(row)
            session.add(self._audit(admin, "U", what, [_staff_entity(account)]))
        await self._forget([account.staff_id])
        return account

    async def _forget(self, staff_ids: Iterable[str]) -> None:
        if self._cache is not None:
            for staff_id in staff_ids:
                await self._cache.forget(staff_id)

    @staticmethod
    async def _row(session: AsyncSession, username: str) -> StaffRow | None:
        return await session.scalar(select(StaffRow).where(StaffRow.username == username))

    @staticmethod
    async def _rows(session: AsyncSession, usernames: Sequence[str]) -> dict[str, StaffRow]:
        found: dict[str, StaffRow] = {}
        for start in range(0, len(usernames), _CHUNK):
            chunk = usernames[start : start + _CHUNK]
            for row in (await session.scalars(select(StaffRow).where(StaffRow.username.in_(chunk)))).all():
                found[row.username] = row
        return found

    @staticmethod
    async def _require_units(session: AsyncSession, unit_ids: set[str]) -> None:
        known = set((await session.scalars(select(UnitRow.id).where(UnitRow.id.in_(unit_ids)))).all())
        missing = sorted(unit_ids - known)
        if missing:
            raise UnknownUnit(missing[0])

    async def known_units(self, unit_ids: set[str]) -> set[str]:
        """Which of ``unit_ids`` exist (an import names unknown ones row by row)."""
        async with self._store.read() as session:
            return set((await session.scalars(select(UnitRow.id).where(UnitRow.id.in_(unit_ids)))).all())

    @staticmethod
    async def _staff_of_unit(session: AsyncSession, unit_id: str) -> list[str]:
        return list((await session.scalars(select(StaffRow.id).where(StaffRow.unit_id == unit_id))).all())

    def _audit(
        self, admin: Admin, action: str, what: str, entities: list[tuple[str, dict[str, Any]]]
    ) -> AuditRow:
        now = self._store.clock()
        who: dict[str, object] = {
            "identifier": {"system": STAFF_SYSTEM, "value": admin.actor_id},
            "display": admin.display,
        }
        content = audit_event(
            event_id=self._store.new_id(),
            recorded=now,
            interaction="create" if action == "C" else "update",
            action=action,
            who=who,
            address=admin.address,
            entities=entities,
            outcome_desc=what,
        )
        return AuditRow(
            id=str(content["id"]),
            recorded=now,
            patient_id=None,
            agent_id=admin.actor_id[:64],
            action=action,
            outcome="0",
            content=content,
        )


def _staff_entity(account: StaffAccount) -> tuple[str, dict[str, Any]]:
    return (
        "Practitioner",
        {"identifier": {"system": STAFF_SYSTEM, "value": account.staff_id}, "display": account.username},
    )


def _unit_entity(unit_id: str, clues: str) -> tuple[str, dict[str, Any]]:
    return ("Organization", {"identifier": {"system": CLUES_SYSTEM, "value": clues}, "display": unit_id})


def _audit_values(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "recorded": row.recorded,
        "patient_id": row.patient_id,
        "agent_id": row.agent_id,
        "action": row.action,
        "outcome": row.outcome,
        "content": row.content,
    }
