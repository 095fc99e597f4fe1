"""Three people in one call in real Chromium: invite, leave, rejoin, audio only, screen share."""

from __future__ import annotations

import time

from playwright.async_api import Browser, Page, expect

from tests.e2e.pages import nurse_admits_next, nurse_signs_in, patient_enters_waiting_room, poll
from tests.support.services import DemoServer

# Remote pictures a page shows: its main video and every tile, with the participant behind each.
PICTURES = """
() => [document.getElementById("remote"), ...document.querySelectorAll("#tiles figure video")]
  .filter((v) => v.srcObject && v.videoWidth > 0)
  .filter((v) => v.srcObject.getVideoTracks().some((t) => t.readyState === "live"))
  .map((v) => (v.id === "remote" ? v.dataset.participant : v.closest("figure").dataset.key))
"""

DECODED = """
async () => {
  const pc = window.teleconsultaDebug.peerConnection();
  if (!pc) return 0;
  let frames = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded;
  });
  return frames;
}
"""

# How this page's camera is being encoded (the publisher's first video sender).
CAMERA_ENCODING = """
() => {
  const sender = window.teleconsultaDebug.publisher().getSenders().find((s) => s.track?.kind === "video");
  const [encoding] = sender.getParameters().encodings;
  return { maxBitrate: encoding.maxBitrate ?? null, scale: encoding.scaleResolutionDownBy ?? 1 };
}
"""


async def pictures(page: Page, count: int) -> list[str]:
    shown: list[str] = await poll(page, PICTURES, lambda p: len(p) == count)
    return shown


async def decoding_grows(page: Page) -> None:
    first = await poll(page, DECODED, lambda n: n > 0)
    await poll(page, DECODED, lambda n: n > first + 20)


async def test_three_party_call_with_leave_rejoin_audio_only_and_screen_share(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient = await (await browser.new_context()).new_page()
    nurse = await (await browser.new_context()).new_page()
    companion = await (await browser.new_context()).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await nurse_signs_in(nurse, demo_server)
    await nurse_admits_next(nurse)

    # The nurse invites a companion by link; the companion joins the live call directly.
    await nurse.select_option("#invite-role", "companion")
    await nurse.fill("#invite-name", "Ana López")
    await nurse.click("#invite button[type=submit]")
    link = await poll(nurse, "document.getElementById('invite-link').value", lambda v: "#t=" in v)
    await companion.goto(link)
    await companion.check("#consent")
    await companion.click("#enter")
    await expect(companion.locator("body")).to_have_attribute("data-state", "call")

    # Everyone decodes both others' video.
    for page in (patient, nurse, companion):
        await pictures(page, 2)
        await decoding_grows(page)
    await expect(patient.locator("#tiles figcaption")).to_have_text(["Ana López"])

    # The companion leaves: the others' tiles for her end; she comes back and is seen again.
    await companion.click("#hang-up")
    await expect(companion.locator("body")).to_have_attribute("data-state", "left")
    for page in (patient, nurse):
        await pictures(page, 1)
    started = time.monotonic()
    await companion.click("#rejoin")
    for page in (patient, nurse, companion):
        await pictures(page, 2)
    print(f"late joiner: everyone shows a picture {time.monotonic() - started:.2f} s after rejoining")

    # Audio only for the patient: no video in either direction, then video again.
    await patient.click("#audio-only")
    await expect(patient.locator("body")).to_have_attribute("data-audio-only", "true")
    await pictures(patient, 0)
    await expect(nurse.locator("#remote-media")).to_contain_text("Cámara apagada")
    await patient.click("#audio-only")
    await pictures(patient, 2)
    await decoding_grows(patient)

    # Data saver for the patient: video stays, but what she sends is smaller and what the others
    # send her is capped at their encoders (the server forwards, it cannot shrink video itself).
    await patient.click("#data-saver")
    await expect(patient.locator("body")).to_have_attribute("data-data-saver", "true")
    await poll(patient, CAMERA_ENCODING, lambda e: e["scale"] == 2 and e["maxBitrate"] <= 150_000)
    for page in (nurse, companion):
        await poll(page, CAMERA_ENCODING, lambda e: (e["maxBitrate"] or 0) <= 150_000 and e["scale"] == 1)
    await decoding_grows(patient)
    await patient.click("#data-saver")
    await poll(patient, CAMERA_ENCODING, lambda e: e["scale"] == 1)
    for page in (nurse, companion):
        await poll(page, CAMERA_ENCODING, lambda e: (e["maxBitrate"] or 0) > 150_000)

    # The nurse shares her screen: it arrives as a separate tile on the others' pages.
    await nurse.click("#screen")
    await expect(nurse.locator("#screen")).to_have_attribute("aria-pressed", "true")
    for page in (patient, companion):
        shown = await pictures(page, 3)
        assert any(key.endswith(":screen") for key in shown), shown
    await expect(patient.locator("#tiles figure.screen figcaption")).to_contain_text("Pantalla de")
    await nurse.click("#screen")
    for page in (patient, companion):
        await pictures(page, 2)
