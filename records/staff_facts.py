"""Units and staff accounts as an administrator writes them, checked before anything is stored.

One check per field, each refusing with a :class:`~rooms.errors.DomainError` in Spanish and English,
so the CLI, the REST API and a CSV import (row by row) say the same thing about the same mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from records.errors import RecordError
from records.identifiers import clean_cedula, clean_clues
from rooms.names import clean_name
from rooms.roles import STAFF_ROLES, Role
from rooms.zones import resolve_zone

ACCOUNT_ROLES: frozenset[Role] = STAFF_ROLES | {Role.SUPERVISOR, Role.ADMIN}
"""Roles an account may hold; the others (patient, companion, …) only ever come from a link."""

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
_UNIT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class InvalidAccount(RecordError):
    """A unit or account field that breaks its rule (the other fields' own errors say theirs)."""

    CODE: ClassVar[str] = "invalid_account"
    HTTP_STATUS: ClassVar[int] = 422

    def __init__(self, what: str, reason_es: str, reason_en: str) -> None:
        super().__init__(f"{what} no es válido: {reason_es}.", f"{what} is not valid: {reason_en}.")
        self.what = what


class UnknownUnit(RecordError):
    CODE: ClassVar[str] = "unknown_unit"
    HTTP_STATUS: ClassVar[int] = 404

    def __init__(self, unit_id: str) -> None:
        super().__init__(
            f"La unidad «{unit_id[:64]}» no existe; créela primero.",
            f"Unit '{unit_id[:64]}' does not exist; create it first.",
        )


class UnknownAccount(RecordError):
    CODE: ClassVar[str] = "unknown_account"
    HTTP_STATUS: ClassVar[int] = 404

    def __init__(self, username: str) -> None:
        super().__init__(f"No existe la cuenta «{username[:64]}».", f"There is no account '{username[:64]}'.")


@dataclass(frozen=True, slots=True)
class UnitFacts:
    unit_id: str
    """The unit's code in the program (``UMF-1``): what appointments, queues and accounts name."""
    clues: str
    """Clave Única de Establecimientos de Salud: 5 letters and 6 digits."""
    name: str
    time_zone: str
    """IANA name; the zone the unit's staff see times in."""


@dataclass(frozen=True, slots=True)
class StaffFacts:
    username: str
    full_name: str
    role: Role
    unit_id: str
    licence: str = ""
    """Cédula profesional (5 to 8 digits); needed to sign clinical notes, optional otherwise."""


def clean_unit_id(text: str) -> str:
    value = text.strip()
    if not _UNIT_ID.fullmatch(value):
        raise InvalidAccount(
            "Unidad",
            "use de 1 a 64 letras, dígitos, punto, guion o guion bajo",
            "use 1 to 64 letters, digits, dots, hyphens or underscores",
        )
    return value


def clean_username(text: str) -> str:
    value = text.strip().lower()
    if not _USERNAME.fullmatch(value):
        raise InvalidAccount(
            "Usuario",
            "use de 3 a 64 minúsculas, dígitos, punto, guion o guion bajo",
            "use 3 to 64 lowercase letters, digits, dots, hyphens or underscores",
        )
    return value


def clean_role(text: str) -> Role:
    try:
        role = Role(text.strip().lower())
    except ValueError:
        role = Role.PATIENT  # refused below with the same message
    if role not in ACCOUNT_ROLES:
        allowed = ", ".join(sorted(r.value for r in ACCOUNT_ROLES))
        raise InvalidAccount("Rol", f"use uno de: {allowed}", f"use one of: {allowed}")
    return role


def unit_facts(unit_id: str, clues: str, name: str, time_zone: str) -> UnitFacts:
    """The unit as stored, or the first field's refusal."""
    zone = time_zone.strip()
    resolve_zone(zone)
    return UnitFacts(clean_unit_id(unit_id), clean_clues(clues), clean_name(name), zone)


def staff_facts(username: str, full_name: str, role: str, unit_id: str, licence: str = "") -> StaffFacts:
    """The account as stored, or the first field's refusal."""
    return StaffFacts(
        username=clean_username(username),
        full_name=clean_name(full_name),
        role=clean_role(role),
        unit_id=clean_unit_id(unit_id),
        licence=clean_cedula(licence) if licence.strip() else "",
    )
