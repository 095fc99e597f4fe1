"""A patient and a nurse hold a consult in two real headless Chromium pages."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from tests.e2e.consults import archived_log
from tests.e2e.pages import media_path, poll, shot, wait_for_media_growth
from tests.support.services import DemoServer

NO_MEDIA = "!window.teleconsultaDebug.peerConnection() && !window.teleconsultaDebug.publisher()"


async def test_patient_and_nurse_consult_end_to_end(demo_server: DemoServer, browser: Browser) -> None:
    patient_context = await browser.new_context(locale="es-ES", timezone_id="Europe/Madrid")
    nurse_context = await browser.new_context(locale="es-MX", timezone_id="America/Mexico_City")
    patient = await patient_context.new_page()
    nurse = await nurse_context.new_page()

    # The patient opens the printed link: device check, consent, waiting room.
    await patient.goto(demo_server.patient_link)
    await expect(patient.locator("body")).to_have_attribute("data-state", "check")
    # The patient's own zone by its name in their language, never the bare IANA id.
    zone = patient.locator("#appointment-zone")
    await expect(zone).to_have_text(re.compile(r"^\(hora .*Europa central\)$", re.IGNORECASE))
    await poll(patient, "document.getElementById('preview').videoWidth", lambda width: width > 0)
    await expect(patient.locator("#enter")).to_be_disabled()
    # The pre-join check measures the link to our server and, on loopback, recommends video.
    await expect(patient.locator("body")).to_have_attribute("data-recommendation", "video")
    await expect(patient.locator("#network")).to_contain_text("Recomendado: videollamada")
    await expect(patient.locator("#start-audio-only")).not_to_be_checked()
    await patient.click("#speaker-test")
    await patient.check("#consent")
    await patient.click("#enter")
    await expect(patient.locator("body")).to_have_attribute("data-state", "waiting")
    await expect(patient.locator("#waiting")).to_contain_text("La enfermera le admitirá")
    waiting_zone = patient.locator("#waiting .appointment-zone")
    await expect(waiting_zone).to_have_text(re.compile(r"^\(hora .*Europa central\)$", re.IGNORECASE))
    await shot(patient, "patient-waiting")
    assert await patient.evaluate(NO_MEDIA), "media before admission"

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
    # The queue's times are in the nurse's zone, named in her language, not by its IANA id.
    await expect(nurse.locator("#zone")).to_have_text("hora del centro de México")
    await nurse.click("#lang")
    await expect(nurse.locator("#zone")).to_have_text("Central Mexico time")
    await nurse.click("#lang")
    await expect(nurse.locator("#zone")).to_have_text("hora del centro de México")
    await expect(waiting_row).to_contain_text("María Pérez")
    consult_id = await waiting_row.get_attribute("data-consult-id")
    assert await patient.evaluate(NO_MEDIA), "media before admission"
    await waiting_row.get_by_role("button", name="Admitir").click()

    # Both are in the call and receive each other's video and audio through the server.
    await expect(nurse.locator("body")).to_have_attribute("data-state", "call")
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await wait_for_media_growth(patient)
    await wait_for_media_growth(nurse)
    await shot(nurse, "nurse-call")
    await expect(patient.locator("#data-used")).to_contain_text("Datos usados", timeout=15_000)
    # Each browser's media goes to its own peer on our server: there is no direct path between them.
    assert await media_path(patient) != await media_path(nurse)

    # The server forwards without re-encoding, so each camera follows the other side's REMB estimate.
    camera_cap = (
        "window.teleconsultaDebug.publisher().getSenders()"
        ".find((s) => s.track?.kind === 'video').getParameters().encodings[0]?.maxBitrate ?? 0"
    )
    for page in (patient, nurse):
        assert await poll(page, camera_cap, lambda bps: bps > 0) >= 150_000

    # Mute and camera off reach the other side.
    await patient.click("#mute")
    await expect(nurse.locator("#remote-media")).to_contain_text("Micrófono apagado")
    assert (
        await patient.evaluate(
            "window.teleconsultaDebug.publisher().getSenders()"
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
    assert await nurse.evaluate(NO_MEDIA)

    # The same link cannot be used again.
    again = await patient_context.new_page()
    await again.goto(demo_server.patient_link)
    await expect(again.locator("body")).to_have_attribute("data-error", "consult_ended")
    await expect(again.locator("#status")).to_have_text("Esta consulta ya terminó.")

    # The session log was stored (archived within seconds of the end).
    kinds = [event["kind"] for event in await archived_log(nurse, demo_server.base_url, consult_id)]
    assert kinds[:3] == ["created", "checked_in", "admitted"]
    assert {"joined", "left"} <= set(kinds)
    # After the end: the last quality windows, then the call's summary.
    assert [kind for kind in kinds if kind != "media_quality"][-2:] == ["ended", "call_summary"]
    await patient_context.close()
    await nurse_context.close()
