"""The patient's Chromium in its own network namespace: the consult survives an outage and a
switch to another network, without a new admission."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bench.support import CHROMIUM_FLAGS
from tests.e2e.netns import PatientHost, patient_host
from tests.e2e.pages import INBOUND, nurse_admits_next, nurse_signs_in, patient_enters_waiting_room, poll
from tests.support.services import DemoServer, start_demo_server

# Judged over tens of seconds of media: scripts/test.sh runs these with nothing beside them.
pytestmark = pytest.mark.link_timing


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))  # the test server answers on the namespace's link too
        return int(probe.getsockname()[1])


@dataclass
class Setup:
    host: PatientHost
    server: DemoServer
    patient: Page
    nurse: Page
    consult_id: str


@pytest.fixture
def host() -> Iterator[PatientHost]:
    with patient_host("tcpat") as made:
        made.add_link(0)
        yield made


@pytest.fixture
async def setup(tmp_path: Path, host: PatientHost, browser: Browser) -> AsyncIterator[Setup]:
    port = _free_port()
    public = f"http://{host.links[0].host_address}:{port}"
    server = start_demo_server(
        tmp_path,
        {
            "TC_HOST": "0.0.0.0",
            "TC_PUBLIC_URL": public,
            "TC_MEDIA_HOST_ADDRESSES": f"127.0.0.1,{host.host_address(0)},{host.host_address(1)}",
        },
        port=port,
    )
    async with async_playwright() as playwright:
        patient_browser = await playwright.chromium.launch(
            executable_path=str(host.chromium_wrapper(tmp_path)),
            args=[*CHROMIUM_FLAGS, f"--unsafely-treat-insecure-origin-as-secure={public}"],
        )
        try:
            patient = await (await patient_browser.new_context()).new_page()
            nurse = await (await browser.new_context()).new_page()
            await patient_enters_waiting_room(patient, server.patient_link)
            server.console_url = f"http://127.0.0.1:{port}/consola"
            await nurse_signs_in(nurse, server)
            consult_id = await nurse_admits_next(nurse)
            yield Setup(host, server, patient, nurse, consult_id)
        finally:
            await patient_browser.close()
            server.stop()


SENT_VIDEO_KBPS = """
async () => {
  const pc = window.teleconsultaDebug.publisher();
  const bytes = async () => {
    let total = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "outbound-rtp" && r.kind === "video") total += r.bytesSent;
    });
    return total;
  };
  const first = await bytes();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return Math.round(((await bytes()) - first) * 8 / 3000);
}
"""


async def _flowing(page: Page) -> None:
    try:
        first = await poll(page, INBOUND, lambda s: s is not None and s["framesDecoded"] > 5, timeout=45)
        grown = first["framesDecoded"] + 10
        await poll(page, INBOUND, lambda s: s is not None and s["framesDecoded"] > grown, timeout=45)
    except AssertionError as failure:
        # Say what the page showed: a state and its message tell a stuck rejoin from slow media.
        body = page.locator("body")
        shown = {
            "state": await body.get_attribute("data-state"),
            "connection": await body.get_attribute("data-connection"),
            "error": await body.get_attribute("data-error"),
            "status": await page.locator("#status").text_content(),
        }
        raise AssertionError(f"{failure}; the page showed {shown}") from None


async def _never_ended(nurse: Page, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert await nurse.get_attribute("body", "data-state") == "call", "the nurse's call closed"
        await asyncio.sleep(0.5)


async def _log_kinds(setup: Setup) -> list[str]:
    response = await setup.nurse.context.request.get(
        f"http://127.0.0.1:{setup.server.base_url.rsplit(':', 1)[1]}/api/consults/{setup.consult_id}/log"
    )
    return [event["kind"] for event in (await response.json())["events"]]


AUDIO = """
async () => {
  const pc = window.teleconsultaDebug.peerConnection();
  const out = { packets: 0, concealed: 0, samples: 0 };
  if (!pc) return out;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") {
      out.packets += r.packetsReceived;
      out.concealed += r.concealedSamples ?? 0;
      out.samples += r.totalSamplesReceived ?? 0;
    }
  });
  return out;
}
"""


# What a scenario cost the patient: audio packets lost (after NACK/FEC) and seconds of frozen
# video (Chromium counts a freeze when a frame comes much later than the recent average; video the
# server paused on purpose is a pause, not a freeze).
DAMAGE = """
async () => {
  const pc = window.teleconsultaDebug.peerConnection();
  const out = { audioLost: 0, frozenSeconds: 0, pausedSeconds: 0 };
  if (!pc) return out;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") out.audioLost += r.packetsLost ?? 0;
    if (r.type === "inbound-rtp" && r.kind === "video") {
      out.frozenSeconds += r.totalFreezesDuration ?? 0;
      out.pausedSeconds += r.totalPausesDuration ?? 0;
    }
  });
  return out;
}
"""


def _damage_since(before: dict[str, float], after: dict[str, float]) -> str:
    lost = after["audioLost"] - before["audioLost"]
    frozen = after["frozenSeconds"] - before["frozenSeconds"]
    paused = after["pausedSeconds"] - before["pausedSeconds"]
    return f"audio packets lost {lost:.0f}, video frozen {frozen:.1f} s, paused {paused:.1f} s"


async def _audio_over(page: Page, seconds: float) -> tuple[int, float]:
    """Audio packets received and the share of concealed samples over a window."""
    before = await page.evaluate(AUDIO)
    await asyncio.sleep(seconds)  # the measurement window itself
    after = await page.evaluate(AUDIO)
    samples = max(1, after["samples"] - before["samples"])
    return after["packets"] - before["packets"], (after["concealed"] - before["concealed"]) / samples


async def test_at_300_kbits_with_5_percent_loss_audio_keeps_flowing(setup: Setup) -> None:
    await _flowing(setup.nurse)
    link = setup.host.links[0]
    damage = await setup.patient.evaluate(DAMAGE)
    setup.host.shape(link, 300)
    setup.host.lose(5)
    await asyncio.sleep(8)  # let both ends adapt to the new link
    # Both pages over the same 10 s.
    patient, nurse = await asyncio.gather(_audio_over(setup.patient, 10), _audio_over(setup.nurse, 10))
    for (packets, concealed), who in ((patient, "patient"), (nurse, "nurse")):
        print(
            f"300 kbit/s, 5 % loss: {who} received {packets} audio packets in 10 s, {concealed:.1%} concealed"
        )
        assert packets > 300, f"{who}: audio stalled ({packets} packets in 10 s)"  # 50 packets/s sent
        assert concealed < 0.25, f"{who}: {concealed:.0%} of audio concealed"
    sent = await setup.patient.evaluate(SENT_VIDEO_KBPS)
    paused = await setup.patient.get_attribute("body", "data-video-paused")
    print(f"300 kbit/s, 5 % loss: patient sends video at {sent} kbit/s, video paused: {paused}")
    assert paused == "true" or sent < 300, "video is neither reduced nor paused"
    print(f"300 kbit/s, 5 % loss, patient: {_damage_since(damage, await setup.patient.evaluate(DAMAGE))}")
    setup.host.lose(0)
    setup.host.unshape(link)


async def test_after_30_seconds_at_15_percent_loss_video_comes_back(setup: Setup) -> None:
    await _flowing(setup.patient)
    damage = await setup.patient.evaluate(DAMAGE)
    setup.host.lose(15)
    await asyncio.sleep(30)  # the bad period the scenario prescribes
    setup.host.lose(0)
    cleared = time.monotonic()
    await _flowing(setup.patient)
    await expect(setup.patient.locator("body")).not_to_have_attribute(
        "data-video-paused", "true", timeout=20_000
    )
    print(f"15 % loss for 30 s: video back {time.monotonic() - cleared:.1f} s after the link cleared")
    print(f"15 % loss for 30 s, patient: {_damage_since(damage, await setup.patient.evaluate(DAMAGE))}")


async def test_a_ten_second_outage_does_not_end_the_consult(setup: Setup) -> None:
    await _flowing(setup.nurse)
    link = setup.host.links[0]
    setup.host.set_up(link, False)
    started = time.monotonic()
    await _never_ended(setup.nurse, 10)  # the outage lasts 10 s; the nurse's page stays in the call
    setup.host.set_up(link, True)
    await _flowing(setup.patient)
    await _flowing(setup.nurse)
    back = time.monotonic() - started - 10
    # A new media connection replaces the dead one, so the outage is measured on the clock: the
    # picture is frozen and audio lost (50 packets/s) for the outage plus the recovery.
    print(
        f"outage: media back {back:.1f} s after the link returned; video frozen {10 + back:.1f} s, "
        f"about {round((10 + back) * 50)} audio packets lost"
    )
    await expect(setup.nurse.locator("body")).to_have_attribute("data-state", "call")
    assert (await _log_kinds(setup)).count("admitted") == 1


async def test_a_switch_to_another_network_resumes_the_call(setup: Setup) -> None:
    await _flowing(setup.nurse)
    old, new = setup.host.links[0], setup.host.add_link(1)
    started = time.monotonic()
    # The phone moves from one network to another: the first link goes away, the server is
    # reached over the second one, from another address.
    setup.host.set_up(old, False)
    setup.host.route_to(new, old.host_address)
    await _flowing(setup.patient)
    await _flowing(setup.nurse)
    back = time.monotonic() - started
    print(
        f"network switch: media back {back:.1f} s after the switch; video frozen {back:.1f} s, "
        f"about {round(back * 50)} audio packets lost"
    )
    await expect(setup.nurse.locator("body")).to_have_attribute("data-state", "call")
    assert (await _log_kinds(setup)).count("admitted") == 1
