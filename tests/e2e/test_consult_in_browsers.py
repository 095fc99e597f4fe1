"""A patient and a nurse hold a consult in two real headless Chromium pages."""

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


async def test_patient_and_nurse_consult_end_to_end(demo_server: DemoServer, browser: Browser) -> None:
    patient_context = await browser.new_context(locale="es-ES", timezone_id="Europe/Madrid")
    nurse_context = await browser.new_context(locale="es-MX", timezone_id="America/Mexico_City")
    patient = await patient_context.new_page()
    nurse = await nurse_context.new_page()

    # The patient opens the printed link: device check, consent, waiting room.
    await patient.goto(demo_server.patient_link)
    await expect(patient.locator("body")).to_have_attribute("data-state", "check")
    await expect(patient.locator("#appointment-zone")).to_have_text("(Europe/Madrid)")
    await poll(patient, "document.getElementById('preview').videoWidth", lambda width: width > 0)
    await expect(patient.locator("#enter")).to_be_disabled()
    await patient.check("#consent")
    await patient.click("#enter")
    await expect(patient.locator("body")).to_have_attribute("data-state", "waiting")
    await expect(patient.locator("#waiting")).to_contain_text("La enfermera le admitirá")
    await shot(patient, "patient-waiting")
    assert await patient.evaluate("window.teleconsultaDebug.peerConnection() === null"), (
        "media before admission"
    )

    # English on request.
    await patient.click("#lang")
    await expect(patient.locator("#waiting h2")).to_have_text("Waiting room")
    await patient.click("#lang")

    # The nurse signs in with the printed credentials and sees the patient waiting.
    await nurse.goto(demo_server.console_url)
    await nurse.fill("#username", demo_server.username)
    await nurse.fill("#password", demo_server.password)
    await nurse.click("#login button[type=submit]")
    waiting_row = nurse.locator("#queue-rows tr[data-state=waiting]")
    await expect(waiting_row).to_have_count(1)
    await expect(waiting_row).to_contain_text("María Pérez")
    consult_id = await waiting_row.get_attribute("data-consult-id")
    assert await patient.evaluate("window.teleconsultaDebug.peerConnection() === null"), (
        "media before admission"
    )
    await waiting_row.get_by_role("button", name="Admitir").click()

    # Both are in the call and receive each other's video and audio through the server.
    await expect(nurse.locator("body")).to_have_attribute("data-state", "call")
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await wait_for_media_growth(patient)
    await wait_for_media_growth(nurse)
    await shot(nurse, "nurse-call")
    # Each browser's media goes to its own peer on our server: there is no direct path between them.
    assert await media_path(patient) != await media_path(nurse)

    # Mute and camera off reach the other side.
    await patient.click("#mute")
    await expect(nurse.locator("#remote-media")).to_contain_text("Micrófono apagado")
    assert (
        await patient.evaluate(
            "window.teleconsultaDebug.peerConnection().getSenders()"
            ".find(s => s.track?.kind === 'audio').track.enabled"
        )
        is False
    )
    await patient.click("#camera")
    await expect(nurse.locator("#remote-media")).to_contain_text("Cámara apagada")
    await patient.click("#mute")
    await patient.click("#camera")
    await expect(nurse.locator("#remote-media")).to_be_hidden()

    # The patient hangs up and comes back without a new admission.
    await patient.click("#hang-up")
    await expect(patient.locator("body")).to_have_attribute("data-state", "left")
    await patient.click("#rejoin")
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await wait_for_media_growth(patient)

    # The nurse ends the consult: both pages show it.
    await nurse.click("#end")
    await expect(nurse.locator("#status")).to_have_text("Consulta terminada.")
    await expect(patient.locator("body")).to_have_attribute("data-state", "ended")
    await expect(patient.locator("#ended")).to_contain_text("La consulta ha terminado")
    assert await nurse.evaluate("window.teleconsultaDebug.peerConnection() === null")

    # The same link cannot be used again.
    again = await patient_context.new_page()
    await again.goto(demo_server.patient_link)
    await expect(again.locator("body")).to_have_attribute("data-error", "consult_ended")
    await expect(again.locator("#status")).to_have_text("Esta consulta ya terminó.")

    # The session log was stored.
    response = await nurse_context.request.get(f"{demo_server.base_url}/api/consults/{consult_id}/log")
    assert response.ok
    body = await response.json()
    kinds = [event["kind"] for event in body["events"]]
    assert body["archived"] is True
    assert kinds[:3] == ["created", "checked_in", "admitted"]
    assert {"joined", "left"} <= set(kinds) and kinds[-1] == "ended"
    await patient_context.close()
    await nurse_context.close()
