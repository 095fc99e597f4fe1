"""The demo and a round-the-clock service at the turn of the day, with the clock pinned.

A service open ``00:00-24:00`` is open without a break: a patient booked for the last slot before
midnight or the first after it checks in as at any other hour (before, their check-in window was
cut at midnight, and the demo's link, tried after 23:40, said the waiting room opened at 00:00).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from rooms.appointments import AppointmentKind, AppointmentStatus
from rooms.patients import register_patient
from rooms.slots import slots_between
from services.scheduling import LINK_GRACE
from tests.support.services import SetClock
from web.app import SERVICES, Services, create_app
from web.config import Settings
from web.demo import DEMO_UNIT, demo_nss, seed_demo

MIDNIGHT = datetime(2026, 12, 8, 6, tzinfo=UTC)
"""00:00 in Mexico City, the demo's service zone."""


@dataclass
class Demo:
    services: Services
    clock: SetClock
    url: str


StartDemo = Callable[..., Awaitable[Demo]]
"""Start the product with the demo's defaults at a pinned instant (settings as keywords)."""


@pytest.fixture
async def start_demo(tmp_path: Path) -> AsyncIterator[StartDemo]:
    servers: list[TestServer] = []

    async def start(now: datetime, **settings: Any) -> Demo:
        clock = SetClock(now)
        defaults = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / f'records-{len(servers)}.sqlite3'}",
            secret_key=b"round-the-clock-test-secret-key-0123456789",
            secret_key_is_ephemeral=False,
        )
        app = create_app(replace(defaults, **settings), clock=clock)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return Demo(app[SERVICES], clock, str(server.make_url("")).rstrip("/"))

    yield start
    for server in servers:
        await server.close()


async def checks_in(demo: Demo, consult_id: str) -> bool:
    await demo.services.scheduling.check_in(consult_id, None, demo.clock())
    appointment = await demo.services.scheduling.appointments.get(consult_id)
    assert appointment is not None
    return appointment.status is AppointmentStatus.CHECKED_IN


@pytest.mark.parametrize(
    "before_midnight",
    [
        timedelta(minutes=25),
        timedelta(minutes=10),
        timedelta(seconds=30),
        timedelta(0),
        -timedelta(minutes=5),
    ],
    ids=["23:35", "23:50", "23:59:30", "00:00", "00:05"],
)
async def test_the_demo_link_checks_in_at_the_turn_of_the_day(
    start_demo: StartDemo, before_midnight: timedelta
) -> None:
    demo = await start_demo(MIDNIGHT - before_midnight)
    access = await seed_demo(demo.services, demo.url, password="round-the-clock-password")
    demo.clock.now += timedelta(minutes=9)  # a newcomer reads the instructions first, across midnight
    assert await checks_in(demo, access.consult_id)


@pytest.mark.parametrize(
    "before_midnight", [timedelta(minutes=19), timedelta(minutes=5), timedelta(seconds=1)]
)
async def test_the_first_slot_after_midnight_opens_its_waiting_room_before_midnight(
    start_demo: StartDemo, before_midnight: timedelta
) -> None:
    demo = await start_demo(MIDNIGHT - before_midnight, slot_capacity=30, check_in_opens_minutes=90)
    await seed_demo(demo.services, demo.url, password="round-the-clock-password")
    scheduling = demo.services.scheduling
    now = demo.clock()
    upcoming = next(
        iter(slots_between(scheduling.rules.hours, scheduling.rules.slots, now, now + timedelta(days=1)))
    )
    assert upcoming.start == MIDNIGHT  # what the nurse's console offers as the next free slot
    patient = register_patient(
        nss=demo_nss(),
        name="Nadia Medianoche (prueba)",
        birth_date=date(1984, 2, 29),
        time_zone="America/Mexico_City",
        today=now.date(),
        email="nadia.prueba@example.org",
    )
    booked = await scheduling.book(
        patient=patient, unit=DEMO_UNIT, kind=AppointmentKind.FIRST, start=upcoming.start, created_by="prueba"
    )
    assert booked.appointment.check_in_window.not_before == MIDNIGHT - timedelta(minutes=90)
    assert await checks_in(demo, booked.consult.consult_id)


async def test_the_demo_link_works_until_its_token_expires_unless_the_grace_is_configured(
    start_demo: StartDemo,
) -> None:
    """A newcomer may read the README for a while before opening the link: the slot the demo
    books may be ending as it starts, and ten minutes of grace were not enough."""
    demo = await start_demo(MIDNIGHT + timedelta(hours=3, minutes=19))  # the slot's last minute
    access = await seed_demo(demo.services, demo.url, password="round-the-clock-password")
    assert access.link_works_until == MIDNIGHT + timedelta(hours=3, minutes=20) + LINK_GRACE
    demo.clock.now = access.link_works_until - timedelta(minutes=1)
    assert await checks_in(demo, access.consult_id)

    configured = await start_demo(demo.clock.now, check_in_grace_configured=True)
    other = await seed_demo(configured.services, configured.url, password="round-the-clock-password")
    grace = timedelta(minutes=configured.services.settings.check_in_grace_minutes)
    slot_end = MIDNIGHT + timedelta(hours=5, minutes=20)  # the slot running at 05:19 ends at 05:20
    assert other.link_works_until == slot_end + grace
