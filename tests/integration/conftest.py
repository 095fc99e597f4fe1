from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import aioice.ice
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer

from media.ice import restrict_host_addresses
from rooms.roles import Role
from rooms.staff import StaffMember
from tests.support.clients import EventLog, MediaClient, connect_client, disconnect_open_clients, join_call
from tests.support.services import MovableClock
from web.app import SERVICES, Services, create_app
from web.config import Settings
from web.demo import DemoAccess, seed_demo

NURSE_PASSWORD = "demo-password-123"


@dataclass
class Harness:
    url: str
    services: Services
    demo: DemoAccess
    clock: MovableClock
    app: web.Application

    @property
    def patient_token(self) -> str:
        return parse_qs(urlsplit(self.demo.patient_link).fragment)["t"][0]

    @property
    def consult_id(self) -> str:
        return self.demo.consult_id

    async def login(self, password: str = NURSE_PASSWORD, username: str = "enfermera") -> str:
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{self.url}/api/session", json={"username": username, "password": password}
            )
            assert response.status == 200, await response.text()
            return response.cookies["tc_session"].value

    async def staff_cookie(self, username: str, role: Role, unit: str, full_name: str) -> str:
        """Add a staff account (id ``staff-<username>``) and sign it in; its session cookie."""
        password = f"pw-{username}-123"
        await self.services.stores.staff.add(
            StaffMember(
                f"staff-{username}",
                username,
                full_name,
                role,
                unit,
                self.services.auth.hash_password(password),
            )
        )
        return await self.login(password, username)

    async def nurse(self) -> tuple[socketio.AsyncClient, EventLog]:
        return await connect_client(self.url, cookie=await self.login())

    async def patient(self, token: str | None = None) -> tuple[socketio.AsyncClient, EventLog]:
        return await connect_client(self.url, token=token or self.patient_token)


@pytest.fixture
def grace_seconds() -> float:
    """Tests that exercise the reconnection grace override this with a short one."""
    return 30.0


@pytest.fixture
def overload_lag_seconds() -> float:
    """Tests of back-pressure override this to turn it on (0: never refuse for load)."""
    return 0.0


@pytest.fixture
async def harness(
    tmp_path: Path, grace_seconds: float, overload_lag_seconds: float
) -> AsyncIterator[Harness]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    clock = MovableClock()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"integration-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        reconnect_grace_seconds=grace_seconds,
        overload_lag_seconds=overload_lag_seconds,
    )
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    demo = await seed_demo(app[SERVICES], url, password=NURSE_PASSWORD)
    try:
        yield Harness(url, app[SERVICES], demo, clock, app)
    finally:
        await disconnect_open_clients()  # a server closing under open sockets waits for each
        await server.close()
        aioice.ice.get_host_addresses = original


async def admitted_into_call(
    harness: Harness,
    patient: socketio.AsyncClient,
    patient_events: EventLog,
    nurse: socketio.AsyncClient,
    nurse_events: EventLog,
    media: tuple[MediaClient, MediaClient],
) -> None:
    """The patient checks in, the nurse admits them, and both join the call with media flowing
    (``media``: the patient's client, then the nurse's)."""
    patient_media, nurse_media = media
    await patient.call("lobby:check_in", {"consent": True})
    await nurse_events.wait_for("queue:diff", lambda d: any(c["state"] == "waiting" for c in d["consults"]))
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    await patient_events.wait_for("consult:state", lambda d: d["consult"]["state"] == "live")
    assert (await join_call(patient, patient_media))["ok"]
    assert (await join_call(nurse, nurse_media))["ok"]
    await patient_media.wait_for_media()
    await nurse_media.wait_for_media()
