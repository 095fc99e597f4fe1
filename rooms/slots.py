"""Bookable slots: fixed-length pieces of the service's opening intervals.

Slots start at each window's opening and follow one another without gaps; a slot that would run
past the window's close is not offered, so every slot lies wholly inside service hours. A slot is
identified by its start instant (UTC), which is what a booking stores: the patient's zone is only
how it is shown, so a daylight-saving change on the patient's side can move the label on their
screen but never the appointment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rooms.errors import DomainError
from rooms.hours import Interval, OutsideServiceHours, ServiceHours
from rooms.zones import local_day, require_utc


class NotASlot(DomainError):
    CODE = "not_a_slot"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Esa hora no coincide con el inicio de ningún horario disponible.",
            "That time is not the start of a bookable slot.",
        )


class TooFarAhead(DomainError):
    CODE = "too_far_ahead"

    def __init__(self, days: int) -> None:
        super().__init__(
            self.CODE,
            f"Solo se pueden reservar citas con hasta {days} días de anticipación.",
            f"Appointments can be booked at most {days} days ahead.",
        )


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """How slots are cut and how many bookings one slot of one unit takes.

    ``capacity`` is the number of appointments that may share a slot in a unit (the nurses
    rostered for it); ``horizon`` is how far ahead booking is open.
    """

    length: timedelta = timedelta(minutes=20)
    capacity: int = 1
    horizon: timedelta = timedelta(days=90)

    def __post_init__(self) -> None:
        if self.length < timedelta(minutes=1) or self.length % timedelta(minutes=1):
            raise ValueError("a slot lasts a whole number of minutes, at least one")
        if self.capacity < 1:
            raise ValueError("a slot takes at least one appointment")
        if self.horizon <= timedelta(0):
            raise ValueError("the booking horizon must be positive")


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def shown_in(self, zone: ZoneInfo) -> LocalSlot:
        return LocalSlot(self, self.start.astimezone(zone), self.end.astimezone(zone))


@dataclass(frozen=True, slots=True)
class LocalSlot:
    """A slot as a patient sees it: wall-clock start and end in their zone, with the offset.

    The offset matters: on the night clocks go back, two different slots can both read 02:20;
    ``start.isoformat()`` tells them apart (``+02:00`` and ``+01:00``).
    """

    slot: Slot
    start: datetime
    end: datetime


def _in_interval(interval: Interval, length: timedelta) -> Iterator[Slot]:
    start = interval.start
    while start + length <= interval.end:
        yield Slot(start, start + length)
        start += length


def slots_between(hours: ServiceHours, policy: SlotPolicy, start: datetime, end: datetime) -> Iterator[Slot]:
    """Every slot starting in [start, end), in time order.

    Slots are cut from whole opening intervals (not from the clipped part) so the grid does not
    depend on where the caller's range starts.
    """
    start, end = require_utc(start), require_utc(end)
    seen: set[datetime] = set()
    for clipped in hours.intervals(start, end):
        whole = hours.interval_at(clipped.start)
        if whole is None or whole.start in seen:
            continue
        seen.add(whole.start)
        for slot in _in_interval(whole, policy.length):
            if start <= slot.start < end:
                yield slot


def slots_for_local_day(
    hours: ServiceHours, policy: SlotPolicy, day: date, zone: ZoneInfo
) -> list[LocalSlot]:
    """The slots whose start falls on calendar ``day`` in the patient's ``zone``, as they see them.

    For a patient far from Mexico the service day can fall across two of their dates; this
    returns what *their* ``day`` holds, whatever its length (23 or 25 hours on a DST day).
    """
    day_start, day_end = local_day(day, zone)
    return [slot.shown_in(zone) for slot in slots_between(hours, policy, day_start, day_end)]


def slot_at(hours: ServiceHours, policy: SlotPolicy, start: datetime) -> Slot:
    """The slot that starts at ``start``, or why there is none.

    :class:`OutsideServiceHours` when the service is closed then (or the slot would run past the
    close); :class:`NotASlot` when the service is open but ``start`` is off the slot grid.
    """
    start = require_utc(start)
    interval = hours.interval_at(start)
    if interval is None:
        raise OutsideServiceHours()
    if (start - interval.start) % policy.length:
        raise NotASlot()
    if start + policy.length > interval.end:
        raise OutsideServiceHours()
    return Slot(start, start + policy.length)


def check_bookable(hours: ServiceHours, policy: SlotPolicy, start: datetime, now: datetime) -> Slot:
    """:func:`slot_at`, plus the booking horizon."""
    slot = slot_at(hours, policy, start)
    if slot.start - require_utc(now) > policy.horizon:
        raise TooFarAhead(policy.horizon.days)
    return slot
