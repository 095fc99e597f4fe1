"""The nurse console's sign-in errors in real Chromium: each one is a sentence in the viewer's
language, never a raw key (``error.x``) nor the patient-link message.

The server's first login wait is 10 minutes, so once throttled the page stays throttled for the
whole test, however slow the machine.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, Response, Route, expect

from rooms.roles import Role
from rooms.staff import StaffMember
from web.app import SERVICES, create_app
from web.config import Settings

PATIENT_LINK_MESSAGE = "Este enlace no es válido. Use el enlace completo de su cita."
WRONG_ES = "Usuario o contraseña incorrectos."
WRONG_EN = "Wrong username or password."
THROTTLED_ES = re.compile(r"^Demasiados intentos fallidos\. Espere (\d+) s y vuelva a intentarlo\.$")
THROTTLED_EN = re.compile(r"^Too many failed attempts\. Wait (\d+) s and try again\.$")
OFFLINE_ES = "No hay conexión con el servidor. Revise su red e intente de nuevo."


@pytest.fixture
async def server_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"login-browser-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_workers=0,
        login_delay_seconds=600,
    )
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    services = app[SERVICES]
    await services.stores.staff.add(
        StaffMember("staff-ana", "ana", "Ana", Role.NURSE, "UMF-1", services.auth.hash_password("pw-ana-123"))
    )
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def sign_in(page: Page, password: str) -> Response:
    await page.fill("#username", "ana")
    await page.fill("#password", password)
    async with page.expect_response("**/api/session") as answer:
        await page.click("#login button[type=submit]")
    return await answer.value


async def shown(page: Page) -> str:
    status = page.locator("#status")
    await expect(status).to_be_visible()
    text = (await status.text_content() or "").strip()
    assert not re.search(r"\b(error|login)\.\w+", text), f"a raw key is shown: {text!r}"
    assert text != PATIENT_LINK_MESSAGE
    return text


async def test_a_wrong_password_and_a_throttled_login_read_as_sentences(
    server_url: str, browser: Browser
) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{server_url}/consola")
    await expect(page.locator("body")).to_have_attribute("data-state", "login")

    assert (await sign_in(page, "incorrecta-1")).status == 401
    await expect(page.locator("#status")).to_have_text(WRONG_ES)
    assert await shown(page) == WRONG_ES
    await page.click("#lang")
    await expect(page.locator("#status")).to_have_text(WRONG_EN)
    await page.click("#lang")
    await expect(page.locator("#status")).to_have_text(WRONG_ES)

    for n in range(2, 6):
        assert (await sign_in(page, f"incorrecta-{n}")).status == 401
    throttled = await sign_in(page, "incorrecta-6")
    assert throttled.status == 429
    wait = (await throttled.json())["error"]["retry_after"]
    await expect(page.locator("#status")).to_have_text(THROTTLED_ES)
    match = THROTTLED_ES.match(await shown(page))
    assert match is not None and int(match.group(1)) == wait
    await page.click("#lang")
    await expect(page.locator("#status")).to_have_text(THROTTLED_EN)
    match = THROTTLED_EN.match(await shown(page))
    assert match is not None and int(match.group(1)) == wait
    await expect(page.locator("body")).to_have_attribute("data-state", "login")


async def test_no_connection_to_the_server_is_said_so(server_url: str, browser: Browser) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{server_url}/consola")
    await expect(page.locator("body")).to_have_attribute("data-state", "login")

    async def drop(route: Route) -> None:
        await route.abort("connectionrefused")

    await page.route("**/api/session", drop)
    await page.fill("#username", "ana")
    await page.fill("#password", "pw-ana-123")
    await page.click("#login button[type=submit]")
    await expect(page.locator("#status")).to_have_text(OFFLINE_ES)
    assert await shown(page) == OFFLINE_ES
