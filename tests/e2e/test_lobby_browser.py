"""Lobby control in real Chromium: the nurse sends the patient back to the waiting room and
admits her again; the patient's page shows the waiting state, then the call."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from tests.e2e.pages import admitted_call, shot, wait_for_media_growth
from tests.support.services import DemoServer


async def test_nurse_sends_the_patient_back_and_admits_her_again(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient, nurse, _ = await admitted_call(browser, demo_server)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")

    row = nurse.locator("#participants li", has_text="María Pérez")
    await expect(row).to_have_attribute("data-state", "in_call", timeout=30_000)
    await wait_for_media_growth(nurse)
    # The patient's link, scored by the server every 2 s, graded in words beside her name.
    await expect(row.locator(".call-quality")).to_have_text(
        re.compile(r"^Calidad: (buena|regular|mala) \(MOS [1-4]\.\d\)"), timeout=20_000
    )

    await row.locator("button[data-action='lobby.send_back']").click()
    await expect(patient.locator("body")).to_have_attribute("data-state", "waiting")
    await expect(patient.locator("body")).to_have_attribute("data-lobby", "sent_back")
    await expect(patient.locator("#status")).to_contain_text("sala de espera")
    await expect(row).to_have_attribute("data-state", "lobby")
    await shot(patient, "patient-sent-back")

    await row.locator("button[data-action='lobby.admit']").click()
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await expect(row).to_have_attribute("data-state", "in_call", timeout=30_000)
    await wait_for_media_growth(patient)

    # Locking the room shows on the console; unlocking again.
    await nurse.click("#lock")
    await expect(nurse.locator("#lock")).to_have_attribute("aria-pressed", "true")
    await expect(nurse.locator("#locked-badge")).to_be_visible()
    await shot(nurse, "nurse-lobby-controls")
    await nurse.click("#lock")
    await expect(nurse.locator("#lock")).to_have_attribute("aria-pressed", "false")
