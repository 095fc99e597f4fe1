"""The one name rule (rooms/names.py): what it refuses, what it keeps, and how it cleans.

The same lists drive tests/integration/test_person_names.py, which sends them through every entry
point that accepts a name.
"""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.names import MAX_NAME_LENGTH, InvalidName, clean_name
from rooms.patients import InvalidPatient, register_patient
from rooms.roles import Role
from rooms.staff import StaffMember

BAD_NAMES: dict[str, str] = {
    "bidi override": "Ana\u202egnp.exe",
    "bidi isolate": "\u2067Luis\u2069",
    "right-to-left mark": "Luis\u200f",
    "zero-width space": "Ma\u200bría",
    "zero-width joiner": "Jo\u200dsé",
    "byte order mark": "\ufeffPedro",
    "soft hyphen": "Gon\u00adzález",
    "NUL": "Ana\x00",
    "escape": "Ana\x1b[31m",
    "newline": "Ana\nLópez",
    "tab": "Ana\tLópez",
    "C1 control": "Ana\x85",
    "line separator": "Ana\u2028López",
    "private use": "Ana\ue000",
    "markup": "<b>Ana</b>",
    "greater than": "Ana > Luis",
    "too long": "Á" * (MAX_NAME_LENGTH + 1),
    "empty": "",
    "only spaces": "   \u00a0 ",
    "no letters": "12345 - 678",
    "stacked marks": "Za\u0301\u0302\u0303\u0304\u0305\u0306lgo",
}

GOOD_NAMES: dict[str, tuple[str, str]] = {
    "accents": ("José Ángel Núñez", "José Ángel Núñez"),
    "eñe": ("Begoña Ibáñez", "Begoña Ibáñez"),
    "apostrophe": ("Miguel O'Connor", "Miguel O'Connor"),
    "hyphen": ("Ana-Lucía Pérez-Reverte", "Ana-Lucía Pérez-Reverte"),
    "CJK": ("山田 太郎", "山田 太郎"),
    "title and dot": ("Dra. María de la Luz Sánchez", "Dra. María de la Luz Sánchez"),
    "unit with digits": ("UMF No. 28 «Gabriel Mancera»", "UMF No. 28 «Gabriel Mancera»"),
    "spaces collapsed": ("  María \u00a0  José ", "María José"),
    "decomposed accent made NFC": ("Jose\u0301", "José"),
    "at the limit": ("Á" * MAX_NAME_LENGTH, "Á" * MAX_NAME_LENGTH),
}


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_a_bad_name_is_refused_in_both_languages(name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        clean_name(name)
    error = caught.value
    assert error.code == "invalid_name"
    assert error.message_es.startswith("Nombre no válido") and error.message_en.startswith("Invalid name")
    # The message names a refused character by code point, never by itself.
    assert not any(unicodedata.category(c)[0] == "C" for c in error.message_es + error.message_en)


@pytest.mark.parametrize(("name", "stored"), list(GOOD_NAMES.values()), ids=list(GOOD_NAMES))
def test_a_good_name_is_kept_as_people_read_it(name: str, stored: str) -> None:
    assert clean_name(name) == stored
    assert clean_name(stored) == stored  # cleaning is idempotent


def test_the_refusal_names_the_character() -> None:
    with pytest.raises(InvalidName) as caught:
        clean_name("Ana\u202eX")
    assert "U+202E" in caught.value.message_en and "U+202E" in caught.value.message_es


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_patients_and_staff_follow_the_same_rule(name: str) -> None:
    with pytest.raises(InvalidPatient) as refused:
        register_patient(
            nss="92919084431",
            name=name,
            birth_date=date(1990, 1, 1),
            time_zone="America/Mexico_City",
            today=date(2026, 3, 2),
            email="ana@example.org",
        )
    assert refused.value.field == "name"
    with pytest.raises(InvalidName):
        StaffMember("s-1", "ana", name, Role.NURSE, "UMF-1", "$argon2id$hash")


_NAME_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@given(st.text(_NAME_CHARS, max_size=200))
def test_whatever_is_accepted_is_clean(text: str) -> None:
    try:
        name = clean_name(text)
    except InvalidName:
        return
    assert 1 <= len(name) <= MAX_NAME_LENGTH
    assert name == name.strip() and "  " not in name
    assert unicodedata.is_normalized("NFC", name)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp") for c in name)
    assert "<" not in name and ">" not in name
    assert any(unicodedata.category(c).startswith("L") for c in name)
    assert clean_name(name) == name
