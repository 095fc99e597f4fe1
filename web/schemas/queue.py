"""A unit's queue, the nurse's own state, "next patient", and the patient's place in the queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, RootModel

from rooms.appointments import AppointmentStatus
from rooms.errors import DomainError
from rooms.nurses import Nurse, NurseState
from rooms.queue import QueuePosition, WaitBasis
from web.schemas.base import Body, DateTimeText, View


class NurseView(View):
    nurse_id: str
    unit: str
    state: NurseState
    since: DateTimeText | None = Field(description="when the current state began; null if never on duty")

    @classmethod
    def of(cls, nurse: Nurse) -> NurseView:
        since = nurse.since.isoformat() if nurse.since is not None else None
        return cls(nurse_id=nurse.nurse_id, unit=nurse.unit, state=nurse.state, since=since)


class NurseStateRequest(Body):
    model_config = ConfigDict(extra="ignore")
    MAX_BYTES: ClassVar[int] = 1024
    state: Literal["available", "away"]


class QueueEntryView(View):
    place: int
    appointment_id: str
    consult_id: str
    patient_name: str | None
    appointment_start: DateTimeText
    checked_in_at: DateTimeText
    urgent: bool
    connected: bool
    absent: bool
    eligible_for_me: bool = Field(description="whether 'next patient' could give this one to the caller")


class QueueView(View):
    unit: str
    entries: list[QueueEntryView] = Field(description="in the order they will be taken")
    nurses: list[NurseView]
    me: NurseView | None
    server_time: DateTimeText
    version: int = Field(
        description="the unit's change number this snapshot holds; apply queue:diff events after it"
    )
    consults: list[dict[str, Any]] = Field(
        description="the console's list: consult views (with their version), the unit's open consults "
        "and those the caller hosts"
    )
    absent_after_seconds: int = Field(
        description="a dropped patient shows as absent this long after dropped_at"
    )


class NextPatientView(View):
    """The head of the nurse's eligible queue, now hers: the console then sends ``lobby:admit``."""

    consult_id: str
    appointment_id: str
    patient_name: str
    waited_seconds: int
    nurse: NurseView


class CheckInRefusal(View):
    """What checking in now would answer, as the socket would say it."""

    code: str = Field(
        description="outside_service_hours, check_in_not_open, check_in_closed, appointment_cancelled"
    )
    message: str = Field(description="English")
    message_es: str
    opens_at: DateTimeText | None = Field(default=None, description="when to come back, when known")

    @classmethod
    def of(cls, refusal: DomainError) -> CheckInRefusal:
        return cls.model_validate(
            {
                **refusal.detail(),
                "code": refusal.code,
                "message": refusal.message_en,
                "message_es": refusal.message_es,
            }
        )


class Waiting(View):
    """The patient is in the queue: their place and expected wait."""

    waiting: Literal[True]
    place: int = Field(description="1-based, kept while the patient is away")
    ahead: int
    connected: bool
    absent: bool
    expected_wait_minutes: int | None
    expected_wait_low_minutes: int | None
    expected_wait_high_minutes: int | None
    basis: WaitBasis
    nurses_on_duty: int
    nurses_available: int
    status: AppointmentStatus
    appointment_start: DateTimeText
    server_time: DateTimeText
    check_in: CheckInRefusal | None

    @classmethod
    def of(
        cls,
        place: QueuePosition,
        status: AppointmentStatus,
        start: datetime,
        now: datetime,
        check_in: CheckInRefusal | None,
    ) -> Waiting:
        estimate = place.estimate

        def minutes(value: timedelta | None) -> int | None:
            return None if value is None else -(-value // timedelta(minutes=1))

        return cls(
            waiting=True,
            place=place.place,
            ahead=place.ahead,
            connected=place.connected,
            absent=place.absent,
            expected_wait_minutes=estimate.expected_minutes,
            expected_wait_low_minutes=minutes(estimate.low),
            expected_wait_high_minutes=minutes(estimate.high),
            basis=estimate.basis,
            nurses_on_duty=estimate.nurses_on_duty,
            nurses_available=estimate.nurses_available,
            status=status,
            appointment_start=start.isoformat(),
            server_time=now.isoformat(),
            check_in=check_in,
        )


class NotWaiting(View):
    """The patient is not in the queue (not checked in yet, or already seen, or cancelled)."""

    waiting: Literal[False]
    status: AppointmentStatus
    appointment_start: DateTimeText
    server_time: DateTimeText
    check_in: CheckInRefusal | None = Field(description="null, or what checking in now would answer")


class PositionView(RootModel[Waiting | NotWaiting]):
    """Waiting in the queue (place and expected wait) or not; the patient's page polls it every 5 s."""
