"""Every domain error has a stable, unique code and a message in Spanish and in English."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import rooms
from rooms.errors import DomainError

MODULES = [importlib.import_module(f"rooms.{m.name}") for m in pkgutil.iter_modules(rooms.__path__)]
CLASSES = {
    obj
    for module in MODULES
    for obj in vars(module).values()
    if inspect.isclass(obj) and issubclass(obj, DomainError) and obj is not DomainError
}
ERRORS = sorted((cls for cls in CLASSES if not hasattr(cls, "CODES")), key=lambda cls: cls.CODE)
"""One class per code."""
FAMILIES = sorted((cls for cls in CLASSES if hasattr(cls, "CODES")), key=lambda cls: cls.__name__)
"""One class for a rule set's several codes (each raise site gives its own words)."""
FAMILY_CODES = {
    "RuleViolation": {
        "room_full",
        "room_locked",
        "denied",
        "not_found",
        "forbidden",
        "invalid_state",
        "consult_ended",
        "not_your_consult",
        "wrong_unit",
    },
    "InterunitError": {"bad_payload", "unknown_specialty", "too_many_sites", "not_found"},
    "TokenError": {"auth_invalid", "auth_expired", "auth_not_yet_valid"},
}
STABLE_CODES = {
    "already_served",
    "ambiguous_local_time",
    "appointment_cancelled",
    "chat_empty",
    "chat_full",
    "chat_markup",
    "chat_too_long",
    "check_in_closed",
    "check_in_not_open",
    "consent_missing",
    "double_booking",
    "invalid_appointment_state",
    "invalid_name",
    "invalid_nss",
    "invalid_nurse_transition",
    "invalid_patient",
    "link_expired",
    "link_not_yet_valid",
    "link_revoked",
    "nonexistent_local_time",
    "not_a_slot",
    "not_in_queue",
    "nurse_not_available",
    "outside_service_hours",
    "past_time",
    "photos_full",
    "slot_outside_hours",
    "slot_taken",
    "too_far_ahead",
    "unknown_time_zone",
    "wrong_unit",
}


def test_the_published_codes_do_not_change() -> None:
    assert {cls.CODE for cls in ERRORS} == STABLE_CODES
    assert len(ERRORS) == len(STABLE_CODES)  # one class per code
    assert {cls.__name__: set(cls.CODES) for cls in FAMILIES} == FAMILY_CODES


def _raise_sites() -> list[tuple[str, int, ast.Call]]:
    sites = []
    for path in Path(rooms.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {c.__name__ for c in FAMILIES}:
                sites.append((path.name, node.lineno, node))
    return sites


def test_every_family_refusal_speaks_both_languages() -> None:
    """Each place a rule set refuses gives a code of its family and different Spanish and English."""
    sites = _raise_sites()
    assert len(sites) > 30
    for name, line, call in sites:
        assert len(call.args) == 3, f"{name}:{line}: code, Spanish, English"
        spanish, english = (ast.unparse(arg) for arg in call.args[1:])
        assert spanish != english, f"{name}:{line}: the same words in both languages"


def _sample_args(cls: type[DomainError]) -> list[object]:
    samples: dict[str, object] = {
        "name": "Mars/Base",
        "local": datetime(2026, 10, 25, 2, 30),
        "days": 90,
        "opens": datetime(2026, 1, 1, tzinfo=UTC),
        "reason_es": "motivo",
        "reason_en": "reason",
        "field": "name",
        "unit": "umf-1",
        "action_es": "cancelar",
        "action_en": "cancel",
    }
    args: list[object] = []
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self":
            continue
        if name in samples:
            args.append(samples[name])
        else:  # a state enum: its first member
            annotation = str(parameter.annotation)
            from rooms.appointments import AppointmentStatus
            from rooms.nurses import NurseState

            args.append(next(iter(NurseState if "Nurse" in annotation else AppointmentStatus)))
    return args


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.CODE)
def test_each_error_speaks_both_languages(cls: type[DomainError]) -> None:
    error = cls(*_sample_args(cls))  # type: ignore[arg-type]
    assert error.code == cls.CODE
    assert error.message_es and error.message_en and error.message_es != error.message_en
    assert error.message("es") == error.message_es and error.message("en") == error.message_en
    assert error.message("fr") == error.message_es  # Spanish is the program's language
    assert error.to_json() == {
        "code": cls.CODE,
        "message_es": error.message_es,
        "message_en": error.message_en,
    }
    assert cls.CODE in str(error)


def test_the_base_error_is_usable_on_its_own() -> None:
    error = DomainError("custom", "Algo salió mal.", "Something went wrong.")
    assert (error.code, error.message("en")) == ("custom", "Something went wrong.")
