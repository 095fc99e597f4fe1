"""A patient's connection drops mid-call in real Chromium: both pages recover, no new admission."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.pages import INBOUND, admitted_call, poll, wait_for_media_growth
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
