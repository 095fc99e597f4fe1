"""The one-time set-password page in real Chromium: a new nurse opens her link, chooses a password,
and signs in with it; the spent link then says so in words, in the viewer's language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from records.staff import Admin
from records.staff_facts import staff_facts, unit_facts
from web.app import SERVICES, create_app
from web.config import Settings


@dataclass
class Site:
    url: str
    link: str


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"password-page-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_workers=0,
    )
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    accounts, admin = app[SERVICES].accounts, Admin("test", "test", "test")
    await accounts.put_unit(unit_facts("UMF-1", "DFIMS000652", "UMF 1", "America/Mexico_City"), admin)
    created = await accounts.provision(staff_facts("nueva", "Enf. Nueva", "nurse", "UMF-1"), admin)
    assert created.setup is not None
    try:
        yield Site(url, accounts.link(created.setup, url))
    finally:
        await server.close()


async def test_a_new_nurse_sets_her_password_once(site: Site, browser: Browser) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(site.link)
    assert "#t=" not in page.url, "the page keeps the secret in the address bar"
    await page.fill("#password", "mi-clave-nueva-1")
    await page.fill("#again", "otra-clave-distinta")
    await page.click("#setup button[type=submit]")
    await expect(page.locator("#status")).to_have_text("Las dos contraseñas no coinciden.")
    await page.fill("#again", "mi-clave-nueva-1")
    await page.click("#setup button[type=submit]")
    await expect(page.locator("#done")).to_be_visible()
    async with aiohttp.ClientSession() as http:
        answer = await http.post(
            f"{site.url}/api/session", json={"username": "nueva", "password": "mi-clave-nueva-1"}
        )
        assert answer.status == 200

    again = await (await browser.new_context()).new_page()
    await again.goto(site.link)
    await again.click("#lang")
    await again.fill("#password", "mi-clave-nueva-2")
    await again.fill("#again", "mi-clave-nueva-2")
    await again.click("#setup button[type=submit]")
    await expect(again.locator("#status")).to_have_text(
        "This link was already used or has expired. Ask your administrator for a new one."
    )
