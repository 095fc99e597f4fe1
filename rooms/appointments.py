"""Appointments: booking, rescheduling, cancelling, check-in, no-shows and the join link.

    booked --check_in--> checked_in --admit--> admitted
      |  \\                  |
      |   \\--(window closed)--> no_show
      \\--cancel--> cancelled <--cancel--/

Every command is a pure function of the appointment (and, for booking, of the appointments that
could conflict) and the caller's ``now``; it returns the next appointment with a bumped
``version`` or raises a :class:`~rooms.errors.DomainError` and changes nothing. Callers persist
with compare-and-set on ``version``.

Times: ``start``/``end`` are UTC instants, and the booking also keeps the slot's wall-clock start
in the service's zone. The instant is what everyone meets at, so daylight-saving changes on the
patient's side or the service's never move it. The wall-clock start is the service's promise
("08:00 at the clinic"): if the zone's *rules* change after booking, as Mexico's did when it
abolished daylight-saving time in 2022, :func:`follow_zone_rules` moves the instant to where that
wall-clock time now falls, and the caller tells the patient.

The check-in window runs from ``opens_before`` the start to ``grace`` after the end, clipped to
the opening interval the slot is in, so nobody is ever asked to wait while the service is closed.
It is also the join link's validity window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from rooms.errors import DomainError
from rooms.hours import ServiceHours
from rooms.patients import Patient
from rooms.slots import Slot, SlotPolicy, check_bookable
from rooms.zones import require_utc, resolve_zone, wall_time_instant


class AppointmentKind(StrEnum):
    FIRST = "first"
    """First consult: builds the electronic record (history, risk screening, preventive actions)."""
    FOLLOW_UP = "follow_up"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    ADMITTED = "admitted"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    COMPLETED = "completed"
    """The patient was seen and the consult has ended."""
    CLOSED = "closed"
    """Staff ended the consult before the patient was admitted (e.g. after denying them)."""


HOLDS_SLOT = frozenset(
    {
        AppointmentStatus.BOOKED,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.ADMITTED,
        AppointmentStatus.COMPLETED,
    }
)
"""Statuses in which an appointment occupies its slot (and its patient's time)."""


class PastTime(DomainError):
    CODE = "past_time"

    def __init__(self) -> None:
        super().__init__(self.CODE, "Ese horario ya pasó.", "That time has already passed.")


class SlotTaken(DomainError):
    CODE = "slot_taken"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Ese horario ya está ocupado; elija otro.",
            "That slot is already taken; please choose another.",
        )


class DoubleBooking(DomainError):
    CODE = "double_booking"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Ya tiene una cita que se empalma con ese horario.",
            "You already have an appointment at an overlapping time.",
        )


class InvalidAppointmentState(DomainError):
    CODE = "invalid_appointment_state"

    def __init__(self, status: AppointmentStatus, action_es: str, action_en: str) -> None:
        super().__init__(
            self.CODE,
            f"No se puede {action_es} una cita en estado «{_STATUS_ES[status]}».",
            f"Cannot {action_en} an appointment that is {status.value.replace('_', ' ')}.",
        )
        self.status = status


class AppointmentCancelled(DomainError):
    CODE = "appointment_cancelled"

    def __init__(self) -> None:
        super().__init__(self.CODE, "Esta cita fue cancelada.", "This appointment was cancelled.")


class CheckInNotOpen(DomainError):
    CODE = "check_in_not_open"

    def __init__(self, opens: datetime) -> None:
        super().__init__(
            self.CODE,
            "Todavía es temprano: la sala de espera abre poco antes de su cita.",
            "It is too early: the waiting room opens shortly before your appointment.",
        )
        self.opens = opens

    def detail(self) -> dict[str, str]:
        return {"opens_at": self.opens.isoformat()}


class CheckInClosed(DomainError):
    CODE = "check_in_closed"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "El tiempo para entrar a esta cita terminó; solicite una nueva.",
            "The time to join this appointment is over; please book a new one.",
        )


class LinkRevoked(DomainError):
    CODE = "link_revoked"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Este enlace ya no es válido; use el más reciente que le enviamos.",
            "This link is no longer valid; use the latest one we sent you.",
        )


class LinkNotYetValid(DomainError):
    CODE = "link_not_yet_valid"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Este enlace todavía no está activo; ábralo poco antes de su cita.",
            "This link is not active yet; open it shortly before your appointment.",
        )


class LinkExpired(DomainError):
    CODE = "link_expired"

    def __init__(self) -> None:
        super().__init__(self.CODE, "Este enlace ya expiró.", "This link has expired.")


_STATUS_ES = {
    AppointmentStatus.BOOKED: "reservada",
    AppointmentStatus.CHECKED_IN: "en sala de espera",
    AppointmentStatus.ADMITTED: "atendida",
    AppointmentStatus.CANCELLED: "cancelada",
    AppointmentStatus.NO_SHOW: "no asistió",
}


@dataclass(frozen=True, slots=True)
class CheckInPolicy:
    """The check-in (and join link) window: from ``opens_before`` the start to ``grace`` after the end."""

    opens_before: timedelta = timedelta(minutes=15)
    grace: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.opens_before < timedelta(0) or self.grace < timedelta(0):
            raise ValueError("check-in offsets cannot be negative")


@dataclass(frozen=True, slots=True)
class BookingRules:
    """Everything a booking is checked against, configured once."""

    hours: ServiceHours = field(default_factory=ServiceHours.program_default)
    slots: SlotPolicy = field(default_factory=SlotPolicy)
    check_in: CheckInPolicy = field(default_factory=CheckInPolicy)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """[not_before, not_after) in UTC."""

    not_before: datetime
    not_after: datetime

    def contains(self, at: datetime) -> bool:
        return self.not_before <= at < self.not_after

    @property
    def epoch_seconds(self) -> tuple[int, int]:
        """As whole epoch seconds (for signed join tokens), never wider than the window."""
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        first = -((epoch - self.not_before) // timedelta(seconds=1))  # ceiling
        return first, (self.not_after - epoch) // timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Appointment:
    appointment_id: str
    patient_id: str
    unit: str
    kind: AppointmentKind
    start: datetime
    end: datetime
    service_zone: str
    service_wall_start: datetime
    """The slot's start as wall-clock time (naive) in ``service_zone``: the service's promise."""
    patient_zone: str
    check_in_window: TimeWindow
    booked_at: datetime
    status: AppointmentStatus = AppointmentStatus.BOOKED
    checked_in_at: datetime | None = None
    admitted_at: datetime | None = None
    closed_at: datetime | None = None
    """When it was cancelled, marked a no-show, or its consult ended."""
    preferred_nurse: str | None = None
    """Continuity of care: the nurse who should see this patient if they are free in time."""
    link_generation: int = 0
    reschedules: int = 0
    version: int = 0

    @property
    def slot(self) -> Slot:
        return Slot(self.start, self.end)

    @property
    def join_window(self) -> TimeWindow:
        """When the patient's join link works: the check-in window."""
        return self.check_in_window

    @property
    def link_id(self) -> str:
        """The current join link's id; revoking or rescheduling makes a new one, so old links stop working."""
        return f"{self.appointment_id}.{self.link_generation}"

    def shown_in(self, zone: ZoneInfo | None = None) -> tuple[datetime, datetime]:
        """Start and end in ``zone`` (the patient's by default), offsets included."""
        zone = zone or resolve_zone(self.patient_zone)
        return self.start.astimezone(zone), self.end.astimezone(zone)


def _window(rules: BookingRules, slot: Slot) -> TimeWindow:
    """The check-in window, clipped to the time the service stays open around the slot.

    Openings that touch are one (a round-the-clock service does not close at midnight), so a
    patient booked at 00:00 may wait from 23:45 and one booked at 23:40 may still join at 00:05.
    """
    reach = rules.check_in.opens_before + (slot.end - slot.start) + rules.check_in.grace
    span = rules.hours.open_span(slot.start, reach)
    if span is None:  # pragma: no cover - slot_at guarantees an interval
        raise AssertionError("a valid slot lies in an opening interval")
    return TimeWindow(
        max(slot.start - rules.check_in.opens_before, span.start),
        min(slot.end + rules.check_in.grace, span.end),
    )


def _check_slot(
    rules: BookingRules,
    *,
    appointment_id: str,
    patient_id: str,
    unit: str,
    start: datetime,
    existing: Iterable[Appointment],
    now: datetime,
) -> Slot:
    """The checks shared by booking and rescheduling, in the order a person would want to hear them."""
    if require_utc(start) <= require_utc(now):
        raise PastTime()
    slot = check_bookable(rules.hours, rules.slots, start, now)
    in_slot = 0
    for other in existing:
        if other.appointment_id == appointment_id or other.status not in HOLDS_SLOT:
            continue
        overlaps = other.start < slot.end and slot.start < other.end
        if overlaps and other.patient_id == patient_id:
            raise DoubleBooking()
        if overlaps and other.unit == unit:
            in_slot += 1
    if in_slot >= rules.slots.capacity:
        raise SlotTaken()
    return slot


def book(
    *,
    appointment_id: str,
    patient: Patient,
    unit: str,
    kind: AppointmentKind,
    start: datetime,
    rules: BookingRules,
    existing: Iterable[Appointment],
    now: datetime,
    preferred_nurse: str | None = None,
) -> Appointment:
    """Book the slot starting at ``start`` (an instant; the patient picked it in their zone).

    ``existing`` must hold at least every appointment that could conflict: the patient's, and the
    unit's in that slot; others are ignored. Errors, in order: :class:`PastTime`,
    :class:`~rooms.hours.OutsideServiceHours`, :class:`~rooms.slots.NotASlot`,
    :class:`~rooms.slots.TooFarAhead`, :class:`DoubleBooking`, :class:`SlotTaken`.
    """
    slot = _check_slot(
        rules,
        appointment_id=appointment_id,
        patient_id=patient.patient_id,
        unit=unit,
        start=start,
        existing=existing,
        now=now,
    )
    zone = rules.hours.zone
    return Appointment(
        appointment_id=appointment_id,
        patient_id=patient.patient_id,
        unit=unit,
        kind=kind,
        start=slot.start,
        end=slot.end,
        service_zone=rules.hours.zone_name,
        service_wall_start=slot.start.astimezone(zone).replace(tzinfo=None),
        patient_zone=patient.time_zone,
        check_in_window=_window(rules, slot),
        booked_at=require_utc(now),
        preferred_nurse=preferred_nurse,
    )


def reschedule(
    appointment: Appointment,
    *,
    start: datetime,
    rules: BookingRules,
    existing: Iterable[Appointment],
    now: datetime,
) -> Appointment:
    """Move to another slot, with the same checks as booking; the old join link stops working.

    Allowed while the appointment is booked, or checked in but never admitted (e.g. the service
    closed before a nurse was free), as long as its check-in window has not closed.
    """
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN):
        raise InvalidAppointmentState(appointment.status, "cambiar", "reschedule")
    if appointment.status is AppointmentStatus.BOOKED and now >= appointment.check_in_window.not_after:
        raise CheckInClosed()
    slot = _check_slot(
        rules,
        appointment_id=appointment.appointment_id,
        patient_id=appointment.patient_id,
        unit=appointment.unit,
        start=start,
        existing=existing,
        now=now,
    )
    return replace(
        appointment,
        start=slot.start,
        end=slot.end,
        service_zone=rules.hours.zone_name,
        service_wall_start=slot.start.astimezone(rules.hours.zone).replace(tzinfo=None),
        check_in_window=_window(rules, slot),
        status=AppointmentStatus.BOOKED,
        checked_in_at=None,
        link_generation=appointment.link_generation + 1,
        reschedules=appointment.reschedules + 1,
        version=appointment.version + 1,
    )


def cancel(appointment: Appointment, now: datetime) -> Appointment:
    """Give the slot back; the join link stops working. Cancelling twice is a no-op."""
    if appointment.status is AppointmentStatus.CANCELLED:
        return appointment
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN):
        raise InvalidAppointmentState(appointment.status, "cancelar", "cancel")
    return replace(
        appointment,
        status=AppointmentStatus.CANCELLED,
        closed_at=require_utc(now),
        link_generation=appointment.link_generation + 1,
        version=appointment.version + 1,
    )


def check_in(appointment: Appointment, now: datetime) -> Appointment:
    """The patient enters the waiting room, inside the check-in window.

    Checking in again inside the window (a reload) returns the appointment unchanged, so the
    original check-in time, and with it the patient's place in the queue, is kept. After the
    window a patient still waiting comes back with the queue's ``rejoin``, which needs no window;
    one who is no longer waiting (the service closed) cannot check in again, so nobody is queued
    while the service is closed.
    """
    now = require_utc(now)
    if appointment.status is AppointmentStatus.CHECKED_IN:
        if now >= appointment.check_in_window.not_after:
            raise CheckInClosed()
        return appointment
    if appointment.status is AppointmentStatus.CANCELLED:
        raise AppointmentCancelled()
    if appointment.status is AppointmentStatus.NO_SHOW:
        raise CheckInClosed()
    if appointment.status is not AppointmentStatus.BOOKED:
        raise InvalidAppointmentState(appointment.status, "registrar la llegada a", "check in to")
    if now < appointment.check_in_window.not_before:
        raise CheckInNotOpen(appointment.check_in_window.not_before)
    if now >= appointment.check_in_window.not_after:
        raise CheckInClosed()
    return replace(
        appointment, status=AppointmentStatus.CHECKED_IN, checked_in_at=now, version=appointment.version + 1
    )


def admit(appointment: Appointment, now: datetime) -> Appointment:
    """A nurse took the patient from the queue."""
    if appointment.status is not AppointmentStatus.CHECKED_IN:
        raise InvalidAppointmentState(appointment.status, "atender", "admit")
    return replace(
        appointment,
        status=AppointmentStatus.ADMITTED,
        admitted_at=require_utc(now),
        version=appointment.version + 1,
    )


FINAL = frozenset(
    {
        AppointmentStatus.CANCELLED,
        AppointmentStatus.NO_SHOW,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.CLOSED,
    }
)
"""Statuses after which nothing happens to an appointment any more."""


def consult_ended(appointment: Appointment, now: datetime) -> Appointment:
    """The appointment's consult ended, whoever ended it: the appointment follows, so the queue,
    the patient's page and the next nurse never see a consult that is over as still to come.

    An admitted patient's appointment is *completed*; one that was still booked or waiting is
    *closed* and its link stops working. A final appointment is returned unchanged.
    """
    if appointment.status in FINAL:
        return appointment
    seen = appointment.status is AppointmentStatus.ADMITTED
    return replace(
        appointment,
        status=AppointmentStatus.COMPLETED if seen else AppointmentStatus.CLOSED,
        closed_at=require_utc(now),
        link_generation=appointment.link_generation if seen else appointment.link_generation + 1,
        version=appointment.version + 1,
    )


def no_show_due(appointment: Appointment, now: datetime) -> bool:
    """Booked, never checked in, and the check-in window has closed."""
    return appointment.status is AppointmentStatus.BOOKED and now >= appointment.check_in_window.not_after


def mark_no_show(appointment: Appointment, now: datetime) -> Appointment:
    if not no_show_due(appointment, now):
        raise InvalidAppointmentState(appointment.status, "marcar como inasistencia", "mark as a no-show")
    return replace(
        appointment,
        status=AppointmentStatus.NO_SHOW,
        closed_at=require_utc(now),
        link_generation=appointment.link_generation + 1,
        version=appointment.version + 1,
    )


def revoke_link(appointment: Appointment) -> Appointment:
    """Invalidate every join link issued so far (e.g. it was forwarded by mistake); a new one can be sent."""
    return replace(
        appointment, link_generation=appointment.link_generation + 1, version=appointment.version + 1
    )


def verify_link(appointment: Appointment, link_id: str, now: datetime) -> None:
    """Whether a join link with ``link_id`` may be used at ``now``; raises why not.

    A patient who is checked in (waiting) or admitted (in the call) keeps a working link after the
    window closes, so a dropped connection never costs them their place; once admitted, the
    consult's own state decides when the link stops working.
    """
    if appointment.status is AppointmentStatus.CANCELLED:
        raise AppointmentCancelled()
    if link_id != appointment.link_id:
        raise LinkRevoked()
    if appointment.status in (AppointmentStatus.CHECKED_IN, AppointmentStatus.ADMITTED):
        return
    if appointment.status is not AppointmentStatus.BOOKED:
        raise LinkExpired()
    if now < appointment.join_window.not_before:
        raise LinkNotYetValid()
    if now >= appointment.join_window.not_after:
        raise LinkExpired()


def follow_zone_rules(appointment: Appointment, rules: BookingRules) -> Appointment:
    """Re-anchor a booked appointment to its wall-clock slot under the zone rules in force now.

    Returns the appointment unchanged when the stored instant still is that wall-clock time, which
    is always the case unless the zone database changed since booking. Otherwise the appointment
    moves (new version, new join link) and the caller must tell the patient.
    """
    if appointment.status is not AppointmentStatus.BOOKED:
        return appointment
    zone = resolve_zone(appointment.service_zone)
    wall = appointment.service_wall_start
    start = wall_time_instant(wall.date(), wall.time(), zone)
    if start == appointment.start:
        return appointment
    moved_by = start - appointment.start
    slot = Slot(start, appointment.end + moved_by)
    old = appointment.check_in_window
    return replace(
        appointment,
        start=slot.start,
        end=slot.end,
        check_in_window=(
            _window(rules, slot)
            if rules.hours.covers(slot.start, slot.end)
            else TimeWindow(old.not_before + moved_by, old.not_after + moved_by)
        ),
        link_generation=appointment.link_generation + 1,
        version=appointment.version + 1,
    )
