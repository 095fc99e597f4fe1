"""A patient's connection drops mid-call in real Chromium: both pages recover, no new admission."""

from __future__ import annotations

from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.e2e.consults import PHONE, WIDE
from tests.e2e.pages import INBOUND, admitted_call, poll, shot, wait_for_media_growth
from tests.support.services import DemoServer


async def test_the_call_resumes_after_the_patients_connection_drops(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient, nurse, consult_id = await admitted_call(browser, demo_server)
    await wait_for_media_growth(nurse)

    # Cut the patient's signaling and media at once, as a network change would.
    await patient.evaluate(
        "() => { window.teleconsultaDebug.socket().io.engine.close();"
        " window.teleconsultaDebug.publisher().close(); }"
    )
    await expect(nurse.locator("#remote-media")).to_have_text("Reconectando…")
    await expect(patient.locator("body")).to_have_attribute("data-connection", "ok", timeout=30_000)
    await expect(nurse.locator("#remote-media")).to_be_hidden(timeout=30_000)
    await wait_for_media_growth(nurse)
    await wait_for_media_growth(patient)
    assert await poll(patient, INBOUND, lambda s: s is not None)
    await expect(nurse.locator("body")).to_have_attribute("data-state", "call")
    await expect(nurse.locator("#status")).not_to_have_text("Consulta terminada.")

    response = await nurse.context.request.get(f"{demo_server.base_url}/api/consults/{consult_id}/log")
    kinds = [event["kind"] for event in (await response.json())["events"]]
    assert kinds.count("admitted") == 1 and "dropped" in kinds and "returned" in kinds


WATCH_CONTROLS = """(selectors) => {
  // Every change of the status line: whether it shows, where the call's controls are then, and
  // which of the header's buttons it covers.
  const status = document.getElementById("status");
  const seen = (window.controlsWhileStatus = []);
  const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const record = () => {
    const shown = !status.hidden && status.textContent.includes("Reconectando");
    const box = status.getBoundingClientRect();
    seen.push({
      shown,
      tops: selectors.map((s) => Math.round(document.querySelector(s).getBoundingClientRect().top)),
      covers: [...document.querySelectorAll("header button")]
        .filter((b) => shown && b.offsetParent !== null && overlap(box, b.getBoundingClientRect()))
        .map((b) => b.id),
    });
  };
  record();
  const all = { attributes: true, childList: true, characterData: true, subtree: true };
  new MutationObserver(record).observe(status, all);
}"""
CUT_SIGNALING = "() => window.teleconsultaDebug.socket().io.engine.close()"


async def controls_hold_through_a_reconnect(page: Page, controls: list[str], size: ViewportSize) -> None:
    """Cut the page's signaling and wait until it is back: the reconnecting notice showed, and the
    call's controls never moved under the user's finger meanwhile."""
    await page.set_viewport_size(size)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.evaluate(WATCH_CONTROLS, controls)
    await page.evaluate(CUT_SIGNALING)
    # The notice came and went (it may show for a moment only): the observer saw both.
    await page.wait_for_function(
        "() => { const seen = window.controlsWhileStatus;"
        " return seen.some((e) => e.shown) && !seen[seen.length - 1].shown; }",
        timeout=30_000,
    )
    seen = await page.evaluate("window.controlsWhileStatus")
    assert {tuple(entry["tops"]) for entry in seen} == {tuple(seen[0]["tops"])}, (
        f"controls moved at {size}: {seen}"
    )
    covered = {button for entry in seen for button in entry["covers"]}
    assert not covered, f"the notice covered {covered} at {size}: {seen}"


async def test_the_reconnecting_notice_moves_no_control_of_the_call(
    demo_server: DemoServer, browser: Browser
) -> None:
    """On a phone and a wide screen, for the patient and for the nurse: the notice that their
    connection is coming back shows over the page, not above the call, which it would push down
    under a finger about to press "Colgar"."""
    patient, nurse, _consult_id = await admitted_call(browser, demo_server)
    await wait_for_media_growth(nurse)
    for size in (PHONE, WIDE):
        await controls_hold_through_a_reconnect(patient, ["#mute", "#camera", "#hang-up"], size)
        await controls_hold_through_a_reconnect(nurse, ["#mute", "#camera", "#end"], size)
    await shot(patient, "reconnected-patient")
