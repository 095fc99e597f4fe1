"""Who is on duty, in real Chromium: a nurse who signs in is asked whether her shift starts, and the
waiting patient reads the truth (nobody on duty, a nurse free, nurses all with someone); a nurse who
admits a patient while away is in that consult during the call and available again after ending it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.pages import nurse_admits_next, nurse_signs_in, patient_enters_waiting_room, shot
from tests.e2e.test_queue_browser import book_next_slot, token_of
from tests.support.services import DemoServer, start_demo_server

POLL = 12_000  # the patient's page asks for its place every 5 s


@pytest.fixture
def two_patient_server(tmp_path: Path) -> Iterator[DemoServer]:
    """Short slots and an early waiting room, so a second patient books the next slot and waits now."""
    server = start_demo_server(
        tmp_path, {"TC_SLOT_MINUTES": "5", "TC_CHECK_IN_OPENS_MINUTES": "30", "TC_SLOT_CAPACITY": "1"}
    )
    try:
        yield server
    finally:
        server.stop()


async def my_state(nurse: Page, server: DemoServer) -> str:
    response = await nurse.request.get(f"{server.base_url}/api/nurses/me/state")
    assert response.status == 200
    state: str = (await response.json())["state"]
    return state


async def position(page: Page, server: DemoServer, link: str) -> dict[str, Any]:
    response = await page.request.get(
        f"{server.base_url}/api/queue/position", headers={"Authorization": f"Bearer {token_of(link)}"}
    )
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_sign_in_asks_to_start_the_shift_and_waiting_patients_see_who_is_on_duty(
    two_patient_server: DemoServer, browser: Browser
) -> None:
    server = two_patient_server
    nurse = await (await browser.new_context()).new_page()
    first = await (await browser.new_context()).new_page()
    second = await (await browser.new_context()).new_page()
    await nurse_signs_in(nurse, server)
    booked = await book_next_slot(nurse, server)
    await patient_enters_waiting_room(first, server.patient_link)
    await patient_enters_waiting_room(second, str(booked["patient_link"]))

    # Signed in but not yet on duty: the console asks, and the patients are told nobody is on duty.
    prompt = nurse.locator("#duty-prompt")
    await expect(prompt).to_be_visible()
    await expect(prompt).to_contain_text("¿Empezar turno?")
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "away")
    for patient in (first, second):
        await expect(patient.locator("#queue-wait")).to_have_attribute("data-duty", "none")
        await expect(patient.locator("#queue-wait")).to_contain_text("no hay enfermeras en turno")
    await shot(nurse, "console-start-shift-prompt")

    # One click: she is available, and the patient at the head hears a nurse is free.
    await nurse.get_by_role("button", name="Empezar turno").click()
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "available")
    await expect(prompt).to_be_hidden()
    assert await my_state(nurse, server) == "available"
    await expect(first.locator("#queue-wait")).to_have_attribute("data-duty", "available", timeout=POLL)
    await expect(first.locator("#queue-wait")).to_contain_text("Hay una enfermera disponible")
    await expect(second.locator("#queue-wait")).to_have_attribute("data-duty", "available", timeout=POLL)
    head = await position(first, server, server.patient_link)
    assert (head["nurses_on_duty"], head["nurses_available"]) == (1, 1)

    # She takes the first patient: the one still waiting reads that the nurses on duty are busy.
    await nurse_admits_next(nurse)
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "in_consult")
    await expect(second.locator("#queue-wait")).to_have_attribute("data-duty", "busy", timeout=POLL)
    await expect(second.locator("#queue-wait")).to_contain_text("atendiendo a otros pacientes")
    await expect(second.locator("#queue-wait")).to_contain_text("minutos")
    waiting = await position(second, server, str(booked["patient_link"]))
    assert (waiting["nurses_on_duty"], waiting["nurses_available"]) == (1, 0)
    await shot(second, "patient-waiting-nurses-busy")


async def test_admitting_while_away_puts_her_in_the_consult_and_ending_makes_her_available(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient = await (await browser.new_context()).new_page()
    nurse = await (await browser.new_context()).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await nurse_signs_in(nurse, demo_server)
    await nurse.get_by_role("button", name="Ahora no").click()
    await expect(nurse.locator("#duty-prompt")).to_be_hidden()
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "away")
    assert await my_state(nurse, demo_server) == "away"

    # Admitting from the list while away: she is in that consult, not "away", for the whole call.
    await nurse_admits_next(nurse)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "in_consult")
    assert await my_state(nurse, demo_server) == "in_consult"
    await expect(nurse.locator("#nurse-toggle")).to_be_disabled()

    # Ending the call: she is available for the next patient.
    await nurse.get_by_role("button", name="Terminar consulta").click()
    await expect(nurse.locator("body")).to_have_attribute("data-state", "queue")
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "available")
    assert await my_state(nurse, demo_server) == "available"
    await expect(patient.locator("body")).to_have_attribute("data-state", "ended")
