"""The consult, its appointment, the unit queue and the nurses never disagree.

Random sequences of what patients and nurses of two units do (check in, drop, "next patient",
admit, deny, send back, end, cancel, available, away, time passing, the sweep) run against the
real server over its real socket and REST faces; after every step the four are checked against each other from
the stores. A nurse must always be able to go available unless she is hosting a live call, and
nobody is ever paired twice, skipped, or handed a consult that is over.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.appointments import FINAL, AppointmentKind, AppointmentStatus
from rooms.consult import ConsultState
from rooms.nurses import NurseState
from rooms.patients import register_patient
from rooms.roles import Role
from rooms.staff import StaffMember, StaffSession
from services.scheduling import Booking, QueueSweep
from tests.support.clients import ConnectionRefused, connect_client
from tests.support.services import SetClock
from web.app import SERVICES, Services, create_app
from web.config import Settings

MONDAY_0955 = datetime(2026, 3, 2, 15, 55, tzinfo=UTC)  # Monday 09:55 in Mexico City: open
SLOT_1000 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
NSS = ["92919084431", "79927398713", "12345678903", "11111111115", "22222222220"]
NURSES = {"n1": "UMF-1", "n2": "UMF-1", "n3": "UMF-2"}
PATIENT_UNITS = ["UMF-1", "UMF-1", "UMF-1", "UMF-2", "UMF-2"]


@dataclass
class World:
    url: str
    services: Services
    clock: SetClock
    cookies: dict[str, str]
    bookings: list[Booking]
    nurse_sockets: dict[str, socketio.AsyncClient] = field(default_factory=dict)
    patient_sockets: dict[int, socketio.AsyncClient] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None

    async def rest(self, method: str, path: str, nurse: str) -> tuple[int, Any]:
        assert self.http is not None
        headers = {"Cookie": f"tc_session={self.cookies[nurse]}", "Origin": self.url}
        body = None
        if method == "PUT-available":
            method, body = "PUT", {"state": "available"}
        elif method == "PUT-away":
            method, body = "PUT", {"state": "away"}
        async with self.http.request(method, f"{self.url}{path}", json=body, headers=headers) as response:
            return response.status, await response.json()

    async def nurse(self, name: str) -> socketio.AsyncClient:
        client = self.nurse_sockets.get(name)
        if client is None or not client.connected:
            client, _ = await connect_client(self.url, cookie=self.cookies[name])
            self.nurse_sockets[name] = client
        return client

    async def patient(self, index: int) -> socketio.AsyncClient | None:
        client = self.patient_sockets.get(index)
        if client is None or not client.connected:
            try:
                client, _ = await connect_client(self.url, token=self.bookings[index].token)
            except ConnectionRefused:
                return None  # ended, denied or cancelled: the link is refused, as it should be
            self.patient_sockets[index] = client
        return client

    async def close(self) -> None:
        for client in [*self.nurse_sockets.values(), *self.patient_sockets.values()]:
            if client.connected:
                await client.disconnect()
        if self.http is not None:
            await self.http.close()


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = SetClock(MONDAY_0955)
    settings_ = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / f'{secrets.token_hex(4)}.sqlite3'}",
        secret_key=b"consistency-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_workers=0,
        queue_sweep_seconds=0,
        slot_capacity=len(NSS),
    )
    app = create_app(settings_, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    services = app[SERVICES]
    url = str(server.make_url("")).rstrip("/")
    cookies = {}
    for name, unit in NURSES.items():
        await services.stores.staff.add(
            StaffMember(f"s-{name}", name, name.upper(), Role.NURSE, unit, "not-a-password-hash")
        )
        session = StaffSession(
            secrets.token_urlsafe(16), f"s-{name}", clock.now, clock.now + timedelta(hours=8)
        )
        await services.stores.sessions.add(session)
        cookies[name] = session.session_id
    bookings = []
    for index, (nss, unit) in enumerate(zip(NSS, PATIENT_UNITS, strict=True)):
        patient = register_patient(
            nss=nss,
            name=f"Paciente {index}",
            birth_date=date(1990, 5, 1),
            time_zone="America/Mexico_City",
            today=clock.now.date(),
            email=f"p{index}@example.org",
        )
        booked = await services.scheduling.book(
            patient=patient, unit=unit, kind=AppointmentKind.FIRST, start=SLOT_1000, created_by="s-n1"
        )
        bookings.append(booked)
    state = World(url, services, clock, cookies, bookings, http=aiohttp.ClientSession())
    try:
        yield state
    finally:
        await state.close()
        await server.close()


def nurse_id(name: str) -> str:
    return f"s-{name}"


async def step(w: World, action: tuple[str, ...]) -> None:
    """Carry out one action; refusals are expected and ignored (the invariants judge the result)."""
    kind = action[0]
    if kind == "later":
        w.clock.now += timedelta(minutes=6)
        return
    if kind == "sweep":
        sweep = QueueSweep(w.services.scheduling, w.services.consults, clock=w.clock, interval=0)
        await sweep.run_once()
        return
    if kind in ("check_in", "drop"):
        index = int(action[1])
        if kind == "check_in":
            client = await w.patient(index)
            if client is not None:
                await client.call("lobby:check_in", {"consent": True}, timeout=10)
        else:
            client = w.patient_sockets.pop(index, None)
            if client is not None and client.connected:
                await client.disconnect()
        return
    name = action[1]
    unit = NURSES[name]
    if kind == "next":
        await w.rest("POST", f"/api/units/{unit}/next", name)
    elif kind in ("available", "away"):
        status, body = await w.rest(f"PUT-{kind}", "/api/nurses/me/state", name)
        if status != 200:
            assert await hosting_live(w, nurse_id(name)), (kind, name, status, body)
    elif kind == "cancel":
        consult_id = w.bookings[int(action[2])].consult.consult_id
        await w.rest("DELETE", f"/api/appointments/{consult_id}", name)
    else:
        booking = w.bookings[int(action[2])]
        consult_id = booking.consult.consult_id
        patient_id = booking.consult.patient_id
        client = await w.nurse(name)
        if kind == "admit":
            await client.call("lobby:admit", {"consult_id": consult_id}, timeout=10)
        elif kind == "deny":
            await client.call(
                "lobby:deny", {"consult_id": consult_id, "participant_id": patient_id}, timeout=10
            )
        elif kind == "send_back":
            ref = {"consult_id": consult_id, "participant_id": patient_id}
            await client.call("lobby:send_back", ref, timeout=10)
        elif kind == "end":
            await client.call("consult:end", {"consult_id": consult_id}, timeout=10)


async def hosting_live(w: World, staff_id: str) -> bool:
    hosted = await w.services.stores.consults.open_hosted_by(staff_id)
    return any(c.state is ConsultState.LIVE for c in hosted)


async def check_agreement(w: World) -> None:
    """The consult, the appointment, the queue and the nurses tell one story."""
    services = w.services
    queues = {unit: await services.scheduling.queues.snapshot(unit) for unit in set(NURSES.values())}
    paired: dict[str, list[str]] = {}
    for unit, queue in queues.items():
        for nurse in queue.nurses.values():
            if nurse.state is NurseState.IN_CONSULT:
                assert nurse.appointment_id is not None
                paired.setdefault(nurse.appointment_id, []).append(nurse.nurse_id)
                consult = await services.stores.consults.get(nurse.appointment_id)
                assert consult is not None and consult.unit == unit
                # In a consult means: paired by "next patient" and about to admit, or hosting it live.
                assert consult.state is ConsultState.WAITING or (
                    consult.state is ConsultState.LIVE and consult.host_id == nurse.nurse_id
                ), (nurse, consult.state, consult.host_id)
    for booking in w.bookings:
        consult_id = booking.consult.consult_id
        consult = await services.stores.consults.get(consult_id)
        appointment = await services.scheduling.appointments.get(consult_id)
        assert consult is not None and appointment is not None
        queue = queues[appointment.unit]
        queued = queue.entry(consult_id) is not None
        nurses = paired.get(consult_id, [])
        assert len(nurses) <= 1, f"{consult_id} paired with {nurses}"
        story = (consult.state, appointment.status, queued, nurses)
        if consult.state is ConsultState.ENDED:
            assert appointment.status in FINAL, story
            assert not queued and not nurses, story
        elif consult.state is ConsultState.LIVE:
            assert appointment.status is AppointmentStatus.ADMITTED, story
            assert not queued, story
            # Her availability follows what she does: a queue nurse who hosts is in that consult.
            host_is_queue_nurse = consult.host_id in queue.nurses
            assert nurses == ([consult.host_id] if host_is_queue_nurse else []), story
        elif consult.state is ConsultState.WAITING:
            assert appointment.status is AppointmentStatus.CHECKED_IN, story
            # Waiting means in the queue or taken by exactly one nurse: never lost, never both.
            assert queued != bool(nurses), story
        else:
            assert consult.state is ConsultState.SCHEDULED
            assert not queued and not nurses, story
            assert appointment.status not in (AppointmentStatus.ADMITTED, AppointmentStatus.COMPLETED), story
        if queued:
            assert consult.state is ConsultState.WAITING, story
    # What the patient's page reads agrees too.
    assert w.http is not None
    for booking in w.bookings:
        consult = await services.stores.consults.get(booking.consult.consult_id)
        assert consult is not None
        headers = {"Authorization": f"Bearer {booking.token}"}
        async with w.http.get(f"{w.url}/api/queue/position", headers=headers) as response:
            if response.status != 200:
                continue  # a revoked link (cancelled, closed): refused, never a stale place
            body = await response.json()
        if consult.state is ConsultState.ENDED:
            assert body["status"] in {s.value for s in FINAL}, body
            assert not body.get("waiting"), body
        if consult.state is not ConsultState.WAITING:
            assert "place" not in body or body.get("place") is None, body


patients = st.integers(min_value=0, max_value=len(NSS) - 1).map(str)
nurses = st.sampled_from(sorted(NURSES))
actions = st.one_of(
    st.tuples(st.sampled_from(["later", "sweep"])),
    st.tuples(st.sampled_from(["check_in", "drop"]), patients),
    st.tuples(st.sampled_from(["next", "available", "away"]), nurses),
    st.tuples(st.sampled_from(["admit", "deny", "send_back", "end", "cancel"]), nurses, patients),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=st.lists(actions, min_size=4, max_size=30))
def test_the_consult_the_appointment_the_queue_and_the_nurses_agree(
    tmp_path: Path, script: list[tuple[str, ...]]
) -> None:
    async def run() -> None:
        async with world(tmp_path) as w:
            for name in NURSES:
                status, _ = await w.rest("PUT-available", "/api/nurses/me/state", name)
                assert status == 200
            await check_agreement(w)
            for action in script:
                await step(w, action)
                await check_agreement(w)
            # However it went, every nurse can end what she hosts and go available.
            for name in NURSES:
                for consult in await w.services.stores.consults.open_hosted_by(nurse_id(name)):
                    reply = await (await w.nurse(name)).call(
                        "consult:end", {"consult_id": consult.consult_id}
                    )
                    assert reply["ok"], reply
                status, body = await w.rest("PUT-available", "/api/nurses/me/state", name)
                assert status == 200, body
                assert body["state"] == "available"
            await check_agreement(w)

    asyncio.run(run())
