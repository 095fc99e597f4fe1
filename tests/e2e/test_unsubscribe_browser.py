"""A message's unsubscribe link in real Chromium on a 360-px phone: the page asks first (a mail
scanner that opens the link turns nothing off) whether to stop that kind of message or every
message on the channel, then does, in Spanish or English, with no serious or critical axe-core
violation; a broken link says so, as does an SMS's unknown short link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect
from sqlalchemy import select

from notifications import unsubscribe
from records.outbox import OutboxStore
from records.outbox_tables import OutboxMessageRow
from tests.e2e.test_accessibility import PHONE, check
from tests.support.services import MovableClock
from web.app import SERVICES, Services, create_app
from web.config import Settings
from web.demo import seed_demo
from web.notifying import unsubscribe_key


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, Services]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"e2e-unsubscribe-secret-key-0123456789ab",
        secret_key_is_ephemeral=False,
        media_workers=0,
        notifications=False,
    )
    app = create_app(settings, clock=MovableClock())
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    url = str(test_server.make_url("")).rstrip("/")
    await seed_demo(app[SERVICES], url, password="e2e-unsubscribe-pw-1")  # books: its messages are queued
    try:
        yield url, app[SERVICES]
    finally:
        await test_server.close()


async def test_the_unsubscribe_page_asks_then_stops_that_kind_or_the_whole_channel(
    server: tuple[str, Services], browser: Browser
) -> None:
    url, services = server
    async with services.engine.connect() as connection:
        message_id, nss = (
            await connection.execute(
                select(OutboxMessageRow.id, OutboxMessageRow.patient_nss).where(
                    OutboxMessageRow.kind == "confirmation", OutboxMessageRow.channel == "email"
                )
            )
        ).one()
    token = unsubscribe.issue(unsubscribe_key(services.settings), message_id)
    store = OutboxStore(services.engine, new_id=lambda: "unused")
    # axe is injected as a script, which the page's CSP rightly forbids: bypassed for this check only.
    context = await browser.new_context(viewport=PHONE, bypass_csp=True)
    try:
        page = await context.new_page()
        await page.goto(f"{url}/baja#t={token}")
        await expect(page.locator("#question")).to_have_text(
            "¿Qué avisos de Teleconsulta por correo electrónico ya no quiere recibir?"
        )
        await expect(page.locator("#stop-kind")).to_have_text("Solo los avisos de cita confirmada")
        await expect(page.locator("#stop-channel")).to_have_text("Ningún aviso por correo electrónico")
        await check(page, "unsubscribe-question")
        assert await store.enabled(nss, "email", "confirmation")  # opening the link changed nothing
        await page.locator("#lang").click()
        await expect(page.locator("#stop-kind")).to_have_text("Only the booking confirmations")
        await page.locator("#stop-kind").click()
        await expect(page.locator("#status")).to_have_text(
            "Done: we will send you no more booking confirmations by e-mail."
        )
        await expect(page.locator("body")).to_have_attribute("data-state", "done")
        await check(page, "unsubscribe-done")
        assert not await store.enabled(nss, "email", "confirmation")
        assert await store.enabled(nss, "email", "reminder_24h")  # only that kind stopped

        await page.goto(f"{url}/baja#t={token}x")
        await page.reload()
        await expect(page.locator("body")).to_have_attribute("data-state", "error")
        await expect(page.locator("#status")).to_have_text(
            "This link is not valid. Use the whole link from the message."
        )

        await page.goto(f"{url}/baja#t={token}")
        await page.reload()
        await page.locator("#stop-channel").click()
        done = "Done: we will send you no more messages by e-mail."
        await expect(page.locator("#status")).to_have_text(done)
        assert not await store.enabled(nss, "email")

        # An SMS's short link that is unknown or expired: a page that says so, in both languages.
        response = await page.goto(f"{url}/l/NoSuchCode12")
        assert response is not None and response.status == 404
        await expect(page.locator("h1")).to_have_text("Este enlace no es válido o ya venció")
        await check(page, "short-link-missing")
    finally:
        await context.close()
