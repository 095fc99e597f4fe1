"""The unit queue in real Chromium: two patients wait with their place and expected wait, the nurse
takes the next one ("Siguiente paciente") and the call starts; a patient whose service is closed
is told when it opens, in their own time zone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.pages import nurse_signs_in, patient_enters_waiting_room, poll, shot, wait_for_media_growth
from tests.support.services import DemoServer, start_demo_server

SERVICE_ZONE = ZoneInfo("America/Mexico_City")
VIEWER_ZONE = "America/Tijuana"


@pytest.fixture
def queue_server(tmp_path: Path) -> Iterator[DemoServer]:
    """Short slots and an early waiting room, so a second patient can book the next slot and check in now."""
    server = start_demo_server(
        tmp_path, {"TC_SLOT_MINUTES": "5", "TC_CHECK_IN_OPENS_MINUTES": "30", "TC_SLOT_CAPACITY": "1"}
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def closed_server(tmp_path: Path) -> Iterator[DemoServer]:
    """The program's weekday hours, closed today and tomorrow (Mexico City): closed whenever it runs."""
    today = datetime.now(SERVICE_ZONE).date()
    closed = ",".join((today + timedelta(days=n)).isoformat() for n in (0, 1))
    server = start_demo_server(tmp_path, {"TC_SERVICE_CLOSED": closed})
    try:
        yield server
    finally:
        server.stop()


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).fragment)["t"][0]


async def book_next_slot(nurse: Page, server: DemoServer) -> dict[str, object]:
    """The signed-in nurse books a second patient in the unit's next free slot (REST, her cookie)."""
    today = datetime.now(SERVICE_ZONE).date()
    for day in (today, today + timedelta(days=1)):
        response = await nurse.request.get(f"{server.base_url}/api/slots?unit=UMF-1&date={day.isoformat()}")
        slots = (await response.json())["slots"]
        if slots:
            break
    response = await nurse.request.post(
        f"{server.base_url}/api/appointments",
        data={
            "unit": "UMF-1",
            "start": slots[0]["start"],
            "kind": "first",
            "patient": {
                "nss": "79927398713",
                "name": "Jorge Ruiz (prueba)",
                "birth_date": "1975-09-30",
                "email": "jorge@example.org",
                "time_zone": VIEWER_ZONE,
                "language": "es",
            },
        },
    )
    assert response.status == 201, await response.text()
    body: dict[str, object] = await response.json()
    return body


async def second_patient_booked(nurse: Page, server: DemoServer) -> tuple[dict[str, object], str]:
    """A second patient in the next slot, whose waiting room is open now: (appointment, join link)."""
    booked = await book_next_slot(nurse, server)
    appointment = booked["appointment"]
    assert isinstance(appointment, dict)
    if datetime.fromisoformat(appointment["check_in_opens"]) > datetime.now(UTC):
        pytest.skip("the next slot begins after midnight in Mexico City; its waiting room is not open yet")
    return appointment, str(booked["patient_link"])


async def test_two_patients_wait_in_order_and_next_patient_starts_the_first_call(
    queue_server: DemoServer, browser: Browser
) -> None:
    nurse = await (await browser.new_context()).new_page()
    first = await (await browser.new_context()).new_page()
    second = await (await browser.new_context(timezone_id=VIEWER_ZONE)).new_page()
    await nurse_signs_in(nurse, queue_server)
    _, second_link = await second_patient_booked(nurse, queue_server)

    await patient_enters_waiting_room(first, queue_server.patient_link)
    await patient_enters_waiting_room(second, second_link)
    await expect(first.locator("#queue-position")).to_have_attribute("data-place", "1")
    await expect(second.locator("#queue-position")).to_have_attribute("data-place", "2")
    # Nobody on duty yet: an honest "no nurse yet", not a made-up number.
    await expect(second.locator("#queue-wait")).to_have_attribute("data-minutes", "")
    await expect(second.locator("#queue-wait")).to_contain_text("enfermeras en turno")
    await expect(nurse.locator("#queue-rows tr[data-state=waiting]")).to_have_count(2)

    await nurse.click("#nurse-toggle")
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "available")
    # The pages poll their place: now with an expected wait (the first is next; the second after one consult).
    await expect(first.locator("#queue-wait")).to_have_attribute("data-minutes", "0", timeout=10_000)
    await expect(second.locator("#queue-wait")).to_have_attribute(
        "data-minutes", re.compile(r"^[1-9]\d*$"), timeout=10_000
    )
    await expect(second.locator("#queue-wait")).to_contain_text("minutos")
    await shot(second, "queue-second-patient-waiting")

    await nurse.click("#next-patient")
    await expect(nurse.locator("body")).to_have_attribute("data-state", "call")
    await expect(first.locator("body")).to_have_attribute("data-state", "call")
    await wait_for_media_growth(first)
    await wait_for_media_growth(nurse)
    await expect(second.locator("body")).to_have_attribute("data-state", "waiting")
    await expect(second.locator("#queue-position")).to_have_attribute("data-place", "1", timeout=10_000)
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "in_consult")
    await shot(nurse, "queue-nurse-next-patient")


async def test_a_patient_opening_the_link_while_closed_sees_the_next_opening_in_their_zone(
    closed_server: DemoServer, browser: Browser
) -> None:
    context = await browser.new_context(timezone_id=VIEWER_ZONE, locale="es-MX")
    patient = await context.new_page()
    token = token_of(closed_server.patient_link)
    answer = await patient.request.get(
        f"{closed_server.base_url}/api/queue/position", headers={"Authorization": f"Bearer {token}"}
    )
    refusal = (await answer.json())["check_in"]
    assert refusal["code"] == "outside_service_hours"
    opens = datetime.fromisoformat(refusal["opens_at"])
    assert opens > datetime.now(UTC) and opens.astimezone(SERVICE_ZONE).hour == 8

    await patient.goto(closed_server.patient_link)
    body, status = patient.locator("body"), patient.locator("#status")
    # Shown as soon as the page opens, before consent: closed, and when it opens, in Tijuana's time.
    await expect(body).to_have_attribute("data-error", "outside_service_hours")
    await expect(body).to_have_attribute("data-state", "check")
    await expect(status).to_be_visible()
    await expect(status).to_contain_text("El servicio está cerrado")
    await expect(status).to_contain_text("hora del noroeste de México")  # Tijuana's zone, in words
    local = opens.astimezone(ZoneInfo(VIEWER_ZONE))
    text = await status.text_content() or ""
    assert any(f"{hour}:{local.minute:02d}" in text for hour in (local.hour, local.hour % 12 or 12)), text
    assert "{time}" not in text and "outside_service_hours" not in text and "error." not in text

    # Trying anyway is refused the same way, without a raw error.
    await patient.check("#consent")
    await patient.click("#enter")
    await expect(body).to_have_attribute("data-state", "check")
    await expect(status).to_contain_text("El servicio está cerrado")
    await expect(patient.locator("#enter")).to_be_enabled()
    await shot(patient, "patient-service-closed")


async def test_a_row_that_moves_under_the_nurses_pointer_does_not_admit_at_once(
    queue_server: DemoServer, browser: Browser
) -> None:
    """The list redraws as patients arrive: one booked earlier goes above the patient the nurse is
    reaching for. Her click lands on a row that just moved, so its buttons wait a moment instead of
    admitting the wrong patient; then they work as before."""
    nurse = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    first = await (await browser.new_context()).new_page()
    second = await (await browser.new_context()).new_page()
    await nurse_signs_in(nurse, queue_server)
    appointment, second_link = await second_patient_booked(nurse, queue_server)
    later = nurse.locator(f"#queue-rows tr[data-consult-id='{appointment['consult_id']}']")
    earlier = nurse.locator("#queue-rows tr:not([data-consult-id='{}'])".format(appointment["consult_id"]))

    await patient_enters_waiting_room(second, second_link)
    await expect(later).to_have_attribute("data-state", "waiting")
    await expect(later.get_by_role("button", name="Admitir")).to_be_enabled()
    top = "(element) => element.getBoundingClientRect().top"
    before = await later.evaluate(top)

    # The earlier patient arrives: the list puts them first, and the later row moves down. The page
    # notes the moved row's buttons as the redraw leaves them, before any timer can run.
    await nurse.evaluate(
        """([id, before]) => new MutationObserver((_, observer) => {
             const row = document.querySelector(`tr[data-consult-id="${id}"]`);
             if (!row || Math.abs(row.getBoundingClientRect().top - before) < 1) return;
             observer.disconnect();
             window.movedButtons = [...row.querySelectorAll("button")].map((button) => button.disabled);
           }).observe(document.getElementById("queue-rows"), { childList: true })""",
        [appointment["consult_id"], before],
    )
    await patient_enters_waiting_room(first, queue_server.patient_link)
    moved = await poll(nurse, "window.movedButtons ?? null", lambda buttons: buttons is not None)
    assert moved == [True, True, True], "the moved row's buttons must not act at once"
    await expect(earlier.first).to_have_attribute("data-state", "waiting")
    assert await later.evaluate(top) > before
    await expect(later.get_by_role("button", name="Admitir")).to_be_enabled()
    await expect(earlier.first.get_by_role("button", name="Admitir")).to_be_enabled()
