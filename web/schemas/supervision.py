"""A unit's dashboard for its supervisors and coordinators (``GET /api/units/{unit}/dashboard``).

Aggregates and the unit's own patients' first names only; times are text in the viewer's zone.
"""

from __future__ import annotations

from pydantic import Field

from web.schemas.base import DateTimeText, Query, View


class DashboardQuery(Query):
    zone: str | None = Field(
        default=None,
        description="the viewer's IANA time zone (their calendar day is 'today'); the account's by default",
    )


class WaitStatsView(View):
    count: int
    median_seconds: int | None
    p90_seconds: int | None


class HourWaitsView(WaitStatsView):
    start: DateTimeText


class DayView(View):
    start: DateTimeText
    end: DateTimeText


class WaitingView(View):
    first_name: str
    appointment_start: DateTimeText
    waiting_since: DateTimeText
    waited_seconds: int | None
    urgent: bool
    connected: bool
    absent: bool


class InConsultView(View):
    first_name: str
    since: DateTimeText | None
    duration_seconds: int | None
    quality: str | None


class DashboardView(View):
    unit: str
    at: DateTimeText
    zone: str
    day: DayView
    waiting: list[WaitingView]
    in_consult: list[InConsultView]
    waits_today: WaitStatsView
    waits_by_hour: list[HourWaitsView]
    appointments: dict[str, int] = Field(description="appointment status -> how many today")
    no_shows: int
    nurses: dict[str, int] = Field(description="nurse state -> how many")
    quality: dict[str, int] = Field(description="call-quality level -> samples today")
