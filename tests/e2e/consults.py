"""Steps shared by the browser tests that run several consults on one server (one per test).

The demo server books one patient; these tests book their own in the unit's next slot (with room
for many patients and an early waiting room), so a module starts the server once.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from bench.support import CHROMIUM, CHROMIUM_FLAGS
from rooms.nss import luhn_check_digit
from tests.e2e.pages import nurse_signs_in, poll
from tests.e2e.test_accessibility import AXE, check
from tests.support.services import DemoServer, require_or_skip, start_demo_server

WIDE: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 360, "height": 740}
MANY_PATIENTS = {"TC_SLOT_CAPACITY": "30", "TC_CHECK_IN_OPENS_MINUTES": "90"}


def shared_server(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[DemoServer]:
    """One demo server for a whole test module, with room for a patient per test."""
    server = start_demo_server(tmp_path_factory.mktemp("server"), {**MANY_PATIENTS, **env})
    try:
        yield server
    finally:
        server.stop()


def flags(*, prompt: bool = True, cameras: int | None = None) -> list[str]:
    """Chromium's test flags. ``prompt=False`` drops the auto-accepted permission prompt, so each
    context's own permissions decide, as a person's answers and site settings do; ``cameras`` sets
    how many fake cameras the machine has (0: none plugged in)."""
    result = [flag for flag in CHROMIUM_FLAGS if prompt or flag != "--use-fake-ui-for-media-stream"]
    if cameras is not None:
        fake = "--use-fake-device-for-media-stream"
        result = [f"{fake}=device-count={cameras}" if flag == fake else flag for flag in result]
    return result


async def launch(browser: Browser, args: list[str]) -> Browser:
    """Another Chromium beside the ``browser`` fixture's (closed with the test's playwright)."""
    assert browser.browser_type.name == "chromium"
    return await browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=args)


async def patient_context(browser: Browser, **options: Any) -> BrowserContext:
    """A patient's browser window at 1280x800; CSP is bypassed so axe-core can be injected."""
    return await browser.new_context(viewport=WIDE, bypass_csp=True, **options)


def new_nss() -> str:
    payload = "99" + "".join(secrets.choice("0123456789") for _ in range(8))
    return payload + str(luhn_check_digit(payload))


async def book_patient(nurse: Page, server: DemoServer, name: str) -> tuple[str, str]:
    """The signed-in nurse books a patient in the unit's next free slot: (consult id, join link)."""
    today = date.today()
    slots: list[dict[str, str]] = []
    for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
        response = await nurse.request.get(f"{server.base_url}/api/slots?unit=UMF-1&date={day.isoformat()}")
        slots = (await response.json())["slots"]
        if slots:
            break
    response = await nurse.request.post(
        f"{server.base_url}/api/appointments",
        data={
            "unit": "UMF-1",
            "start": slots[0]["start"],
            "kind": "first",
            "patient": {
                "nss": new_nss(),
                "name": name,
                "birth_date": "1982-03-14",
                "email": "paciente.prueba@example.org",
                "time_zone": "America/Mexico_City",
                "language": "es",
            },
        },
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    return str(body["appointment"]["consult_id"]), str(body["patient_link"])


async def nurse_with_patient(browser: Browser, server: DemoServer, name: str) -> tuple[Page, str, str]:
    """A signed-in nurse at 1280x800 and a patient booked for now: (nurse page, consult id, link)."""
    nurse = await (await browser.new_context(viewport=WIDE, bypass_csp=True)).new_page()
    await nurse_signs_in(nurse, server)
    consult_id, link = await book_patient(nurse, server, name)
    return nurse, consult_id, link


async def patient_checks_in(page: Page) -> None:
    await page.check("#consent")
    await page.click("#enter")
    await expect(page.locator("body")).to_have_attribute("data-state", "waiting")


async def admit(nurse: Page, consult_id: str) -> None:
    row = nurse.locator(f"#queue-rows tr[data-consult-id='{consult_id}'][data-state=waiting]")
    await row.get_by_role("button", name="Admitir").click()
    await expect(nurse.locator("body")).to_have_attribute("data-state", "call")


async def end_consult(nurse: Page, patient: Page) -> None:
    """The nurse ends the consult (so she can take the next test's patient); the patient sees it end."""
    await nurse.click("#end")
    await expect(nurse.locator("#status")).to_have_text("Consulta terminada.")
    await expect(patient.locator("body")).to_have_attribute("data-state", "ended")


async def archived_log(
    page: Page, base_url: str, consult_id: str, timeout: float = 15
) -> list[dict[str, Any]]:
    """The consult's session log once it is archived, the last step of its end: the pages hear
    of the end before the server appends the call's summary and archives the log."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await page.context.request.get(f"{base_url}/api/consults/{consult_id}/log")
        assert response.ok, await response.text()
        body = await response.json()
        if body["archived"]:
            return list(body["events"])
        assert asyncio.get_running_loop().time() < deadline, f"log not archived in {timeout} s: {body}"
        await asyncio.sleep(0.2)


async def both_widths(page: Page, name: str) -> None:
    """axe-core and the layout checks, with a screenshot, at 360 px and at 1280 px."""
    require_or_skip(AXE.exists(), "axe-core (npm ci)")
    for size in (PHONE, WIDE):
        await page.set_viewport_size(size)
        await check(page, name)
    await page.set_viewport_size(WIDE)


async def in_view(page: Page, selector: str) -> None:
    """The element is on screen without scrolling (the page is at the top)."""
    await page.evaluate("window.scrollTo(0, 0)")
    box = await page.locator(selector).bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    below = box["y"] + box["height"] - viewport["height"]
    assert box["y"] >= 0 and below <= 0, f"{selector} is {below:.0f} px below the fold at {viewport}"


# What this page sends and receives, from its own WebRTC statistics.
SENT = """
async () => {
  const pc = window.teleconsultaDebug.publisher();
  if (!pc) return null;
  const result = { audio: 0, video: 0 };
  (await pc.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp") result[r.kind] += r.packetsSent ?? 0;
  });
  return result;
}
"""

RECEIVED = """
async () => {
  const pc = window.teleconsultaDebug.peerConnection();
  if (!pc) return null;
  const result = { audio: 0, video: 0 };
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") result.audio += r.packetsReceived ?? 0;
    if (r.type === "inbound-rtp" && r.kind === "video") result.video += r.framesDecoded ?? 0;
  });
  return result;
}
"""


async def receiving(page: Page, kind: str) -> None:
    """Packets (audio) or decoded frames (video) of ``kind`` arrive at ``page`` and keep arriving."""
    first = await poll(page, RECEIVED, lambda r: r is not None and r[kind] > 10)
    await poll(page, RECEIVED, lambda r: r[kind] > first[kind] + 10)


async def not_receiving(page: Page, kind: str) -> None:
    """Nothing of ``kind`` arrives: checked over the time it takes the other kind to grow (no sleep)."""
    other = "video" if kind == "audio" else "audio"
    first = await poll(page, RECEIVED, lambda r: r is not None)
    await receiving(page, other)
    last = await page.evaluate(RECEIVED)
    assert last[kind] == first[kind] == 0, f"{kind} arrived: {first} then {last}"


async def sent_kinds(page: Page) -> list[str]:
    """The kinds this page's publishing connection has a live track for."""
    kinds: list[str] = await page.evaluate(
        "() => (window.teleconsultaDebug.publisher()?.getSenders() ?? [])"
        ".filter((s) => s.track && s.track.readyState === 'live').map((s) => s.track.kind).sort()"
    )
    return kinds
