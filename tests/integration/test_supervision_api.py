"""The unit dashboard over REST and its live nudge over socket.io, through the real server.

Who may see it (a supervisor or coordinator of the unit; not a nurse, not another unit, not
someone signed out), what it shows during a consult (first names only), that every view leaves
an audit line, and that a supervisor's socket hears ``dashboard:changed`` and nothing else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import aioice.ice
import pytest
from aiohttp.test_utils import TestServer

from media.ice import restrict_host_addresses
from rooms.roles import Role
from tests.integration.conftest import NURSE_PASSWORD, Harness
from tests.support.clients import connect_client
from tests.support.services import MovableClock
from web.app import SERVICES, create_app
from web.config import Settings
from web.demo import DEMO_UNIT, create_appointment_link, seed_demo

DASHBOARD = f"/api/units/{DEMO_UNIT}/dashboard"


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Harness]:
    """The demo unit with room for several patients in the slot running now."""
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    clock = MovableClock()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"supervision-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        slot_capacity=10,
    )
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    demo = await seed_demo(app[SERVICES], url, password=NURSE_PASSWORD)
    try:
        yield Harness(url, app[SERVICES], demo, clock, app)
    finally:
        await server.close()
        aioice.ice.get_host_addresses = original


async def get(unit: Harness, path: str, cookie: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Cookie": f"tc_session={cookie}"} if cookie else {}
    async with aiohttp.ClientSession() as http, http.get(unit.url + path, headers=headers) as response:
        return response.status, await response.json()


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage().removeprefix("dashboard_view "))
        for record in caplog.records
        if record.name == "teleconsulta.audit"
    ]


async def test_only_supervisors_and_coordinators_of_the_unit_see_it(
    unit: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="teleconsulta.audit")
    cookies = {
        "supervisor": await unit.staff_cookie("supervisa", Role.SUPERVISOR, DEMO_UNIT, "Sonia Supervisora"),
        "coordinator": await unit.staff_cookie("coordina", Role.COORDINATOR, DEMO_UNIT, "Carla Coordinadora"),
        "nurse": await unit.login(),
        "physician": await unit.staff_cookie("medica", Role.PHYSICIAN, DEMO_UNIT, "Dra. Médica"),
        "other_supervisor": await unit.staff_cookie(
            "supervisa2", Role.SUPERVISOR, "UMF-2", "Otra Supervisora"
        ),
        "other_coordinator": await unit.staff_cookie(
            "coordina2", Role.COORDINATOR, "UMF-2", "Otra Coordinadora"
        ),
    }
    expected = {
        "supervisor": (200, None),
        "coordinator": (200, None),
        "nurse": (403, "forbidden"),
        "physician": (403, "forbidden"),
        "other_supervisor": (403, "wrong_unit"),
        "other_coordinator": (403, "wrong_unit"),
        "anonymous": (401, "auth_required"),
        "forged": (401, "auth_required"),
    }
    cookies["forged"] = "not-a-session"
    answers = {}
    for who in expected:
        status, body = await get(unit, DASHBOARD, cookies.get(who))
        answers[who] = (status, body.get("error", {}).get("code"))
    assert answers == expected
    # Every attempt is audited with who asked and how it ended, and nothing about a patient.
    lines = audit_lines(caplog)
    assert [line["outcome"] for line in lines] == [code or "ok" for _, code in expected.values()]
    assert lines[0] == {
        "unit": DEMO_UNIT,
        "staff_id": "staff-supervisa",
        "role": "supervisor",
        "outcome": "ok",
        "named": 0,
    }
    assert lines[-1]["staff_id"] == "anonymous" and lines[-1]["role"] is None
    # The supervisor may see nothing else: the unit's queue and the record are for staff who host.
    status, _ = await get(unit, f"/api/units/{DEMO_UNIT}/queue", cookies["supervisor"])
    assert status == 401
    status, _ = await get(unit, f"/api/consults/{unit.consult_id}/log", cookies["supervisor"])
    assert status == 401


async def test_during_a_consult_it_shows_who_waits_and_who_is_in_a_call_by_first_name(
    unit: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="teleconsulta.audit")
    supervisor = await unit.staff_cookie("supervisa", Role.SUPERVISOR, DEMO_UNIT, "Sonia Supervisora")
    waiting_id, link = await create_appointment_link(unit.services, unit.url, "Lucía Fernández Ruiz")
    patient, _ = await unit.patient()
    other, _ = await unit.patient(parse_qs(urlsplit(link).fragment)["t"][0])
    nurse_cookie = await unit.login()
    async with aiohttp.ClientSession() as http:  # on duty, as her console's "start shift" does
        headers = {"Cookie": f"tc_session={nurse_cookie}"}
        async with http.put(
            f"{unit.url}/api/nurses/me/state", json={"state": "available"}, headers=headers
        ) as r:
            assert r.status == 200
    nurse, _ = await connect_client(unit.url, cookie=nurse_cookie)
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await other.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse.call("lobby:admit", {"consult_id": unit.consult_id}))["ok"]

    status, board = await get(unit, DASHBOARD, supervisor)
    assert status == 200, board
    assert [w["first_name"] for w in board["waiting"]] == ["Lucía"]
    assert board["waiting"][0]["connected"] is True and board["waiting"][0]["waited_seconds"] >= 0
    assert [(c["first_name"], c["since"] is not None) for c in board["in_consult"]] == [("María", True)]
    assert board["nurses"]["in_consult"] == 1
    assert board["appointments"]["admitted"] == 1 and board["appointments"]["checked_in"] == 1
    assert board["waits_today"]["count"] == 1 and board["no_shows"] == 0
    assert len(board["waits_by_hour"]) in (23, 24, 25)
    assert set(board["quality"]) == {"good", "fair", "poor", "bad"}
    # Nothing that names or identifies a patient beyond a first name.
    text = json.dumps(board, ensure_ascii=False)
    for leaked in ("Fernández", "Pérez", waiting_id, unit.consult_id, "nss", "patient_id"):
        assert leaked not in text, leaked
    assert audit_lines(caplog)[-1]["named"] == 2
    assert "Lucía" not in caplog.text and "María" not in caplog.text
    for client in (patient, other, nurse):
        await client.disconnect()


async def test_today_is_the_viewers_day_and_a_zone_must_exist(unit: Harness) -> None:
    supervisor = await unit.staff_cookie("supervisa", Role.SUPERVISOR, DEMO_UNIT, "Sonia Supervisora")
    status, board = await get(unit, DASHBOARD + "?zone=Asia/Tokyo", supervisor)
    assert status == 200 and board["zone"] == "Asia/Tokyo"
    assert board["day"]["start"].endswith("+00:00")
    status, default = await get(unit, DASHBOARD, supervisor)
    assert status == 200 and default["zone"] == "America/Mexico_City"
    status, refused = await get(unit, DASHBOARD + "?zone=Mars/Olympus", supervisor)
    assert (status, refused["error"]["code"]) == (400, "unknown_time_zone")


async def test_a_supervisors_socket_hears_that_the_dashboard_changed_and_nothing_else(unit: Harness) -> None:
    cookie = await unit.staff_cookie("supervisa", Role.SUPERVISOR, DEMO_UNIT, "Sonia Supervisora")
    supervisor, heard = await connect_client(unit.url, cookie=cookie)
    hello = await supervisor.call("hello", {})
    assert hello["ok"] and hello["role"] == "supervisor" and "queue" not in hello
    other_cookie = await unit.staff_cookie("supervisa2", Role.SUPERVISOR, "UMF-2", "Otra Supervisora")
    elsewhere, heard_elsewhere = await connect_client(unit.url, cookie=other_cookie)
    patient, _ = await unit.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert await heard.wait_for("dashboard:changed") == {"unit": DEMO_UNIT}
    # A supervisor hosts nothing: admitting is forbidden (and logged), and no list reaches it.
    refused = await supervisor.call("lobby:admit", {"consult_id": unit.consult_id})
    assert refused["error"]["code"] == "forbidden"
    assert heard.named("queue:diff") == []
    assert heard_elsewhere.named("dashboard:changed") == []
    for client in (patient, supervisor, elsewhere):
        await client.disconnect()
