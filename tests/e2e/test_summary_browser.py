"""The after-visit summary in real Chromium, read through the patient's lasting link after the join link
has died: the vitals they reported with their date, the next appointment in their zone and in Mexico
City time, time zones in words (never an IANA id, never an i18n key), on a 360-px phone and a 1280-px
screen with no serious or critical axe-core violation; and the link's end after 30 days.

The server runs in this process with a clock the test moves (as the integration tests do), so the join
link's expiry and the 30 days pass without waiting. The patient uses the real page from the waiting
room to the end of the call; the nurse, whose console other tests cover, speaks the same socket.io and
REST API from Python.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aioice.ice
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from media.ice import restrict_host_addresses
from rooms.appointments import AppointmentKind
from tests.e2e.pages import ARTIFACTS, patient_enters_waiting_room, shot
from tests.e2e.test_accessibility import AXE, AXE_RUN, LAYOUT, PHONE, check
from tests.support.clients import connect_client
from tests.support.services import MovableClock, require_or_skip
from web.app import SERVICES, Services, create_app
from web.config import Settings
from web.demo import DemoAccess, seed_demo

PASSWORD = "e2e-summary-password-1"
NOTE: dict[str, Any] = {
    "reason": {"reason": "Control de presión arterial"},
    "vitals": {
        "weight_kg": 72.5,
        "height_cm": 160,
        "systolic_mmhg": 128,
        "diastolic_mmhg": 82,
        "glucose_mg_dl": 104,
        "glucose_fasting": True,
    },
    "recommendations": {"recommendations": "Tomarse la presión cada mañana y anotarla"},
    "follow-up-plan": {"plan": "Revisar registro de presión", "modality": "teleconsult"},
    "referral": {"needed": False},
}
RAW_KEY = re.compile(r"\b(?:summary|error|state|lang|kind)\.[a-z_.]+\b")
DESKTOP = ViewportSize(width=1280, height=900)


@dataclass
class Server:
    url: str
    services: Services
    demo: DemoAccess
    clock: MovableClock


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    clock = MovableClock()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"e2e-summary-secret-key-0123456789abcdef",
        secret_key_is_ephemeral=False,
        media_workers=0,
    )
    app = create_app(settings, clock=clock)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    url = str(test_server.make_url("")).rstrip("/")
    demo = await seed_demo(app[SERVICES], url, password=PASSWORD)
    try:
        yield Server(url, app[SERVICES], demo, clock)
    finally:
        await test_server.close()
        aioice.ice.get_host_addresses = original


async def _nurse_signs_with_vitals(server: Server, http: aiohttp.ClientSession, patient: Page) -> None:
    """The nurse admits the waiting patient, notes her reported vitals, ends the call and signs."""
    response = await http.post(
        f"{server.url}/api/session", json={"username": "enfermera", "password": PASSWORD}
    )
    assert response.status == 200
    cookie = response.cookies["tc_session"].value
    headers = {"Cookie": f"tc_session={cookie}"}
    nurse, _ = await connect_client(server.url, cookie=cookie)
    try:
        assert (await nurse.call("lobby:admit", {"consult_id": server.demo.consult_id}))["ok"]
        await expect(patient.locator("body")).to_have_attribute("data-state", "call")
        response = await http.post(
            f"{server.url}/api/consults/{server.demo.consult_id}/note",
            json={"template": "first-consult"},
            headers=headers,
        )
        note = (await response.json())["note"]
        response = await http.put(
            f"{server.url}/api/notes/{note['note_id']}",
            json={"base_version": note["version"], "content": NOTE},
            headers=headers,
        )
        assert response.status == 200, await response.text()
        version = (await response.json())["note"]["version"]
        assert (await nurse.call("consult:end", {"consult_id": server.demo.consult_id}))["ok"]
        await expect(patient.locator("body")).to_have_attribute("data-state", "ended")
        response = await http.post(
            f"{server.url}/api/notes/{note['note_id']}/sign",
            json={"version": version, "request_id": "e2e-sign"},
            headers=headers,
        )
        assert response.status == 201, await response.text()
    finally:
        await nurse.disconnect()


async def _book_follow_up(server: Server) -> None:
    """The next appointment, for the same patient (NSS), as a follow-up booked from the note is."""
    consult = await server.services.stores.consults.get(server.demo.consult_id)
    assert consult is not None
    scheduling = server.services.scheduling
    patient = await scheduling.appointments.get_patient(consult.record_nss)
    assert patient is not None
    start = (server.clock() + timedelta(days=14)).replace(minute=0, second=0, microsecond=0)
    await scheduling.book(
        patient=patient, unit="UMF-1", kind=AppointmentKind.FOLLOW_UP, start=start, created_by="e2e"
    )


async def _plain_text(page: Page) -> str:
    text = await page.locator("body").inner_text()
    assert not RAW_KEY.findall(text), f"raw i18n keys on the page: {RAW_KEY.findall(text)}"
    assert "America/" not in text, "a raw time zone id on the page"
    return text


async def _accessible_on_desktop(page: Page, name: str) -> None:
    await page.add_script_tag(path=str(AXE))
    assert await page.evaluate(AXE_RUN) == [], name
    assert (await page.evaluate(LAYOUT))["overflow"] <= 0, f"{name} scrolls sideways"
    await shot(page, f"{name}-1280")


async def _summary_page(context: BrowserContext, link: str) -> Page:
    page = await context.new_page()
    await page.goto(link)
    await expect(page.locator("body")).to_have_attribute("data-state", "ready")
    return page


async def test_lasting_summary_link_after_the_join_link_expired(server: Server, browser: Browser) -> None:
    require_or_skip(AXE.exists(), "axe-core (npm ci)")
    # axe is injected as a script, which the pages' CSP rightly forbids: bypass it for this check only.
    phone = await browser.new_context(
        viewport=ViewportSize(width=PHONE["width"], height=PHONE["height"]),
        is_mobile=True,
        has_touch=True,
        locale="es-MX",
        timezone_id="America/Mexico_City",
        bypass_csp=True,
    )
    patient = await phone.new_page()

    # The waiting room names the zone in words.
    await patient_enters_waiting_room(patient, server.demo.patient_link)
    await expect(patient.locator("#appointment-zone")).to_have_text("(hora del centro de México)")

    async with aiohttp.ClientSession() as http:
        await _nurse_signs_with_vitals(server, http, patient)
        await _book_follow_up(server)

        # From the closing page to the summary, with the appointment link: the page shows the lasting
        # link and puts it in the address bar, so a bookmark keeps working.
        await patient.click("#summary-link")
        await expect(patient.locator("body")).to_have_attribute("data-state", "ready")
        lasting = await patient.locator("#summary-link-url").get_attribute("href")
        assert lasting and lasting.startswith(f"{server.url}/resumen#t=s1.")
        await expect(patient.locator("#summary-link-url")).to_have_text(lasting)
        await expect(patient).to_have_url(lasting)

        # Three hours later the appointment link is dead; the lasting one is not.
        server.clock.advance(timedelta(hours=3))
        join_token = urlsplit(server.demo.patient_link).fragment[2:]
        response = await http.get(
            f"{server.url}/api/summary", headers={"Authorization": f"Bearer {join_token}"}
        )
        assert response.status == 401 and (await response.json())["error"]["code"] == "auth_expired"

    page = await _summary_page(phone, lasting)
    vitals = page.locator("#summary-vitals")
    await expect(vitals).to_contain_text("Presión arterial")
    await expect(vitals).to_contain_text("128/82 mm Hg")
    await expect(vitals).to_contain_text("72.5 kg")
    await expect(vitals).to_contain_text("28.3 kg/m² (alto)")
    await expect(vitals).to_contain_text("104 mg/dL (en ayuno)")
    await expect(page.locator("#summary-vitals-when")).to_contain_text("(hora del centro de México)")
    await expect(page.locator("#summary-vitals-when")).to_contain_text(str(server.clock().year))
    await expect(page.locator("#summary-next")).to_be_visible()
    await expect(page.locator("#summary-next-zone")).to_have_text("(hora del centro de México)")
    await expect(page.locator("#summary-next-service")).to_be_hidden()  # the patient's zone is Mexico City's
    await expect(page.locator("#summary-next-kind")).to_have_text("Consulta de seguimiento")
    await expect(page.locator("#summary-zone")).to_have_text("(hora del centro de México)")
    await expect(page.locator("#summary-notes")).to_contain_text("Tomarse la presión cada mañana")
    await _plain_text(page)
    await check(page, "summary-lasting-link")  # axe, no sideways scroll, touch targets; the 360-px shot

    # A patient abroad reads it in English: their own zone by its name, and Mexico City's beside it.
    abroad = await browser.new_context(
        viewport=DESKTOP, locale="en-US", timezone_id="America/Los_Angeles", bypass_csp=True
    )
    await abroad.add_init_script("localStorage.setItem('tc.lang', 'en')")
    page = await _summary_page(abroad, lasting)
    await expect(page.locator("#summary-vitals")).to_contain_text("Your vital signs")
    await expect(page.locator("#summary-vitals")).to_contain_text("28.3 kg/m² (high)")
    await expect(page.locator("#summary-vitals-when")).to_contain_text("(Pacific Time)")
    await expect(page.locator("#summary-next-zone")).to_have_text("(Pacific Time)")
    await expect(page.locator("#summary-next-service")).to_contain_text("In Central Mexico time:")
    await expect(page.locator("#summary-next-kind")).to_have_text("Follow-up consult")
    await expect(page.locator("#summary-link")).to_contain_text("does not let anyone join a video call")
    await _plain_text(page)
    await _accessible_on_desktop(page, "summary-lasting-link")
    await abroad.close()

    # Thirty days after the signing the link ends, with a clear message.
    server.clock.advance(timedelta(days=30))
    page = await phone.new_page()
    await page.goto(lasting)
    await expect(page.locator("body")).to_have_attribute("data-error", "summary_link_expired")
    await expect(page.locator("#status")).to_have_text(
        "El enlace a su resumen ya venció. Pida una copia a su unidad."
    )
    await expect(page.locator("#summary")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    await shot(page, "summary-link-expired")
    await phone.close()
