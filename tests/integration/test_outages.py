"""The database or Redis goes away and comes back, with real PostgreSQL and redis-server processes.

* PostgreSQL stopped while a nurse signs her note: every attempt is a retryable ``503
  database_unavailable`` with ``Retry-After``, ``/readyz`` says not ready (``/healthz`` stays up),
  nothing is half-written, and the same signing succeeds once the database is back.
* A booking while PostgreSQL is down: ``503``, nothing stored in Redis; the retry with the same
  idempotency key after recovery books once, and a second retry answers the same booking and link.
* Redis restarted without persistence: login sessions are gone, but accounts live in the database,
  so staff sign in again; while Redis is down requests answer ``503 store_unavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from records.tables import BundleRow, NoteRow
from services.idempotent_booking import IdempotentBooking
from tests.support.clients import connect_client
from tests.support.dependencies import (
    RestartablePostgres,
    RestartableRedis,
    restartable_postgres,
    restartable_redis,
)
from tests.support.whole_consult import NOTE
from web.app import SERVICES, Services, create_app
from web.config import Settings
from web.demo import DEMO_UNIT, DemoAccess, demo_nss, seed_demo

PASSWORD = "outage-password-123"
OUTAGE_SECONDS = 10.0


@dataclass
class Node:
    url: str
    services: Services
    demo: DemoAccess
    http: aiohttp.ClientSession
    cookie: str = ""

    async def call(self, method: str, path: str, body: object = None, **headers: str) -> tuple[int, Any, Any]:
        sent = {"Origin": self.url, **headers}
        if self.cookie:
            sent["Cookie"] = f"tc_session={self.cookie}"
        async with self.http.request(method, self.url + path, json=body, headers=sent) as response:
            data = await response.json(content_type=None) if response.content_length != 0 else None
            return response.status, data, response.headers

    async def sign_in(self) -> None:
        async with self.http.post(
            f"{self.url}/api/session", json={"username": self.demo.username, "password": PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
            self.cookie = response.cookies["tc_session"].value
        status, me, _ = await self.call("GET", "/api/session")  # the account is cached from here on
        assert status == 200 and me["signed_in"], me

    @property
    def patient_token(self) -> str:
        return parse_qs(urlsplit(self.demo.patient_link).fragment)["t"][0]


@asynccontextmanager
async def serving(tmp_path: Path, *, database_url: str, redis_url: str) -> AsyncIterator[Node]:
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=b"outage-test-secret-key-0123456789abcdef",
        secret_key_is_ephemeral=False,
        media_workers=0,
        queue_sweep_seconds=0,
    )
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        demo = await seed_demo(app[SERVICES], url, password=PASSWORD)
        async with aiohttp.ClientSession() as http:
            node = Node(url, app[SERVICES], demo, http)
            await node.sign_in()
            yield node
    finally:
        await server.close()


@pytest.fixture
def postgres() -> Iterator[RestartablePostgres]:
    with restartable_postgres() as server:
        yield server


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    with restartable_redis(tmp_path) as server:
        yield server


def _unavailable(status: int, body: Any, headers: Any, code: str) -> None:
    assert status == 503, body
    assert body["error"]["code"] == code and body["error"]["retry_after"] == 5, body
    assert headers["Retry-After"] == "5"


async def _admitted(node: Node) -> list[Any]:
    patient, _ = await connect_client(node.url, token=node.patient_token)
    nurse, _ = await connect_client(node.url, cookie=node.cookie)
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse.call("lobby:admit", {"consult_id": node.demo.consult_id}))["ok"]
    return [patient, nurse]


async def test_signing_while_postgres_is_down(
    tmp_path: Path, postgres: RestartablePostgres, redis: RestartableRedis
) -> None:
    async with serving(tmp_path, database_url=postgres.url, redis_url=redis.url) as node:
        sockets = await _admitted(node)
        status, opened, _ = await node.call(
            "POST", f"/api/consults/{node.demo.consult_id}/note", {"template": "first-consult"}
        )
        assert status == 200, opened
        note_id = opened["note"]["note_id"]
        status, saved, _ = await node.call(
            "PUT", f"/api/notes/{note_id}", {"base_version": opened["note"]["version"], "content": NOTE}
        )
        assert status == 200, saved
        sign = {"version": saved["note"]["version"], "request_id": "sign-outage-1"}

        postgres.stop()
        stopped_at = asyncio.get_running_loop().time()
        attempts = 0
        while attempts == 0 or asyncio.get_running_loop().time() - stopped_at < OUTAGE_SECONDS:
            _unavailable(
                *(await node.call("POST", f"/api/notes/{note_id}/sign", sign)), "database_unavailable"
            )
            attempts += 1
            await asyncio.sleep(2)
        status, ready, _ = await node.call("GET", "/readyz")
        assert status == 503 and ready["checks"]["database"] is False and "database" in ready["not_ready"]
        assert (await node.call("GET", "/healthz"))[0] == 200
        postgres.start()

        async with node.services.engine.connect() as connection:
            signed_rows = await connection.scalar(select(func.count()).where(NoteRow.status == "signed"))
            bundles = await connection.scalar(select(func.count()).select_from(BundleRow))
        assert (signed_rows, bundles) == (0, 0), "a refused signing left something behind"
        status, first, _ = await node.call("POST", f"/api/notes/{note_id}/sign", sign)
        assert status == 201 and first["note"]["status"] == "signed", first
        status, again, _ = await node.call("POST", f"/api/notes/{note_id}/sign", sign)
        assert status == 200 and again["replayed"] is True
        assert (await node.call("GET", "/readyz"))[0] == 200
        for client in sockets:
            await client.disconnect()


def _booking(nss: str, start: datetime) -> dict[str, Any]:
    return {
        "unit": DEMO_UNIT,
        "start": start.isoformat(),
        "kind": "first",
        "patient": {
            "nss": nss,
            "name": "Rosa Díaz",
            "birth_date": "1975-05-05",
            "email": "rosa@example.org",
            "time_zone": "America/Mexico_City",
        },
    }


async def test_booking_while_postgres_is_down_books_once_on_retry(
    tmp_path: Path, postgres: RestartablePostgres, redis: RestartableRedis
) -> None:
    async with serving(tmp_path, database_url=postgres.url, redis_url=redis.url) as node:
        tomorrow = datetime.now(UTC).replace(hour=16, minute=0, second=0, microsecond=0) + timedelta(days=1)
        body = _booking("12345678903", tomorrow)
        key = {"Idempotency-Key": "booking-7f3a"}
        appointments = node.services.scheduling.appointments
        booked_id = IdempotentBooking(
            node.services.scheduling, node.services.settings.secret_key
        ).appointment_id(DEMO_UNIT, "booking-7f3a")

        postgres.stop()
        _unavailable(*(await node.call("POST", "/api/appointments", body, **key)), "database_unavailable")
        assert await appointments.get(booked_id) is None
        assert await node.services.stores.consults.get(booked_id) is None
        assert await appointments.for_patient("12345678903") == []
        postgres.start()

        status, first, _ = await node.call("POST", "/api/appointments", body, **key)
        assert status == 201, first
        status, again, headers = await node.call("POST", "/api/appointments", body, **key)
        assert status == 201 and headers["Idempotent-Replayed"] == "true", again
        assert again == first  # the same appointment and the same link
        assert [a.appointment_id for a in await appointments.for_patient("12345678903")] == [booked_id]
        status, refused, _ = await node.call("POST", "/api/appointments", body)  # no key: a new request
        assert (status, refused["error"]["code"]) == (409, "double_booking")
        other = _booking(demo_nss(), tomorrow + timedelta(hours=1))
        status, reused, _ = await node.call("POST", "/api/appointments", other, **key)
        assert (status, reused["error"]["code"]) == (409, "request_id_reused")


async def test_staff_sign_in_again_after_a_redis_restart(tmp_path: Path, redis: RestartableRedis) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}"
    async with serving(tmp_path, database_url=database_url, redis_url=redis.url) as node:
        sockets = await _admitted(node)
        queue = f"/api/units/{DEMO_UNIT}/queue"
        assert (await node.call("GET", queue))[0] == 200

        redis.stop()
        _unavailable(*(await node.call("GET", queue)), "store_unavailable")
        nurse = sockets[1]
        reply = await nurse.call("room:lock", {"consult_id": node.demo.consult_id})
        assert reply["ok"] is False and reply["error"]["code"] == "store_unavailable", reply
        assert reply["error"]["retry_after"] == "5"
        status, ready, _ = await node.call("GET", "/readyz")
        assert status == 503 and ready["checks"]["redis"] is False
        assert (await node.call("GET", "/healthz"))[0] == 200
        redis.start()  # empty: no persistence

        status, me, _ = await node.call("GET", "/api/session")
        assert status == 200 and me == {"signed_in": False}  # the session was only in Redis
        await node.sign_in()  # the account was not: it is in the database
        assert (await node.call("GET", queue))[0] == 200
        assert (await node.call("GET", "/readyz"))[0] == 200
        for client in sockets:
            await client.disconnect()
