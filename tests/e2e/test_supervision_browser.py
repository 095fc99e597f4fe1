"""The supervisor's page in real Chromium during a consult: the waiting patient and the call in
progress by first name, the charts drawn, a new arrival shown without reloading; axe-core clean,
no sideways scrolling, screenshots at 360 and 1280 px (test-artifacts/supervision-*.png)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from rooms.staff import StaffMember
from tests.e2e.consults import PHONE, WIDE
from tests.e2e.test_accessibility import AXE, check
from tests.support.clients import connect_client
from tests.support.services import require_or_skip
from web.app import SERVICES, Services, create_app
from web.config import Settings
from web.demo import DEMO_UNIT, DemoAccess, create_appointment_link, seed_demo

NURSE_PASSWORD = "nurse-password-123"
SUPERVISOR_PASSWORD = "supervisor-password-123"


@dataclass
class Unit:
    url: str
    services: Services
    demo: DemoAccess


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    """A server in this process with the demo nurse, her patient, room for more, and a supervisor."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"supervision-page-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_workers=0,
        slot_capacity=10,
    )
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    services = app[SERVICES]
    url = str(server.make_url("")).rstrip("/")
    demo = await seed_demo(services, url, password=NURSE_PASSWORD)
    await services.stores.staff.add(
        StaffMember(
            "staff-supervisa",
            "supervisa",
            "Sonia Supervisora",
            Role.SUPERVISOR,
            DEMO_UNIT,
            services.auth.hash_password(SUPERVISOR_PASSWORD),
        )
    )
    try:
        yield Unit(url, services, demo)
    finally:
        await server.close()


async def arrives(unit: Unit, name: str) -> socketio.AsyncClient:
    """A patient of the unit opens their link and checks in; their socket (keep it open)."""
    _, link = await create_appointment_link(unit.services, unit.url, name)
    patient, _ = await connect_client(unit.url, token=parse_qs(urlsplit(link).fragment)["t"][0])
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    return patient


async def supervisor_signs_in(page: Page, url: str) -> None:
    await page.goto(f"{url}/supervision")
    await expect(page.locator("#login")).to_be_visible()
    await page.fill("#username", "supervisa")
    await page.fill("#password", SUPERVISOR_PASSWORD)
    await page.click("#login button[type=submit]")
    await expect(page.locator("body")).to_have_attribute("data-state", "ready")


async def test_the_supervisor_watches_a_consult_and_the_queue(unit: Unit, browser: Browser) -> None:
    require_or_skip(AXE.exists(), "axe-core (npm ci)")
    # María is in a call with the demo nurse, on duty; Lucía waits.
    nurse_cookie = await _sign_in(unit.url, "enfermera", NURSE_PASSWORD)
    async with aiohttp.ClientSession() as http:
        headers = {"Cookie": f"tc_session={nurse_cookie}"}
        async with http.put(f"{unit.url}/api/nurses/me/state", json={"state": "available"}, headers=headers):
            pass
    maria, _ = await connect_client(
        unit.url, token=parse_qs(urlsplit(unit.demo.patient_link).fragment)["t"][0]
    )
    assert (await maria.call("lobby:check_in", {"consent": True}))["ok"]
    nurse, _ = await connect_client(unit.url, cookie=nurse_cookie)
    assert (await nurse.call("lobby:admit", {"consult_id": unit.demo.consult_id}))["ok"]
    lucia = await arrives(unit, "Lucía Fernández")
    # What the media plane would have logged during the call: a few quality samples.
    consult = await unit.services.stores.consults.get(unit.demo.consult_id)
    assert consult is not None
    now = unit.services.clock()
    samples = [
        SessionEvent(
            consult.consult_id,
            EventKind.MEDIA_QUALITY,
            now - timedelta(seconds=s),
            who,
            None,
            None,
            {"level": level},
        )
        for s, who, level in (
            (50, consult.patient_id, "good"),
            (40, consult.host_id or "", "good"),
            (20, consult.patient_id, "fair"),
        )
    ]
    await unit.services.stores.consults.append_log(consult.consult_id, samples)

    context = await browser.new_context(viewport=WIDE, bypass_csp=True, timezone_id="America/Mexico_City")
    page = await context.new_page()
    await supervisor_signs_in(page, unit.url)
    await expect(page.locator("#who")).to_contain_text("Sonia Supervisora")
    await expect(page.locator("#waiting-rows tr")).to_have_count(1)
    await expect(page.locator("#waiting-rows tr td").first).to_have_text("Lucía")
    await expect(page.locator("#live-rows tr")).to_have_count(1)
    await expect(page.locator("#live-rows tr td").first).to_have_text("María")
    await expect(page.locator("#live-rows tr td").nth(3)).to_have_text("Regular")  # the worst latest level
    await expect(page.locator("#nurses-in_consult")).to_have_text("1")
    await expect(page.locator("#zone")).to_have_text("hora del centro de México")
    for chart in ("#waits-chart", "#quality-chart"):
        await expect(page.locator(f"{chart} canvas")).to_have_count(1)
        box = await page.locator(f"{chart} canvas").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        assert await page.locator(chart).get_attribute("aria-label")
    await expect(page.locator("#quality-rows tr").first).to_contain_text("2")  # two "good" samples
    assert "Fernández" not in await page.content() and "Pérez" not in await page.content()
    await check(page, "supervision")

    # Someone else checks in: the page hears dashboard:changed and shows them without a reload.
    pedro = await arrives(unit, "Pedro Ramírez")
    await expect(page.locator("#waiting-rows tr")).to_have_count(2, timeout=10_000)
    await expect(page.locator("#waiting-rows")).to_contain_text("Pedro")

    # The same page on a phone; and in English.
    phone = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    small = await phone.new_page()
    await supervisor_signs_in(small, unit.url)
    await expect(small.locator("#live-rows tr")).to_have_count(1)
    await expect(small.locator("#waits-chart canvas")).to_have_count(1)
    box = await small.locator("#quality-chart canvas").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    await check(small, "supervision")
    await small.click("#lang")
    await expect(small.locator("h1")).to_have_text("Unit supervision")
    await expect(small.locator("#live-rows tr td").nth(3)).to_have_text("Fair")
    await expect(small.locator("#quality-chart canvas")).to_have_count(1)
    for client in (maria, nurse, lucia, pedro):
        await client.disconnect()


async def test_a_nurse_is_told_the_page_is_not_hers(unit: Unit, browser: Browser) -> None:
    page = await (await browser.new_context(viewport=PHONE)).new_page()
    await page.goto(f"{unit.url}/supervision")
    await page.fill("#username", "enfermera")
    await page.fill("#password", NURSE_PASSWORD)
    await page.click("#login button[type=submit]")
    await expect(page.locator("body")).to_have_attribute("data-state", "forbidden")
    await expect(page.locator("#not-for-you a")).to_have_attribute("href", "/consola")
    await expect(page.locator("#dashboard")).to_be_hidden()


async def test_a_supervisor_signing_in_on_the_console_lands_on_the_dashboard(
    unit: Unit, browser: Browser
) -> None:
    page = await (await browser.new_context(viewport=WIDE)).new_page()
    await page.goto(f"{unit.url}/consola")
    await page.fill("#username", "supervisa")
    await page.fill("#password", SUPERVISOR_PASSWORD)
    await page.click("#login button[type=submit]")
    await expect(page).to_have_url(f"{unit.url}/supervision")
    await expect(page.locator("body")).to_have_attribute("data-state", "ready")


async def _sign_in(url: str, username: str, password: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/api/session", json={"username": username, "password": password}
        ) as response:
            assert response.status == 200
            return response.cookies["tc_session"].value
