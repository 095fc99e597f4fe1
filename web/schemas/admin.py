"""The admin API's messages: units, staff accounts, a CSV import's report, setting a password."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from records.staff import Provisioned, StaffAccount
from records.staff_facts import UnitFacts
from records.staff_import import ImportReport
from rooms.roles import Role
from web.schemas.base import Body, View

SetupLink = str
"""``<origin>/contrasena#t=<token>``: opens the set-password page once, for 7 days."""


class UnitRequest(Body):
    clues: str = Field(max_length=32, description="CLUES: 5 letters and 6 digits")
    name: str = Field(max_length=400)
    time_zone: str = Field(default="America/Mexico_City", max_length=64, description="IANA name")


class UnitView(View):
    unit: str
    clues: str
    name: str
    time_zone: str

    @classmethod
    def of(cls, facts: UnitFacts) -> UnitView:
        return cls(unit=facts.unit_id, clues=facts.clues, name=facts.name, time_zone=facts.time_zone)


class UnitPut(View):
    unit: UnitView
    created: bool


class UnitsView(View):
    units: list[UnitView]


class StaffRequest(Body):
    username: str = Field(max_length=100)
    full_name: str = Field(max_length=400)
    role: str = Field(max_length=32, description="nurse, physician, coordinator, supervisor or admin")
    unit: str = Field(max_length=64)
    licence: str = Field(default="", max_length=16, description="cédula profesional, 5 to 8 digits")


class AccountView(View):
    staff_id: str
    username: str
    full_name: str
    role: Role
    unit: str
    licence: str
    disabled: bool
    password_set: bool
    """False until the person used their set-password link."""

    @classmethod
    def of(cls, account: StaffAccount) -> AccountView:
        return cls(
            staff_id=account.staff_id,
            username=account.username,
            full_name=account.full_name,
            role=account.role,
            unit=account.unit_id,
            licence=account.licence,
            disabled=account.disabled,
            password_set=account.password_set,
        )


class AccountsView(View):
    accounts: list[AccountView]


class ProvisionedView(View):
    account: AccountView
    created: bool
    setup_link: SetupLink | None = None
    """A new account's one-time link (only in this answer: the server keeps its hash only)."""

    @classmethod
    def of(cls, result: Provisioned, link: SetupLink | None) -> ProvisionedView:
        view = cls(account=AccountView.of(result.account), created=result.created)
        return view if link is None else cls(account=view.account, created=view.created, setup_link=link)


class AccountChanged(View):
    account: AccountView
    sessions_ended: int = 0
    setup_link: SetupLink | None = None


class UnitChange(Body):
    unit: str = Field(max_length=64)


class RowErrorView(View):
    line: int
    username: str
    code: str
    message: str


class NewLink(View):
    username: str
    setup_link: SetupLink


class ImportView(View):
    """The import's report: with ``ok`` false, nothing was stored and ``errors`` names every bad row."""

    ok: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[RowErrorView]
    links: list[NewLink]
    """Each new account's one-time link, to hand out through the insurer's own channel."""

    @classmethod
    def of(cls, report: ImportReport, links: list[NewLink]) -> ImportView:
        return cls(
            ok=report.ok,
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            errors=[
                RowErrorView(
                    line=e.line, username=e.username, code=e.code, message=f"{e.message_es} / {e.message_en}"
                )
                for e in report.errors
            ],
            links=links,
        )


class PasswordSetupRequest(Body):
    MAX_BYTES: ClassVar[int] = 4096
    token: str = Field(min_length=1, max_length=128)
    password: str = Field(max_length=256)


class PasswordSet(View):
    ok: Literal[True]
    username: str
