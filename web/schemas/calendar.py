"""Service hours and free slots (``/api/service-hours``, ``/api/slots``): public, nothing personal."""

from __future__ import annotations

from pydantic import Field

from rooms.hours import WEEKDAYS
from web.schemas.base import DateText, DateTimeText, Day, Query, UnitId, View


class ZoneQuery(Query):
    zone: str | None = Field(
        default=None,
        description="IANA zone to show times in (default: the service's); else unknown_time_zone",
    )


class SlotsQuery(ZoneQuery):
    unit: UnitId = Field(description="the unit's id")
    date: Day = Field(description="a day of the patient's calendar, in their zone")


class LocalSpan(View):
    """A stretch of time in UTC and in the zone asked for."""

    start: DateTimeText
    end: DateTimeText
    start_local: DateTimeText
    end_local: DateTimeText


class DayHours(View):
    date: DateText
    weekday: str = Field(json_schema_extra={"enum": list(WEEKDAYS)})
    windows: list[str] = Field(
        description="opening windows in the service's wall-clock time, e.g. 08:00-20:00"
    )
    intervals: list[LocalSpan]


class ServiceHoursView(View):
    service_zone: str
    zone: str
    weekly: dict[str, list[str]] = Field(
        description="each weekday's windows", json_schema_extra={"propertyNames": {"enum": list(WEEKDAYS)}}
    )
    closures: dict[str, list[str]] = Field(description="dated exceptions: date -> its windows (none: closed)")
    open_now: bool
    next_7_days: list[DayHours]
    slot_minutes: int


class SlotsView(View):
    unit: str
    date: DateText
    zone: str
    slots: list[LocalSpan] = Field(description="free slots whose start falls on the date in the zone")
