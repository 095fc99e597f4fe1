"""A node that admits new connections at a bounded rate refuses the excess with ``server_busy``;
the refused page comes back by itself after a jittered wait (web/static/js/retry.js), in Chromium."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.support.services import DemoServer, start_demo_server


@pytest.fixture
def slow_admission(tmp_path: Path) -> Iterator[DemoServer]:
    # One connection at once, then one every 10 s: a second page right after the first is refused.
    server = start_demo_server(tmp_path, {"TC_CONNECTIONS_PER_SECOND": "0.1"})
    try:
        yield server
    finally:
        server.stop()


def refusals(server: DemoServer) -> float:
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r'tc_refusals_total\{channel="socket",code="server_busy"\} (\S+)', text)
    return float(match.group(1)) if match else 0.0


async def test_a_refused_page_backs_off_and_connects(slow_admission: DemoServer, browser: Browser) -> None:
    first = await (await browser.new_context()).new_page()
    await first.goto(slow_admission.patient_link)
    await expect(first.locator("body")).to_have_attribute("data-state", "check", timeout=30_000)
    # The same patient on another device: refused at first, then let in by a later try of its own.
    second = await (await browser.new_context()).new_page()
    await second.goto(slow_admission.patient_link)
    await expect(second.locator("body")).to_have_attribute("data-state", "check", timeout=60_000)
    assert refusals(slow_admission) >= 1
