"""When the service is open: weekly opening windows in the service's zone, plus dated exceptions.

Opening hours are a wall-clock rule in ``America/Mexico_City`` (the program's rule is
Monday-Friday 08:00-20:00 and Saturday-Sunday 07:30-20:30), not a set of UTC instants: when a zone
changes its offset, as Mexico did when it abolished daylight-saving time in October 2022, 08:00
stays 08:00 on the clinic's wall. So the rule is kept in wall-clock terms and turned into UTC
intervals only for a given date, with the zone database that applies to that date.

Holidays and closures are dated exceptions: a date maps to its own windows (fewer hours on
Christmas Eve) or to none (closed).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from rooms.errors import DomainError
from rooms.zones import SERVICE_ZONE, UnknownTimeZone, require_utc, resolve_zone, wall_time_instant

_INSTANT = timedelta(microseconds=1)
"""The smallest step between instants: the one just before an opening tells whether another ends there."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OutsideServiceHours(DomainError):
    CODE = "slot_outside_hours"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Ese horario está fuera del horario de servicio.",
            "That time is outside the service hours.",
        )


class ServiceClosed(DomainError):
    """The service is closed now (the waiting room opens again at ``opens``, when known)."""

    CODE = "outside_service_hours"

    def __init__(self, opens: datetime | None) -> None:
        super().__init__(self.CODE, "El servicio está cerrado en este momento.", "The service is closed now.")
        self.opens = opens

    def detail(self) -> dict[str, str]:
        return {"opens_at": self.opens.isoformat()} if self.opens is not None else {}


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """One opening window of a day, in the service's wall-clock time: [opens, closes).

    A window lies within one day (it cannot run past midnight); split overnight service in two.
    ``closes`` of ``00:00`` means the end of the day (written ``24:00``), so ``00:00-24:00`` is
    open all day and consecutive days join without a gap.
    """

    opens: time
    closes: time

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("service windows are wall-clock times without a zone")
        if self.closes <= self.opens and not self.until_midnight:
            raise ValueError(f"a window must close after it opens: {self.opens}-{self.closes}")

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"08:00-20:00"`` → a window."""
        match = re.fullmatch(r"\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*", text)
        if not match:
            raise ValueError(f"a window is written HH:MM-HH:MM, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if (h2, m2) == (24, 0):
            h2 = 0
        return cls(time(h1, m1), time(h2, m2))

    @property
    def until_midnight(self) -> bool:
        """Open until the end of the day (``closes`` is ``24:00``)."""
        return self.closes == time(0)

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}-{'24:00' if self.until_midnight else format(self.closes, '%H:%M')}"


def _normalize(windows: tuple[Window, ...]) -> tuple[Window, ...]:
    ordered = tuple(sorted(windows))
    for before, after in itertools.pairwise(ordered):
        if before.until_midnight or after.opens < before.closes:
            raise ValueError(f"windows overlap: {before} and {after}")
    return ordered


@dataclass(frozen=True, slots=True)
class Interval:
    """An opening interval in UTC instants: [start, end)."""

    start: datetime
    end: datetime

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end


@dataclass(frozen=True, slots=True)
class ServiceHours:
    """The weekly rule (Monday first) and dated exceptions, in the wall-clock time of ``zone``."""

    weekly: tuple[tuple[Window, ...], ...]
    exceptions: Mapping[date, tuple[Window, ...]] = field(default_factory=lambda: MappingProxyType({}))
    zone_name: str = SERVICE_ZONE

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("the weekly rule needs exactly seven days, Monday first")
        resolve_zone(self.zone_name)
        object.__setattr__(self, "weekly", tuple(_normalize(tuple(day)) for day in self.weekly))
        object.__setattr__(
            self,
            "exceptions",
            MappingProxyType({d: _normalize(tuple(w)) for d, w in self.exceptions.items()}),
        )

    @classmethod
    def program_default(cls) -> ServiceHours:
        """The program's rule: Monday-Friday 08:00-20:00, Saturday-Sunday 07:30-20:30, Mexico City."""
        weekday = (Window(time(8), time(20)),)
        weekend = (Window(time(7, 30), time(20, 30)),)
        return cls(weekly=(weekday,) * 5 + (weekend,) * 2)

    @classmethod
    def always_open(cls, zone_name: str = SERVICE_ZONE) -> ServiceHours:
        """Open around the clock (``00:00-24:00`` every day): the demo's hours, so it works at any time."""
        return cls(weekly=((Window(time(0), time(0)),),) * 7, zone_name=zone_name)

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> ServiceHours:
        """Build from operator configuration (e.g. parsed TOML/JSON)::

            {"zone": "America/Mexico_City",
             "weekly": {"mon": ["08:00-20:00"], ..., "sun": ["07:30-20:30"]},
             "closed": ["2026-12-25"],
             "special": {"2026-12-24": ["08:00-14:00"]}}

        Days missing from ``weekly`` are closed. A bad entry is a ``ValueError`` naming it: this is
        the operator's input, checked once at start-up.
        """
        zone = config.get("zone", SERVICE_ZONE)
        weekly_in = config.get("weekly", {})
        closed = config.get("closed", [])
        special = config.get("special", {})
        if not isinstance(zone, str) or not isinstance(weekly_in, Mapping):
            raise ValueError("service hours need a zone name and a weekly mapping")
        if not isinstance(closed, list | tuple) or not isinstance(special, Mapping):
            raise ValueError("'closed' is a list of dates and 'special' a mapping of date to windows")
        unknown = set(weekly_in) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekdays {sorted(unknown)}; use {', '.join(WEEKDAYS)}")

        def windows(value: object) -> tuple[Window, ...]:
            if not isinstance(value, list | tuple):
                raise ValueError(f"windows are a list of 'HH:MM-HH:MM', got {value!r}")
            return tuple(Window.parse(str(v)) for v in value)

        exceptions: dict[date, tuple[Window, ...]] = {date.fromisoformat(str(d)): () for d in closed}
        for day, value in special.items():
            exceptions[date.fromisoformat(str(day))] = windows(value)
        try:
            return cls(
                weekly=tuple(windows(weekly_in.get(name, [])) for name in WEEKDAYS),
                exceptions=exceptions,
                zone_name=zone,
            )
        except UnknownTimeZone as error:
            raise ValueError(error.message_en) from error

    @property
    def zone(self) -> ZoneInfo:
        return resolve_zone(self.zone_name)

    def windows_on(self, day: date) -> tuple[Window, ...]:
        """The wall-clock windows of ``day`` (a date in the service's zone)."""
        if day in self.exceptions:
            return self.exceptions[day]
        return self.weekly[day.weekday()]

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The opening intervals of service-zone ``day`` as UTC instants, with that day's offset."""
        zone = self.zone
        found = []
        for window in self.windows_on(day):
            start = wall_time_instant(day, window.opens, zone)
            end = wall_time_instant(
                day + timedelta(days=1) if window.until_midnight else day, window.closes, zone
            )
            if start < end:  # a window wholly inside a skipped hour has no instants
                found.append(Interval(start, end))
        return tuple(found)

    def intervals(self, start: datetime, end: datetime) -> Iterator[Interval]:
        """Opening intervals overlapping [start, end), in time order, clipped to it."""
        start, end = require_utc(start), require_utc(end)
        zone = self.zone
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        while day <= last:
            for interval in self.intervals_on(day):
                if interval.end > start and interval.start < end:
                    yield Interval(max(interval.start, start), min(interval.end, end))
            day += timedelta(days=1)

    def interval_at(self, instant: datetime) -> Interval | None:
        """The whole opening interval containing ``instant``, or ``None`` when closed then."""
        instant = require_utc(instant)
        local_day = instant.astimezone(self.zone).date()
        for day in (local_day - timedelta(days=1), local_day, local_day + timedelta(days=1)):
            for interval in self.intervals_on(day):
                if interval.contains(instant):
                    return interval
        return None

    def open_span(self, instant: datetime, reach: timedelta) -> Interval | None:
        """The time the service stays open without a break around ``instant``, within ``reach`` of it.

        The opening containing ``instant`` joined with the openings that touch it: a round-the-clock
        service's days meet at midnight, and two windows of a day may meet at noon. Without the
        join, a check-in window would close at midnight for a patient who joined at 23:55, and a
        patient booked at 00:00 could not wait from 23:45. ``reach`` bounds the walk (an always-open
        service never breaks) and the answer; ``None`` when the service is closed at ``instant``.
        """
        instant = require_utc(instant)
        interval = self.interval_at(instant)
        if interval is None:
            return None
        earliest, latest = instant - reach, instant + reach
        start, end = interval.start, interval.end
        while start > earliest and (before := self.interval_at(start - _INSTANT)) is not None:
            start = before.start
        while end < latest and (after := self.interval_at(end)) is not None:
            end = after.end
        return Interval(max(start, earliest), min(end, latest))

    def is_open(self, instant: datetime) -> bool:
        return self.interval_at(instant) is not None

    def covers(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) lies inside one opening interval (a slot may not straddle a break)."""
        interval = self.interval_at(start)
        return interval is not None and require_utc(end) <= interval.end
