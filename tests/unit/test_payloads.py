"""One shape for every refused REST input (web/payloads.py): 400 bad_payload naming the fields,
never their values; and the request schemas keep the old rules (strict types, offsets required)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from web.errors import ApiError
from web.payloads import invalid_fields
from web.schemas.appointments import BookingRequest
from web.schemas.interunit import SiteRequest
from web.schemas.notes import SaveNoteRequest

SECRET_NAME = "Rosa Secreta Ejemplo"


def _refusal(model: type[BookingRequest | SiteRequest | SaveNoteRequest], data: object) -> ApiError:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return invalid_fields(caught.value)


def test_the_message_names_the_fields_never_the_values() -> None:
    error = _refusal(
        BookingRequest,
        {"unit": "UMF 1", "start": "2026-03-02T10:00:00", "patient": {"nss": "", "name": SECRET_NAME}},
    )
    assert (error.status, error.code) == (400, "bad_payload")
    for field in ("unit", "start", "patient.nss", "patient.birth_date", "patient.time_zone"):
        assert field in error.message
    assert SECRET_NAME not in error.message and "UMF 1" not in error.message
    assert error.message.startswith("Datos no válidos: ") and " / Invalid fields: " in error.message


def test_unknown_fields_are_refused_without_repeating_their_names() -> None:
    site = {"clues": "MCSSA000001", "unit_name": "H", "name": "Dr", "role": "nurse"}
    error = _refusal(SiteRequest, {**site, SECRET_NAME: 1})
    assert "unknown fields" in error.message and SECRET_NAME not in error.message
    SiteRequest.model_validate(site)


@pytest.mark.parametrize(
    "data",
    [
        {"base_version": True, "content": {}},  # a boolean is not a version
        {"base_version": "3", "content": {}},  # nor is text
        {"base_version": 0, "content": {}},
        {"base_version": 3},  # content is required, even if null
    ],
)
def test_types_are_strict(data: dict[str, object]) -> None:
    assert _refusal(SaveNoteRequest, data).code == "bad_payload"


def test_what_the_old_checks_let_through_still_passes() -> None:
    assert SaveNoteRequest.model_validate({"base_version": 3, "content": None, "extra": 1}).content is None
    booking = BookingRequest.model_validate(
        {
            "unit": "UMF-1",
            "start": "2026-03-02T10:00:00-06:00",
            "patient": {"nss": "x", "name": "y", "birth_date": "1980-01-31", "time_zone": "z"},
        }
    )
    assert booking.kind.value == "first" and booking.start.utcoffset() is not None
