"""The console's panel of the unit's messages to patients in real Chromium on a 360-px phone: folded
until opened, it lists the demo booking's confirmation with its status and why it was not sent
(``serve --demo`` has no mail server), the time in the viewer's own zone, Spanish first and English
on request, with no serious or critical axe-core violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.pages import nurse_signs_in
from tests.e2e.test_accessibility import AXE, PHONE, check
from tests.support.services import DemoServer, require_or_skip, start_demo_server

VIEWER_ZONE = "Asia/Tokyo"
"""Neither the service's zone nor the patient's: the list must follow the viewer's."""

SHORT_DATE_TIME = """
([iso, locale]) =>
  new Intl.DateTimeFormat(locale, { dateStyle: "short", timeStyle: "short" }).format(new Date(iso))
"""


@pytest.fixture
def quick_demo(tmp_path: Path) -> Iterator[DemoServer]:
    """The demo, its dispatcher looking for due messages every 0.2 s instead of every 15 s."""
    server = start_demo_server(tmp_path, {"TC_NOTIFY_INTERVAL_SECONDS": "0.2"})
    try:
        yield server
    finally:
        server.stop()


async def test_the_console_lists_the_units_messages_and_why_one_was_not_sent(
    quick_demo: DemoServer, browser: Browser
) -> None:
    require_or_skip(AXE.exists(), "axe-core (npm ci)")
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True, timezone_id=VIEWER_ZONE
    )
    try:
        page = await context.new_page()
        await nurse_signs_in(page, quick_demo)
        await expect(page.locator("#messages-rows tr")).to_have_count(0)  # folded: nothing read yet
        await page.locator("#messages > summary").click()
        row = page.locator("#messages-rows tr").first
        await expect(row).to_be_visible()
        for _ in range(50):  # the dispatcher's first round may come after the panel's first read
            if await row.get_attribute("data-status") == "unsent":
                break
            await page.locator("#messages-refresh").click()
            await page.wait_for_timeout(200)
        cells = row.locator("td")
        await expect(cells).to_have_text(
            [
                await page.evaluate(SHORT_DATE_TIME, [await due_at(page), "es-MX"]),
                "Cita confirmada",
                "Correo",
                "p…@example.org",
                "No enviado",
                "Este medio no está configurado en el servidor",
                "1",
            ]
        )
        # The viewer's zone by its name in the page's language (the browser's own), not its IANA id.
        zone_name = await page.evaluate(
            """(zone) => new Intl.DateTimeFormat("es-MX", { timeZone: zone, timeZoneName: "longGeneric" })
                .formatToParts(new Date()).find((part) => part.type === "timeZoneName").value""",
            VIEWER_ZONE,
        )
        assert zone_name and zone_name != VIEWER_ZONE
        await expect(page.locator("#messages-zone")).to_have_text(zone_name)
        await check(page, "console-messages")

        await page.locator("#lang").click()
        await expect(page.locator("#messages-title")).to_have_text("Messages to patients")
        await expect(cells.nth(4)).to_have_text("Not sent")
        await expect(cells.nth(5)).to_have_text("This channel is not configured on the server")
        await expect(cells.nth(1)).to_have_text("Booking confirmed")
    finally:
        await context.close()


async def due_at(page: Page) -> str:
    """When the unit's confirmation was due, as the API says it (UTC)."""
    read = "async () => (await (await fetch('/api/units/UMF-1/outbox')).json()).messages"
    outbox = await page.evaluate(read)
    (confirmation,) = [m for m in outbox if m["kind"] == "confirmation"]
    return str(confirmation["due_at"])
