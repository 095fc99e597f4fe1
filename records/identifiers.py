"""Identifier systems and the checks that make a patient, a practitioner or a unit identifiable.

Mexico has no published FHIR ``NamingSystem`` URIs for the NSS, the CURP, the *cédula profesional* or
the CLUES that this program can rely on, so they live under one namespace of ours,
``https://teleconsulta.example/fhir/sid/``. The namespace is a single constant: a deployment that
adopts official URIs changes it here (and migrates stored identifiers) without touching builders.

* **NSS** (IMSS affiliate number): eleven digits with a Luhn check digit (see :mod:`rooms.nss`).
* **CURP** (RENAPO population key): 18 characters; the last is a check digit computed over the
  first 17 with the alphabet ``0-9 A-N Ñ O-Z`` and weights 18..2 (RENAPO's instructivo normativo).
* **Cédula profesional** (SEP professional licence): 7 or 8 digits (older ones have fewer, so 5 to 8).
* **CLUES** (Secretaría de Salud's key of a health establishment): 2-letter state, 3-letter
  institution, 6 digits, e.g. ``DFIMS000652``.
"""

from __future__ import annotations

import re

from records.errors import InvalidFacts
from rooms.nss import InvalidNss, parse_nss

FHIR_BASE = "https://teleconsulta.example/fhir"
SID = f"{FHIR_BASE}/sid"
CODE_SYSTEM = f"{FHIR_BASE}/CodeSystem"

NSS_SYSTEM = f"{SID}/nss"
CURP_SYSTEM = f"{SID}/curp"
CEDULA_SYSTEM = f"{SID}/cedula-profesional"
CLUES_SYSTEM = f"{SID}/clues"
STAFF_SYSTEM = f"{SID}/staff"
"""The login id of a staff member, for audit agents that are not (yet) a Practitioner resource."""
PARTICIPANT_SYSTEM = f"{SID}/participant"
"""A room participant id from the session log (companions, interpreters, invited specialists)."""
CONSULT_SYSTEM = f"{SID}/consult"
NOTE_SYSTEM = f"{SID}/note"

IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"

_CURP_ALPHABET = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
_CURP = re.compile(
    r"[A-Z][AEIOUX][A-Z]{2}\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])[HMX]"
    r"(AS|BC|BS|CC|CL|CM|CS|CH|DF|DG|GT|GR|HG|JC|MC|MN|MS|NT|NL|OC|PL|QT|QR|SP|SL|SR|TC|TS|TL|VZ|YN|ZS|NE)"
    r"[B-DF-HJ-NP-TV-Z]{3}[A-Z\d]\d"
)
_CLUES = re.compile(r"[A-Z]{5}\d{6}")
_CEDULA = re.compile(r"\d{5,8}")


def curp_check_digit(first17: str) -> int:
    """RENAPO's check digit: sum of each character's value times (18 - position), mod 10 complement."""
    total = sum(_CURP_ALPHABET.index(char) * (18 - index) for index, char in enumerate(first17))
    return (10 - total % 10) % 10


def clean_nss(text: str) -> str:
    try:
        return parse_nss(text).value
    except InvalidNss as error:
        raise InvalidFacts("NSS", error.message_es, error.message_en) from None


def _formatted(value: str, pattern: re.Pattern[str], field: str, es: str, en: str) -> str:
    """``value`` if it has the identifier's official format, else the refusal in both languages."""
    if not pattern.fullmatch(value):
        raise InvalidFacts(field, es, en)
    return value


def clean_curp(text: str) -> str:
    value = _formatted(
        text.strip().upper(),
        _CURP,
        "CURP",
        "debe tener 18 caracteres con el formato oficial",
        "it needs 18 characters in the official format",
    )
    if curp_check_digit(value[:17]) != int(value[17]):
        raise InvalidFacts("CURP", "el dígito verificador no coincide", "the check digit does not match")
    return value


def clean_clues(text: str) -> str:
    es, en = "use 5 letras y 6 dígitos, p. ej. DFIMS000652", "use 5 letters and 6 digits, e.g. DFIMS000652"
    return _formatted(text.strip().upper(), _CLUES, "CLUES", es, en)


def clean_cedula(text: str) -> str:
    return _formatted(
        text.strip(), _CEDULA, "Cédula profesional", "use de 5 a 8 dígitos", "use 5 to 8 digits"
    )


def identifier(
    system: str, value: str, type_code: str | None = None, type_text: str | None = None
) -> dict[str, object]:
    """A FHIR ``Identifier``; ``type_code`` is from HL7 v2 table 0203 when one fits."""
    result: dict[str, object] = {"use": "official", "system": system, "value": value}
    if type_code is not None:
        result["type"] = {
            "coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": type_code}],
            **({"text": type_text} if type_text else {}),
        }
    return result
