"""Shared steps for the browser tests: waiting on page state, reading WebRTC stats, screenshots."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.support.services import ROOT, DemoServer

ARTIFACTS = ROOT / "test-artifacts"

INBOUND = """
async () => {
  const pc = window.teleconsultaDebug.peerConnection();
  if (!pc) return null;
  const result = { framesDecoded: 0, audioPackets: 0 };
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") result.framesDecoded += r.framesDecoded ?? 0;
    if (r.type === "inbound-rtp" && r.kind === "audio") result.audioPackets += r.packetsReceived ?? 0;
  });
  return result;
}
"""


async def poll(page: Page, script: str, condition: Callable[[Any], bool], timeout: float = 30) -> Any:
    """Evaluate ``script`` until ``condition`` holds.

    The pages' CSP forbids eval, which Playwright's ``wait_for_function`` relies on.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await page.evaluate(script)
        if condition(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s; last value {value!r}")
        await asyncio.sleep(0.25)


async def wait_for_media_growth(page: Page) -> None:
    """Wait until decoded frames and audio packets are flowing and still growing."""
    first = await poll(
        page, INBOUND, lambda s: s is not None and s["framesDecoded"] > 10 and s["audioPackets"] > 10
    )
    await poll(
        page,
        INBOUND,
        lambda s: (
            s["framesDecoded"] > first["framesDecoded"] + 10
            and s["audioPackets"] > first["audioPackets"] + 10
        ),
    )
    size = await poll(
        page,
        "[document.getElementById('remote').videoWidth, document.getElementById('remote').videoHeight]",
        lambda v: v[0] > 0 and v[1] > 0,
    )
    assert size[0] > 0 and size[1] > 0


SELECTED_PATH = """
async () => {
  const pc = window.teleconsultaDebug.peerConnection();
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((r) => {
    if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
  });
  const remote = pair && stats.get(pair.remoteCandidateId);
  return remote ? { address: remote.address, port: remote.port, answer: pc.remoteDescription.sdp } : null;
}
"""


async def media_path(page: Page) -> tuple[str, int]:
    """The remote end of the page's selected ICE path, checked to be one the server offered."""
    path = await poll(page, SELECTED_PATH, lambda p: p is not None)
    assert f" {path['address']} {path['port']} typ " in path["answer"], "the media path is not the server"
    return path["address"], path["port"]


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(Path(ARTIFACTS / f"{name}.png")), full_page=True)


async def patient_enters_waiting_room(page: Page, link: str) -> None:
    await page.goto(link)
    await expect(page.locator("body")).to_have_attribute("data-state", "check")
    await page.check("#consent")
    await page.click("#enter")
    await expect(page.locator("body")).to_have_attribute("data-state", "waiting")


async def nurse_signs_in(page: Page, server: DemoServer) -> None:
    await page.goto(server.console_url)
    await page.fill("#username", server.username)
    await page.fill("#password", server.password)
    await page.click("#login button[type=submit]")
    await expect(page.locator("body")).to_have_attribute("data-state", "queue")


async def nurse_admits_next(page: Page) -> str:
    row = page.locator("#queue-rows tr[data-state=waiting]").first
    await expect(row).to_be_visible()
    consult_id = await row.get_attribute("data-consult-id")
    assert consult_id
    await row.get_by_role("button", name="Admitir").click()
    await expect(page.locator("body")).to_have_attribute("data-state", "call")
    return consult_id


async def admitted_call(browser: Browser, server: DemoServer) -> tuple[Page, Page, str]:
    """The demo patient checks in on a page of her own and the demo nurse admits her from another:
    ``(patient, nurse, consult id)``, both in the call."""
    patient = await (await browser.new_context()).new_page()
    nurse = await (await browser.new_context()).new_page()
    await patient_enters_waiting_room(patient, server.patient_link)
    await nurse_signs_in(nurse, server)
    consult_id = await nurse_admits_next(nurse)
    return patient, nurse, consult_id
