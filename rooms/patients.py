"""Who a patient is for booking purposes: NSS, name, birth date, contact, zone and language.

Everything is validated once, here, when the patient is registered, so the rest of the domain can
trust a :class:`Patient`: its NSS is well formed, its zone exists (slots are shown in it), and it
can be reached (the join link is sent to the contact). The NSS is the patient's identity: IMSS
issues one per insured person, and double booking is checked per NSS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rooms.errors import DomainError
from rooms.names import InvalidName, clean_name
from rooms.nss import Nss, parse_nss
from rooms.zones import resolve_zone

MAX_AGE_YEARS = 130
_PHONE = re.compile(r"\+[1-9]\d{7,14}")  # E.164: country code and number, 8 to 15 digits
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


class Language(StrEnum):
    ES = "es"
    EN = "en"


class InvalidPatient(DomainError):
    CODE = "invalid_patient"

    def __init__(self, field: str, reason_es: str, reason_en: str) -> None:
        super().__init__(
            self.CODE, f"Dato no válido ({field}): {reason_es}.", f"Invalid {field}: {reason_en}."
        )
        self.field = field


@dataclass(frozen=True, slots=True)
class Contact:
    """How to reach the patient: an E.164 phone (for SMS/WhatsApp), an e-mail, or both."""

    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    nss: Nss
    name: str
    birth_date: date
    contact: Contact
    time_zone: str
    language: Language = Language.ES

    @property
    def patient_id(self) -> str:
        return self.nss.value


def _contact(phone: str | None, email: str | None) -> Contact:
    phone = re.sub(r"[\s\-().]", "", phone) if phone else None
    email = email.strip() if email else None
    if phone is not None and not _PHONE.fullmatch(phone):
        raise InvalidPatient(
            "phone",
            "use el formato internacional, p. ej. +52 55 1234 5678",
            "use the international format, e.g. +52 55 1234 5678",
        )
    if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        raise InvalidPatient(
            "email", "no parece un correo electrónico", "it does not look like an e-mail address"
        )
    if phone is None and email is None:
        raise InvalidPatient(
            "contact",
            "hace falta un teléfono o un correo para enviarle el enlace",
            "a phone or an e-mail is needed to send the link",
        )
    return Contact(phone, email)


def register_patient(
    *,
    nss: str,
    name: str,
    birth_date: date,
    time_zone: str,
    today: date,
    phone: str | None = None,
    email: str | None = None,
    language: str = "es",
) -> Patient:
    """A validated patient, or the first problem found: NSS, name, birth date, zone, language, contact.

    ``today`` is the caller's date (the domain has no clock); a birth date after it, or more than
    ``MAX_AGE_YEARS`` before it, is a typo.
    """
    parsed = parse_nss(nss)
    try:
        full_name = clean_name(name)  # the one rule for every name (rooms/names.py)
    except InvalidName as error:
        raise InvalidPatient("name", error.reason_es, error.reason_en) from None
    if birth_date > today or today.year - birth_date.year > MAX_AGE_YEARS:
        raise InvalidPatient(
            "birth_date", "la fecha de nacimiento no es posible", "the birth date is not possible"
        )
    resolve_zone(time_zone)
    try:
        lang = Language(language)
    except ValueError:
        raise InvalidPatient("language", "use «es» o «en»", "use 'es' or 'en'") from None
    return Patient(parsed, full_name, birth_date, _contact(phone, email), time_zone, lang)
