"""Who and where, as the record needs them: the patient, the signing staff member, the unit, consents.

These come from outside the note (the patient's registration, the staff directory, what the patient
accepted on the pre-join page), so they are checked here once (NSS, CURP, cédula, CLUES, names)
and the FHIR builder can trust them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from records.errors import InvalidFacts
from records.identifiers import clean_cedula, clean_clues, clean_curp, clean_nss
from rooms.names import InvalidName
from rooms.names import clean_name as clean_person_name
from rooms.roles import STAFF_ROLES, Role


class Sex(StrEnum):
    """FHIR ``AdministrativeGender``."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


def clean_name(value: str, what: str = "Nombre") -> str:
    """A name by the one rule every entry point uses (rooms/names.py), refused here as InvalidFacts."""
    try:
        return clean_person_name(value)
    except InvalidName as error:
        raise InvalidFacts(what, error.reason_es, error.reason_en) from None


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """A health establishment (IMSS unit) by its CLUES key."""

    clues: str
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "clues", clean_clues(self.clues))
        object.__setattr__(self, "name", clean_name(self.name, "Unidad"))


@dataclass(frozen=True, slots=True)
class PatientFacts:
    nss: str
    full_name: str
    birth_date: date
    curp: str | None = None
    sex: Sex = Sex.UNKNOWN
    phone: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "nss", clean_nss(self.nss))
        object.__setattr__(self, "full_name", clean_name(self.full_name))
        if self.curp is not None:
            object.__setattr__(self, "curp", clean_curp(self.curp))
        if self.phone is not None and (len(self.phone) > 20 or not self.phone.startswith("+")):
            raise InvalidFacts("Teléfono", "use el formato internacional", "use the international format")


@dataclass(frozen=True, slots=True)
class StaffFacts:
    """The signer: login id, full name, role, professional licence and unit."""

    staff_id: str
    full_name: str
    role: Role
    licence: str
    unit: UnitFacts
    profession: str = "Enfermería"

    def __post_init__(self) -> None:
        if self.role not in STAFF_ROLES:
            raise InvalidFacts("Papel", "solo el personal firma notas", "only staff sign notes")
        object.__setattr__(self, "full_name", clean_name(self.full_name))
        object.__setattr__(self, "licence", clean_cedula(self.licence))
        object.__setattr__(self, "profession", clean_name(self.profession, "Profesión"))


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    """What the patient accepted before joining: the teleconsult itself and, if any, a recording."""

    teleconsult_at: datetime
    recording_at: datetime | None = None

    def __post_init__(self) -> None:
        for moment in (self.teleconsult_at, self.recording_at):
            if moment is not None and moment.tzinfo is None:
                raise InvalidFacts("Consentimiento", "falta la zona horaria", "the time zone is missing")
