"""The nurse console's layout in real Chromium: loading it logs no error; each patient is listed
once; "Admitir" and "Denegar…" are apart and denying asks first; in a call at 1280x800 the queue
folds to one line, the picture starts high and "Terminar consulta" is on screen; at 360 px nothing
scrolls sideways, the list becomes cards and the open note folds its sections (axe-core: no serious
or critical violation). Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.e2e.pages import ARTIFACTS, nurse_admits_next, nurse_signs_in, patient_enters_waiting_room
from tests.e2e.test_accessibility import AXE, PHONE, check
from tests.support.services import DemoServer, require_or_skip

DESKTOP = {"width": 1280, "height": 800}

BOXES = """
(selectors) => Object.fromEntries(selectors.map((s) => {
  const e = document.querySelector(s);
  return [s, e ? e.getBoundingClientRect().toJSON() : null];
}))
"""
PAGE_SIZE = """
() => ({ width: document.scrollingElement.scrollWidth, height: document.scrollingElement.scrollHeight,
         innerWidth: innerWidth, innerHeight: innerHeight })
"""


def record_errors(page: Page) -> list[str]:
    """Everything the page logs as an error (failed requests such as a 401 included) or throws."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_loading_the_console_logs_no_error(demo_server: DemoServer, browser: Browser) -> None:
    nurse = await (await browser.new_context(viewport=DESKTOP)).new_page()
    errors = record_errors(nurse)
    await nurse.goto(demo_server.console_url)  # not signed in: the session check is no error
    await expect(nurse.locator("#login")).to_be_visible()
    await expect(nurse.locator("body")).to_have_attribute("data-state", "login")
    await nurse_signs_in(nurse, demo_server)
    await nurse.reload()  # signed in
    await expect(nurse.locator("body")).to_have_attribute("data-state", "queue")
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "away")
    assert errors == []


async def test_each_patient_once_and_denying_asks_first(demo_server: DemoServer, browser: Browser) -> None:
    patient = await (await browser.new_context()).new_page()
    nurse = await (await browser.new_context(viewport=DESKTOP)).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await nurse_signs_in(nurse, demo_server)
    row = nurse.locator("#queue-rows tr[data-state=waiting]")
    await expect(row).to_have_count(1)
    name = await row.locator("td").nth(1).text_content() or ""
    assert name
    # One list: the queue's place and arrival are in the patient's one row, nowhere else.
    await expect(row.locator("td").first).to_have_text("1")
    await expect(nurse.locator("#queues").get_by_text(name, exact=True)).to_have_count(1)
    await expect(nurse.locator("#queues-count")).to_have_text("1 en espera")

    admit = row.get_by_role("button", name="Admitir")
    ask = row.get_by_role("button", name="Denegar…")
    boxes = await nurse.evaluate(
        "([a, b]) => [a, b].map((e) => e.getBoundingClientRect().toJSON())",
        [await admit.element_handle(), await ask.element_handle()],
    )
    left, right = sorted(boxes, key=lambda box: box["x"])
    gap = max(right["x"] - (left["x"] + left["width"]), right["y"] - (left["y"] + left["height"]))
    assert gap >= 24, f"Admitir and Denegar are {gap} px apart"

    # The first click only asks; cancelling leaves the patient waiting.
    await ask.click()
    await expect(row).to_contain_text("¿Denegar la entrada a")
    await expect(row.get_by_role("button", name="Cancelar")).to_be_focused()
    await row.get_by_role("button", name="Cancelar").click()
    await expect(row.get_by_role("button", name="Admitir")).to_be_visible()
    await expect(patient.locator("body")).to_have_attribute("data-state", "waiting")
    # Asking, then confirming, denies.
    await row.get_by_role("button", name="Denegar…").click()
    await row.get_by_role("button", name="Sí, denegar").click()
    await expect(patient.locator("body")).to_have_attribute("data-state", "denied")
    await expect(nurse.locator("#queue-rows tr[data-state=waiting]")).to_have_count(0)


async def test_in_a_call_the_call_owns_a_1280x800_screen(demo_server: DemoServer, browser: Browser) -> None:
    patient = await (await browser.new_context()).new_page()
    nurse = await (await browser.new_context(viewport=DESKTOP)).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await nurse_signs_in(nurse, demo_server)
    await expect(nurse.locator("#queues")).to_have_attribute("open", "")
    await screenshot(nurse, "console-queue-1280")
    await nurse_admits_next(nurse)
    await nurse.select_option("#notes-template", "first-consult")
    await nurse.click("#notes-open")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v1")

    # The list folds to one line that still says how many wait and the nurse's state.
    assert await nurse.locator("#queues").get_attribute("open") is None
    await expect(nurse.locator("#queues summary")).to_contain_text("en espera")
    await expect(nurse.locator("#queues summary")).to_contain_text("En consulta")
    await expect(nurse.locator("#end")).to_be_in_viewport()
    boxes: dict[str, Any] = await nurse.evaluate(BOXES, ["#remote", "#end", "#mute", "#notes"])
    assert boxes["#remote"]["top"] < 300, boxes
    for control in ("#end", "#mute"):
        assert 0 <= boxes[control]["top"] and boxes[control]["bottom"] <= DESKTOP["height"], boxes
    assert boxes["#notes"]["top"] < 300, boxes  # the note beside the call, not under it
    await nurse.screenshot(path=str(ARTIFACTS / "console-call-1280.png"))

    # The nurse may still open the list during the call.
    await nurse.locator("#queues summary").click()
    await expect(nurse.locator("#next-patient")).to_be_visible()
    await expect(nurse.locator("#next-patient")).to_be_disabled()


async def test_on_a_360px_phone_nothing_scrolls_sideways_and_the_note_folds(
    demo_server: DemoServer, browser: Browser
) -> None:
    require_or_skip(AXE.exists(), "axe-core (npm ci)")
    phone = {"viewport": PHONE, "is_mobile": True, "has_touch": True, "bypass_csp": True}
    patient = await (await browser.new_context()).new_page()
    nurse = await (await browser.new_context(**phone)).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await nurse_signs_in(nurse, demo_server)
    await expect(nurse.locator("#queue-rows tr")).to_have_count(1)

    size = await nurse.evaluate(PAGE_SIZE)
    assert size["width"] <= size["innerWidth"], size
    # The list is cards: each cell on its own line, labelled, inside the screen.
    cells = await nurse.evaluate(BOXES, ["#queue-rows td:nth-child(2)", "#queue-rows td:nth-child(3)"])
    name_cell, time_cell = cells.values()
    assert time_cell["top"] >= name_cell["bottom"] - 1 and name_cell["right"] <= PHONE["width"], cells
    await check(nurse, "console-queue")

    await nurse_admits_next(nurse)
    await nurse.select_option("#notes-template", "first-consult")
    await nurse.click("#notes-open")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v1")
    toggles = nurse.locator("#notes-form .section-toggle")
    assert await toggles.count() > 5
    await expect(toggles.first).to_have_attribute("aria-expanded", "true")
    await expect(toggles.nth(1)).to_have_attribute("aria-expanded", "false")
    size = await nurse.evaluate(PAGE_SIZE)
    assert size["width"] <= size["innerWidth"], size
    assert size["height"] < 4500, f"the open note makes the page {size['height']} px long"
    await check(nurse, "console-call-note")

    # A folded section opens at a tap and its fields can be filled.
    plan = nurse.locator("#notes-form fieldset[data-section='follow-up-plan'] .section-toggle")
    await plan.click()
    await expect(plan).to_have_attribute("aria-expanded", "true")
    await nurse.fill("#note-follow-up-plan-plan", "Revisar en una semana")
    await expect(nurse.locator("#notes-status")).to_have_text(re.compile(r"^Guardado v[2-9]$"), timeout=5000)
    size = await nurse.evaluate(PAGE_SIZE)
    assert size["width"] <= size["innerWidth"], size
