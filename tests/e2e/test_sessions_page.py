"""The coordinator's inter-unit sessions page in real Chromium: create a session, invite a site,
see its link, remove it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from rooms.roles import Role
from rooms.staff import StaffMember
from tests.e2e.pages import shot
from web.app import SERVICES, create_app
from web.config import Settings


@pytest.fixture
async def server_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"sessions-page-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_workers=0,
    )
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    services = app[SERVICES]
    await services.stores.staff.add(
        StaffMember(
            "staff-coord",
            "coordina",
            "Dra. Coordinadora",
            Role.COORDINATOR,
            "HGZ-1",
            services.auth.hash_password("pw-coordina-123"),
        )
    )
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_a_coordinator_creates_a_session_and_invites_a_site(server_url: str, browser: Browser) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{server_url}/sesiones")
    await expect(page.locator("body")).to_have_attribute("data-state", "signed-out")
    await page.goto(f"{server_url}/consola")
    await page.fill("#username", "coordina")
    await page.fill("#password", "pw-coordina-123")
    await page.click("#login button[type=submit]")
    await expect(page.locator("body")).to_have_attribute("data-state", "queue")

    await page.goto(f"{server_url}/sesiones")
    await expect(page.locator("body")).to_have_attribute("data-state", "ready")
    await page.select_option("#purpose", "second_opinion")
    await page.select_option("#specialty", "Neurología")
    await page.fill("#scheduled-at", "2030-05-04T10:30")
    await page.fill("#clues", "DFIMS000123")
    await page.click("#session-form button[type=submit]")
    session = page.locator("#sessions article").first
    await expect(session.locator("h3")).to_have_text("Segunda opinión · Neurología")
    await expect(session.locator("tbody tr")).to_have_count(1)

    await session.locator("input[name=clues]").fill("mcssa000042")
    await session.locator("input[name=unit_name]").fill("Hospital Regional")
    await session.locator("input[name=name]").fill("Dr. Ruiz")
    await session.locator("select[name=role]").select_option("physician")
    await session.locator("form button[type=submit]").click()
    await expect(session.locator("tbody tr")).to_have_count(2)
    link = session.locator("tbody tr").nth(1).locator("input.site-link")
    value = await link.input_value()
    assert value.startswith(f"{server_url}/paciente#t=")
    await expect(session.locator("tbody tr").nth(1)).to_contain_text("MCSSA000042")
    await shot(page, "coordinator-sessions")

    await session.locator("tbody tr").nth(1).get_by_role("button", name="Quitar").click()
    await expect(session.locator("tbody tr")).to_have_count(1)
