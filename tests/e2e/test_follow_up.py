"""Booking the follow-up from the note, in real Chromium: right after the follow-up plan the nurse
picks a free slot shown in her time zone and in the patient's, books it, and a normal follow-up
appointment is stored for the consult's own patient; the patient's new link never reaches her page."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, expect

from tests.e2e.pages import nurse_admits_next, nurse_signs_in, patient_enters_waiting_room, shot
from tests.support.services import DemoServer

NURSE_ZONE = "America/Cancun"  # UTC-5 all year
PATIENT_ZONE = "America/Mexico_City"  # the demo patient's; UTC-6 all year: one hour apart


def clock(instant: datetime, zone: str) -> str:
    """The hour and minute as es-MX writes them (``3:05``), in ``zone``."""
    local = instant.astimezone(ZoneInfo(zone))
    return f"{local.hour % 12 or 12}:{local.minute:02d}"


async def test_the_nurse_books_the_follow_up_from_the_note_in_both_time_zones(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient = await (await browser.new_context(timezone_id=PATIENT_ZONE)).new_page()
    nurse_context = await browser.new_context(
        locale="es-MX", timezone_id=NURSE_ZONE, viewport={"width": 1280, "height": 800}
    )
    nurse = await nurse_context.new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await nurse_signs_in(nurse, demo_server)
    consult_id = await nurse_admits_next(nurse)
    await nurse.select_option("#notes-template", "first-consult")
    await nurse.click("#notes-open")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v1")
    await nurse.fill("#note-follow-up-plan-plan", "Control de glucosa en una semana")

    # The booking part comes right after the follow-up plan, and says which zones it shows.
    booking = nurse.locator("#follow-up")
    await expect(booking).to_be_visible()
    follows_plan = await nurse.evaluate(
        "document.getElementById('follow-up').previousElementSibling.dataset.section"
    )
    assert follows_plan == "follow-up-plan"
    # Both zones by their names in the nurse's language, not by their IANA ids.
    await expect(nurse.locator("#follow-up-zones")).to_have_text(
        "Horarios: los suyos en hora del sureste de México (Quintana Roo);"
        " los del paciente en hora del centro de México."
    )

    await nurse.get_by_role("button", name="Ver horarios libres").click()
    first_option = nurse.locator("#follow-up-slot option").first
    await expect(first_option).to_be_attached()
    start_text = await first_option.get_attribute("value")
    assert start_text
    start = datetime.fromisoformat(start_text)
    label = await first_option.text_content() or ""
    assert f"{clock(start, NURSE_ZONE)}" in label and "usted" in label, label
    assert f"{clock(start, PATIENT_ZONE)}" in label and "paciente" in label, label
    await expect(nurse.locator("#notes-status")).to_have_text(re.compile(r"^Guardado v[2-9]$"), timeout=5000)
    versions_before = await nurse.locator("#notes").get_attribute("data-version")

    await nurse.get_by_role("button", name="Agendar cita").click()
    await expect(nurse.locator("#follow-up-status")).to_have_text("Cita de seguimiento agendada.")
    booked = nurse.locator("#follow-up-upcoming li")
    await expect(booked).to_have_count(1)
    await expect(booked).to_have_attribute("data-start", start_text)
    shown = await booked.text_content() or ""
    for zone in (NURSE_ZONE, PATIENT_ZONE):
        assert zone in shown and clock(start, zone) in shown, shown
    # Booking is not an edit of the note, and nothing on the page is the patient's new link.
    assert await nurse.locator("#notes").get_attribute("data-version") == versions_before
    assert "#t=" not in (await booking.text_content() or "")
    await shot(nurse, "console-follow-up-booked-1280")

    # Stored: a normal follow-up appointment for this consult's patient, in the slot she picked.
    response = await nurse_context.request.get(f"{demo_server.base_url}/api/consults/{consult_id}/follow-up")
    assert response.status == 200
    upcoming = (await response.json())["upcoming"]
    assert [(a["kind"], a["status"], a["start"], a["patient_zone"]) for a in upcoming] == [
        ("follow_up", "booked", start_text, PATIENT_ZONE)
    ]
    stored = await nurse_context.request.get(
        f"{demo_server.base_url}/api/appointments/{upcoming[0]['appointment_id']}"
    )
    assert stored.status == 200 and (await stored.json())["appointment"]["unit"] == "UMF-1"

    # In English the same appointment reads in both zones too.
    await nurse.click("#lang")
    await expect(nurse.locator("#follow-up-zones")).to_have_text(
        "Times: yours in Southeast Mexico time (Quintana Roo); the patient's in Central Mexico time."
    )
    await expect(booked).to_contain_text("for the patient")
