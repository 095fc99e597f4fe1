"""The scheduling rules' refusals as HTTP answers: one status per domain code."""

from __future__ import annotations

from rooms.errors import DomainError
from web.errors import ApiError

STATUS = {
    "not_found": 404,
    "wrong_unit": 403,
    "slot_taken": 409,
    "double_booking": 409,
    "invalid_appointment_state": 409,
    "appointment_cancelled": 409,
    "check_in_closed": 409,
    "nurse_not_available": 409,
    "invalid_nurse_transition": 409,
    "already_served": 409,
    "request_id_reused": 409,
}
"""Codes that are not a bad request; every other rule's refusal is ``400`` (``invalid_nss``, …)."""


def refused(error: DomainError) -> ApiError:
    """The rule's refusal with its own code and its words in both languages."""
    return ApiError(STATUS.get(error.code, 400), error.code, f"{error.message_es} / {error.message_en}")


def changed_meanwhile() -> ApiError:
    """Another request changed the appointment between reading and writing it."""
    return ApiError(
        409, "conflict", "La cita cambió; intente de nuevo. / The appointment changed; try again."
    )
