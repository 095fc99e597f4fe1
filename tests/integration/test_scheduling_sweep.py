"""The queue sweep (services/scheduling.py): no-shows, closing time, and a cancelled appointment's consult.

The server is the real app over HTTP and socket.io, with the program's service hours (Mexico City,
Mon-Fri 08:00-20:00) and a clock the test sets; the sweep is called directly, never waited for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from rooms.roles import Role
from rooms.session_log import EventKind
from rooms.staff import StaffMember
from services.scheduling import SWEEP_ACTOR, QueueSweep, SweepResult
from tests.integration.test_scheduling_api import MONDAY_0950, NSS, SLOT_1000, SetClock, booking, token_of
from tests.support.clients import connect_client, refusal_code
from web.app import SERVICES, Services, create_app
from web.config import ConfigError, Settings

PASSWORD = "sweep-password-1234567"
MIN = timedelta(minutes=1)
MONDAY_1915 = datetime(2026, 3, 3, 1, 15, tzinfo=UTC)  # Monday 19:15 in Mexico City
TUESDAY_0800 = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # the next opening after Monday 20:00


@dataclass
class Env:
    url: str
    services: Services
    clock: SetClock
    sweep: QueueSweep
    cookie: str

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        cookies = {} if token else {"tc_session": self.cookie}
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with aiohttp.ClientSession(cookies=cookies) as http:
            async with http.request(method, f"{self.url}{path}", json=body, headers=headers) as response:
                return response.status, await response.json()

    async def book(self, nss: str, start: datetime) -> tuple[str, str]:
        status, body = await self.call("POST", "/api/appointments", booking(nss, start=start))
        assert status == 201, body
        return body["appointment"]["appointment_id"], token_of(body["patient_link"])

    async def status_of(self, appointment_id: str) -> str:
        appointment = await self.services.scheduling.appointments.get(appointment_id)
        assert appointment is not None
        return appointment.status.value

    async def consult_state(self, consult_id: str) -> str:
        consult = await self.services.stores.consults.get(consult_id)
        assert consult is not None
        return consult.state.value


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    clock = SetClock(MONDAY_0950)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"sweep-test-secret-key-0123456789abcdef",
        secret_key_is_ephemeral=False,
        media_workers=0,
        slot_capacity=2,
        queue_sweep_seconds=0,  # the test sweeps by hand
    )
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    services = app[SERVICES]
    await services.stores.staff.add(
        StaffMember("s-ana", "ana", "Ana", Role.NURSE, "UMF-1", services.auth.hash_password(PASSWORD))
    )
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{url}/api/session", json={"username": "ana", "password": PASSWORD})
        assert response.status == 200
        cookie = response.cookies["tc_session"].value
    sweep = QueueSweep(services.scheduling, services.consults, clock=clock)
    try:
        yield Env(url, services, clock, sweep, cookie)
    finally:
        await server.close()


async def test_a_booked_patient_who_never_checks_in_becomes_a_no_show_once(env: Env) -> None:
    appointment_id, token = await env.book(NSS[0], SLOT_1000)
    page, events = await connect_client(env.url, token=token)  # the link is open but nobody checks in
    try:
        env.clock.now = SLOT_1000 + 29 * MIN  # the window closes at 10:30 (slot end + 10 min grace)
        assert (await env.sweep.run_once()).no_shows == ()
        assert await env.status_of(appointment_id) == "booked"

        env.clock.now = SLOT_1000 + 30 * MIN
        result = await env.sweep.run_once()
        assert result.no_shows == (appointment_id,) and result.sent_home == ()
        assert await env.status_of(appointment_id) == "no_show"
        assert await env.consult_state(appointment_id) == "ended"
        ended = await events.wait_for("consult:ended")
        assert ended["reason"] == "no_show" and ended["consult_id"] == appointment_id
    finally:
        await page.disconnect()
    # The session log says who and why, and is archived like any ended consult.
    archived = await env.services.archive.load(appointment_id)
    last = archived[-1]
    assert last.kind is EventKind.ENDED and last.actor_id == SWEEP_ACTOR and last.actor_role is None
    assert last.detail["reason"] == "no_show" and last.detail["previous_state"] == "scheduled"
    # Sweeping again changes nothing; the link is refused and its page can tell why.
    assert await env.sweep.run_once() == SweepResult()
    assert await refusal_code(env.url, token) == "consult_ended"
    status, body = await env.call("GET", "/api/queue/position", token=token)
    assert status == 200 and body["status"] == "no_show" and body["check_in"]["code"] == "check_in_closed"
    status, queue = await env.call("GET", "/api/units/UMF-1/queue")
    assert status == 200 and queue["entries"] == []


async def test_a_checked_in_patient_is_never_a_no_show(env: Env) -> None:
    appointment_id, token = await env.book(NSS[0], SLOT_1000)
    page, _ = await connect_client(env.url, token=token)
    try:
        assert (await page.call("lobby:check_in", {"consent": True}))["ok"]
        env.clock.now = SLOT_1000 + 2 * timedelta(hours=1)  # long after the window; still open
        assert await env.sweep.run_once() == SweepResult()
        assert await env.status_of(appointment_id) == "checked_in"
        status, body = await env.call("GET", "/api/queue/position", token=token)
        assert status == 200 and body["waiting"] and body["place"] == 1  # their place is kept
    finally:
        await page.disconnect()


async def test_closing_time_sends_waiting_patients_home_with_the_next_opening(env: Env) -> None:
    env.clock.now = MONDAY_1915
    first, first_token = await env.book(NSS[0], MONDAY_1915 + 5 * MIN)
    pages = []
    page, events = await connect_client(env.url, token=first_token)
    pages.append((page, events))
    assert (await page.call("lobby:check_in", {"consent": True}))["ok"]
    env.clock.now = MONDAY_1915 + 15 * MIN
    second, second_token = await env.book(NSS[1], MONDAY_1915 + 25 * MIN)
    late, _ = await env.book(NSS[2], MONDAY_1915 + 25 * MIN)  # booked, never checks in
    try:
        page, events = await connect_client(env.url, token=second_token)
        pages.append((page, events))
        assert (await page.call("lobby:check_in", {"consent": True}))["ok"]
        assert (await env.sweep.run_once()).sent_home == ()  # open: nothing to close

        env.clock.now = datetime(2026, 3, 3, 2, 5, tzinfo=UTC)  # Monday 20:05: closed
        result = await env.sweep.run_once()
        assert result.sent_home == (first, second)  # in queue order
        assert result.no_shows == (late,)  # the 19:40 slot's window closed with the service at 20:00
        for (_, events), consult_id in zip(pages, (first, second), strict=True):
            notice = await events.wait_for("lobby:closed")
            assert notice == {
                "consult_id": consult_id,
                "code": "outside_service_hours",
                "opens_at": TUESDAY_0800.isoformat(),
            }
            assert await env.consult_state(consult_id) == "scheduled"
            assert await env.status_of(consult_id) == "checked_in"  # not a no-show: staff offer a new slot
            log = await env.services.stores.consults.log(consult_id)
            assert log[-1].kind is EventKind.QUEUE_CLOSED and log[-1].actor_id == SWEEP_ACTOR
        status, queue = await env.call("GET", "/api/units/UMF-1/queue")
        assert status == 200 and queue["entries"] == []
        # The page (or a reload) learns why, and checking in again is refused with the opening time.
        status, body = await env.call("GET", "/api/queue/position", token=first_token)
        assert status == 200 and not body["waiting"]
        assert body["check_in"]["code"] == "outside_service_hours"
        assert body["check_in"]["opens_at"] == TUESDAY_0800.isoformat()
        reply = await pages[0][0].call("lobby:check_in", {"consent": True})
        assert not reply["ok"] and reply["error"]["code"] == "outside_service_hours"
        assert reply["error"]["opens_at"] == TUESDAY_0800.isoformat()
        assert await env.sweep.run_once() == SweepResult()  # closed queues stay closed, once
    finally:
        for page, _ in pages:
            await page.disconnect()
    # Staff can offer the patient sent home a new slot.
    new_start = TUESDAY_0800 + 20 * MIN
    status, moved = await env.call("PATCH", f"/api/appointments/{first}", {"start": new_start.isoformat()})
    assert status == 200 and moved["appointment"]["status"] == "booked"


async def test_a_cancelled_appointment_ends_its_consult_like_a_host_would(env: Env) -> None:
    appointment_id, token = await env.book(NSS[0], SLOT_1000)
    page, events = await connect_client(env.url, token=token)
    try:
        assert (await page.call("lobby:check_in", {"consent": True}))["ok"]
        status, body = await env.call("DELETE", f"/api/appointments/{appointment_id}")
        assert status == 200 and body["appointment"]["status"] == "cancelled"
        ended = await events.wait_for("consult:ended")
        assert ended["reason"] == "appointment_cancelled"
    finally:
        await page.disconnect()
    archived = await env.services.archive.load(appointment_id)
    assert [e.kind for e in archived][-1] is EventKind.ENDED
    assert archived[-1].actor_id == "s-ana" and archived[-1].detail["previous_state"] == "waiting"
    # The old link is refused, but its page can still learn that the appointment was cancelled.
    assert await refusal_code(env.url, token) == "auth_revoked"
    status, body = await env.call("GET", "/api/queue/position", token=token)
    assert status == 200 and body["status"] == "cancelled"
    assert body["check_in"]["code"] == "appointment_cancelled"
    # Cancelling twice changes nothing and archives nothing new.
    status, _ = await env.call("DELETE", f"/api/appointments/{appointment_id}")
    assert status == 200
    assert await env.services.archive.load(appointment_id) == archived


def test_the_sweep_interval_is_configurable() -> None:
    assert Settings.from_env({}).queue_sweep_seconds == 60
    assert Settings.from_env({"TC_QUEUE_SWEEP_SECONDS": "5"}).queue_sweep_seconds == 5
    assert Settings.from_env({"TC_QUEUE_SWEEP_SECONDS": "0"}).queue_sweep_seconds == 0
    for bad in ("soon", "-1"):
        with pytest.raises(ConfigError):
            Settings.from_env({"TC_QUEUE_SWEEP_SECONDS": bad})
