from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from bench.support import CHROMIUM, CHROMIUM_FLAGS
from tests.support.services import DemoServer, require_or_skip, start_demo_server


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[DemoServer]:
    server = start_demo_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chromium_available() -> None:
    require_or_skip(Path(CHROMIUM).exists(), f"Chromium ({CHROMIUM})")


@pytest.fixture
async def browser(chromium_available: None) -> AsyncIterator[Browser]:
    # Playwright gives every launch a fresh, empty profile directory of its own.
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield instance
        finally:
            await instance.close()
