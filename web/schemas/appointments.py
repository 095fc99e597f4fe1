"""Booking, rescheduling and cancelling appointments, and the follow-up booked from a consult.

The patient's fields are only bounded here: what makes an NSS, a name, a phone number or a zone
valid is the domain's rule (``rooms.patients.register_patient``), which answers with its own codes
(``invalid_nss``, ``invalid_patient``, ``unknown_time_zone``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, StringConstraints

from rooms.appointments import Appointment, AppointmentKind, AppointmentStatus
from rooms.zones import resolve_zone
from web.schemas.base import Body, DateTimeText, Day, Instant, Text8, Text32, Text64, Text254, UnitId, View

PatientName = Annotated[str, StringConstraints(min_length=1, max_length=400)]
"""Bounded here; the name rule (rooms/names.py) is checked when the patient is registered."""


class PatientRequest(Body):
    model_config = ConfigDict(extra="ignore")
    nss: Text64 = Field(description="11 digits with a valid check digit (else invalid_nss)")
    name: PatientName
    birth_date: Day
    time_zone: Text64 = Field(description="IANA zone, e.g. America/Tijuana")
    phone: Text32 | None = Field(
        default=None,
        description="E.164, e.g. +525512345678; phone or email is required (the link goes there)",
    )
    email: Text254 | None = None
    language: Text8 | None = Field(default=None, description="es (default) or en")


class BookingRequest(Body):
    model_config = ConfigDict(extra="ignore")
    unit: UnitId
    start: Instant = Field(description="the slot's start")
    kind: AppointmentKind = Field(default=AppointmentKind.FIRST, strict=False)
    patient: PatientRequest
    channels: list[Literal["email", "sms", "whatsapp"]] | None = Field(
        default=None,
        max_length=3,
        description="where the patient wants messages (reminders, changes); default: e-mail if given, "
        "SMS if a phone is given. A channel their contact cannot reach is refused (invalid_patient)",
    )
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[\x21-\x7e]+$",
        description="the client's key for this booking (or the Idempotency-Key header): a retry with "
        "the same key returns the same booking and link instead of 409 double_booking",
    )


class RescheduleRequest(Body):
    """Rescheduling: the appointment's new slot."""

    model_config = ConfigDict(extra="ignore")
    start: Instant = Field(description="the slot's start")


class FollowUpRequest(RescheduleRequest):
    """The follow-up's slot; the patient, unit and kind come from the consult."""

    MAX_BYTES: ClassVar[int] = 1024


def _optional(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class AppointmentView(View):
    appointment_id: str
    consult_id: str = Field(description="the same id: the consult of docs/protocol.md")
    unit: str
    kind: AppointmentKind
    status: AppointmentStatus
    start: DateTimeText
    end: DateTimeText
    start_local: DateTimeText = Field(description="the start in the patient's zone")
    patient_zone: str
    check_in_opens: DateTimeText
    check_in_closes: DateTimeText
    checked_in_at: DateTimeText | None
    admitted_at: DateTimeText | None
    reschedules: int

    @classmethod
    def of(cls, a: Appointment) -> AppointmentView:
        return cls(
            appointment_id=a.appointment_id,
            consult_id=a.appointment_id,
            unit=a.unit,
            kind=a.kind,
            status=a.status,
            start=a.start.isoformat(),
            end=a.end.isoformat(),
            start_local=a.start.astimezone(resolve_zone(a.patient_zone)).isoformat(),
            patient_zone=a.patient_zone,
            check_in_opens=a.check_in_window.not_before.isoformat(),
            check_in_closes=a.check_in_window.not_after.isoformat(),
            checked_in_at=_optional(a.checked_in_at),
            admitted_at=_optional(a.admitted_at),
            reschedules=a.reschedules,
        )


class AppointmentAnswer(View):
    appointment: AppointmentView


class BookingAnswer(View):
    appointment: AppointmentView
    patient_link: str = Field(description="<origin>/paciente#t=<join token>")


class FollowUpView(View):
    """What the note's follow-up picker needs: slots are shown in the nurse's and the patient's zone."""

    consult_id: str
    unit: str
    patient_zone: str
    service_zone: str
    upcoming: list[AppointmentView] = Field(description="the patient's booked appointments still to come")
