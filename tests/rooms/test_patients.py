from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from rooms.nss import InvalidNss
from rooms.patients import Contact, InvalidPatient, Language, register_patient
from rooms.zones import UnknownTimeZone

TODAY = date(2026, 3, 2)
GOOD: dict[str, Any] = {
    "nss": "92 91 90 8443-1",
    "name": "  María   José  Hernández ",
    "birth_date": date(1990, 5, 17),
    "time_zone": "America/Chicago",
    "today": TODAY,
    "phone": "+1 (312) 555-0100",
    "language": "es",
}


def test_a_patient_is_registered_with_clean_values() -> None:
    patient = register_patient(**GOOD)
    assert patient.patient_id == "92919084431"
    assert patient.name == "María José Hernández"
    assert patient.contact == Contact(phone="+13125550100", email=None)
    assert patient.language is Language.ES
    assert patient.time_zone == "America/Chicago"


def test_email_only_and_english() -> None:
    patient = register_patient(**{**GOOD, "phone": None, "email": " ana@example.org ", "language": "en"})
    assert patient.contact == Contact(None, "ana@example.org")
    assert patient.language is Language.EN


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"nss": "92919084432"}, InvalidNss, None),
        ({"name": "   "}, InvalidPatient, "name"),
        ({"name": "x" * 201}, InvalidPatient, "name"),
        ({"birth_date": date(2026, 3, 3)}, InvalidPatient, "birth_date"),
        ({"birth_date": date(1880, 1, 1)}, InvalidPatient, "birth_date"),
        ({"time_zone": "Mexico City"}, UnknownTimeZone, None),
        ({"language": "fr"}, InvalidPatient, "language"),
        ({"phone": "555-0100"}, InvalidPatient, "phone"),
        ({"phone": None, "email": "not-an-email"}, InvalidPatient, "email"),
        ({"phone": None, "email": None}, InvalidPatient, "contact"),
    ],
)
def test_each_problem_is_a_domain_error(
    change: dict[str, Any], error: type[Exception], field: str | None
) -> None:
    with pytest.raises(error) as caught:
        register_patient(**{**GOOD, **change})
    if field is not None:
        assert isinstance(caught.value, InvalidPatient) and caught.value.field == field
