"""Service hours and free slots: public, nothing personal in them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from rooms.appointments import HOLDS_SLOT
from rooms.errors import DomainError
from rooms.hours import WEEKDAYS
from rooms.slots import slots_for_local_day
from rooms.zones import resolve_zone
from services.scheduling import Scheduling
from web.payloads import answer, read_query
from web.scheduling.refusals import refused
from web.schemas.calendar import DayHours, LocalSpan, ServiceHoursView, SlotsQuery, SlotsView, ZoneQuery


def _zone_name(query: ZoneQuery, default: str) -> str:
    return query.zone if query.zone is not None else default


def _zone(name: str) -> ZoneInfo:
    try:
        return resolve_zone(name)
    except DomainError as error:
        raise refused(error) from None


class CalendarApi:
    def __init__(self, *, scheduling: Scheduling, clock: Callable[[], datetime]) -> None:
        self._scheduling = scheduling
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/service-hours", self.service_hours), web.get("/api/slots", self.slots)]

    async def service_hours(self, request: web.Request) -> web.Response:
        hours = self._scheduling.rules.hours
        zone_name = _zone_name(read_query(request, ZoneQuery), hours.zone_name)
        zone = _zone(zone_name)
        now = self._clock()
        today = now.astimezone(hours.zone).date()
        week = []
        for offset in range(7):
            day = today + timedelta(days=offset)
            intervals = [
                LocalSpan(
                    start=i.start.isoformat(),
                    end=i.end.isoformat(),
                    start_local=i.start.astimezone(zone).isoformat(),
                    end_local=i.end.astimezone(zone).isoformat(),
                )
                for i in hours.intervals_on(day)
            ]
            windows = [str(w) for w in hours.windows_on(day)]
            week.append(
                DayHours(
                    date=day.isoformat(),
                    weekday=WEEKDAYS[day.weekday()],
                    windows=windows,
                    intervals=intervals,
                )
            )
        return answer(
            ServiceHoursView(
                service_zone=hours.zone_name,
                zone=zone_name,
                weekly={name: [str(w) for w in hours.weekly[i]] for i, name in enumerate(WEEKDAYS)},
                closures={d.isoformat(): [str(w) for w in ws] for d, ws in sorted(hours.exceptions.items())},
                open_now=hours.is_open(now),
                next_7_days=week,
                slot_minutes=self._scheduling.rules.slots.length // timedelta(minutes=1),
            )
        )

    async def slots(self, request: web.Request) -> web.Response:
        query = read_query(request, SlotsQuery)
        rules = self._scheduling.rules
        zone_name = _zone_name(query, rules.hours.zone_name)
        local = slots_for_local_day(rules.hours, rules.slots, query.date, _zone(zone_name))
        now = self._clock()
        free = []
        if local:
            taken = await self._scheduling.appointments.for_unit(
                query.unit, local[0].slot.start - timedelta(days=1), local[-1].slot.end
            )
            for item in local:
                slot = item.slot
                if slot.start <= now or slot.start - now > rules.slots.horizon:
                    continue
                used = sum(
                    1 for a in taken if a.status in HOLDS_SLOT and a.start < slot.end and slot.start < a.end
                )
                if used < rules.slots.capacity:
                    free.append(
                        LocalSpan(
                            start=slot.start.isoformat(),
                            end=slot.end.isoformat(),
                            start_local=item.start.isoformat(),
                            end_local=item.end.isoformat(),
                        )
                    )
        return answer(SlotsView(unit=query.unit, date=query.date.isoformat(), zone=zone_name, slots=free))
