"""The chat and the patient's photos in real Chromium: a waiting patient on a phone and the nurse
write to each other (text shown as text, read marks), the chat survives a reload, "No le escucho"
offers it in the call; a photo taken on a 360 px page reaches the console and, once kept with the
patient's consent, the signed FHIR record, read back through /fhir and validated."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from PIL import Image
from playwright.async_api import Browser, Page, expect

from records.validation import validate_resource
from tests.e2e.consults import receiving
from tests.e2e.pages import nurse_admits_next, nurse_signs_in, patient_enters_waiting_room, poll, shot
from tests.e2e.test_accessibility import AXE, check
from tests.support.services import DemoServer, require_or_skip

PHONE = {"width": 360, "height": 740}
QUESTION = '¿Cuánto falta? 5 < 7 & <3 "hola"'
MARKUP = "<b>hola</b><script>window.pwned=1</script>"


async def _say(page: Page, text: str) -> None:
    await page.fill("#chat-input", text)
    await page.click("#chat-send")


def _message(page: Page, text: str) -> object:
    return page.locator("#chat .chat-message .chat-text", has_text=text)


async def test_a_waiting_patient_and_the_nurse_chat_and_it_survives_a_reload(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient = await (await browser.new_context(viewport=PHONE, locale="es-MX", bypass_csp=True)).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await expect(patient.locator("#chat")).to_be_visible()
    nurse = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await nurse_signs_in(nurse, demo_server)

    # Markup is refused in the sender's own words, and nothing reaches the nurse.
    await _say(patient, MARKUP)
    status = patient.locator("#chat .chat-status")
    await expect(status).to_have_attribute("data-code", "chat_markup")
    await expect(status).to_contain_text("no puede llevar etiquetas")
    # The patient writes from the waiting room; the console (nobody hosts the consult yet) opens it.
    await _say(patient, QUESTION)
    await expect(_message(nurse, "¿Cuánto falta?")).to_have_text(QUESTION)
    await expect(nurse.locator("#chat .chat-message")).to_have_count(1)
    assert await nurse.locator("#chat .chat-text b, #chat .chat-text script").count() == 0
    assert await nurse.evaluate("window.pwned === undefined")
    await _say(nurse, "Le atiendo en 5 minutos")
    await expect(_message(patient, "Le atiendo")).to_have_text("Le atiendo en 5 minutos")
    # The nurse's console showed the patient's message: the patient sees it read.
    mine = patient.locator("#chat .chat-message.mine .chat-state")
    await expect(mine).to_have_attribute("data-state", "read")
    require_or_skip(AXE.exists(), "axe-core (npm ci)")
    await check(patient, "patient-chat-waiting")  # axe-core, no sideways scrolling, touch targets

    # The page reloads (or the phone drops): the conversation is there again, in order.
    await patient.reload()
    await expect(patient.locator("body")).to_have_attribute("data-state", "waiting")
    texts = patient.locator("#chat .chat-text")
    await expect(texts).to_have_text([QUESTION, "Le atiendo en 5 minutos"])
    seqs = await patient.locator("#chat .chat-message").evaluate_all(
        "(items) => items.map((i) => i.dataset.seq)"
    )
    assert seqs == ["1", "2"]

    # Admitted, the same chat goes on in the call; "No le escucho" offers it and tells the nurse.
    await nurse_admits_next(nurse)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await expect(patient.locator("#chat")).to_be_visible()
    # The nurse's microphone stops sending: no audio reaches the patient, whose page offers the chat.
    await receiving(patient, "audio")
    await nurse.evaluate(
        "() => window.teleconsultaDebug.publisher().getSenders()"
        ".find((s) => s.track?.kind === 'audio').replaceTrack(null)"
    )
    offer = patient.locator("#chat .chat-offer")
    await expect(offer).to_have_attribute("data-reason", "chat.offer_no_audio", timeout=30_000)
    await expect(offer).to_have_text("No nos llega sonido. Puede escribir aquí.")
    await patient.click("#cant-hear")
    await expect(patient.locator("#chat .chat-offer")).to_be_visible()
    await expect(_message(nurse, "No le escucho.")).to_have_count(1)
    await _say(nurse, "Le escribo por aquí")
    await expect(_message(patient, "Le escribo por aquí")).to_have_count(1)
    await expect(nurse.locator("#chat .chat-message")).to_have_count(4)
    await shot(nurse, "console-chat-in-call-1280")


def _photo_with_gps(path: Path) -> Path:
    image = Image.new("RGB", (800, 600), (200, 80, 60))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif.get_ifd(0x8825)[2] = (19.0, 25.0, 42.0)  # GPS latitude
    image.save(path, "JPEG", exif=exif)
    return path


async def test_a_photo_from_a_phone_reaches_the_nurse_and_once_kept_the_fhir_record(
    demo_server: DemoServer, browser: Browser, tmp_path: Path
) -> None:
    patient = await (await browser.new_context(viewport=PHONE, locale="es-MX")).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    nurse_context = await browser.new_context(viewport={"width": 1280, "height": 800})
    nurse = await nurse_context.new_page()
    await nurse_signs_in(nurse, demo_server)
    consult_id = await nurse_admits_next(nurse)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")

    # The phone's camera input (capture="environment"), as the patient sees it at 360 px.
    photo_input = patient.locator("#chat-photo")
    assert await photo_input.get_attribute("capture") == "environment"
    assert await photo_input.get_attribute("accept") == "image/*"
    # What she taps is a button in the page's language, not the input's "Choose File" in the
    # browser's: the input itself takes no room.
    picker = patient.locator("label.chat-photo")
    for language, words in (("es", "Enviar una foto"), ("en", "Send a photo")):
        if language == "en":
            await patient.click("#lang")
        await expect(picker).to_have_text(words)
        box = await picker.bounding_box()
        assert box is not None and box["height"] >= 44, f"the photo button is {box} at 360 px"
        hidden = await photo_input.bounding_box()
        assert hidden is not None and hidden["width"] <= 1, f"the file input shows: {hidden}"
    await patient.click("#lang")
    await expect(picker).to_have_text("Enviar una foto")
    await photo_input.focus()
    outline = await picker.evaluate("label => getComputedStyle(label).outlineStyle")
    assert outline == "solid", "the focused photo button shows no focus ring"
    await photo_input.set_input_files(str(_photo_with_gps(tmp_path / "herida.jpg")))
    await expect(patient.locator("#chat .chat-photo-sent")).to_have_count(1)
    width = await patient.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways at 360 px ({width})"
    await shot(patient, "patient-photo-sent-360")

    # The console shows the image, served as an image only.
    image = nurse.locator("#chat img.chat-image")
    await expect(image).to_have_count(1)
    loaded = "document.querySelector('#chat img.chat-image')?.naturalWidth ?? 0"
    await poll(nurse, loaded, lambda width: width > 0)
    source = await image.get_attribute("src")
    assert source
    served = await nurse_context.request.get(f"{demo_server.base_url}{source}")
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["content-security-policy"] == "default-src 'none'"
    assert b"CameraMaker" not in await served.body()

    # She keeps it, the patient having agreed, and keeps the chat transcript when signing.
    keep = nurse.locator("#chat .chat-keep")
    await expect(keep).to_be_disabled()
    await nurse.check("#chat .chat-photo-consent")
    # A message arriving meanwhile re-renders the chat: the tick and the loaded image stay.
    await _say(patient, "Es la herida de ayer")
    await expect(nurse.locator("#chat .chat-text").last).to_have_text("Es la herida de ayer")
    await expect(nurse.locator("#chat .chat-photo-consent")).to_be_checked()
    assert await nurse.evaluate(loaded) > 0
    await keep.click()
    await expect(keep).to_have_text("Guardada en el expediente")
    await nurse.select_option("#notes-template", "first-consult")
    await nurse.click("#notes-open")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v1")
    await nurse.fill("#note-reason-reason", "Herida en el antebrazo")
    await nurse.fill("#note-recommendations-recommendations", "Lavar con agua y jabón")
    await nurse.fill("#note-follow-up-plan-plan", "Revisar la herida en 3 días")
    await nurse.fill("#note-follow-up-plan-next_contact", "2026-03-16")
    await expect(nurse.locator("#notes-status")).to_have_text(re.compile(r"^Guardado v[2-9]$"), timeout=5000)
    await nurse.click("#end")
    await expect(patient.locator("body")).to_have_attribute("data-state", "ended")
    await nurse.check("#notes-keep-chat")
    await nurse.click("#notes-sign")
    await expect(nurse.locator("#notes-status")).to_contain_text("Firmada")

    # The record, through /fhir with the console's cookie: the Composition cites the Media.
    api = nurse_context.request
    signed = (await (await api.get(f"{demo_server.base_url}/api/consults/{consult_id}/note")).json())["note"]
    encounters = await api.get(f"{demo_server.base_url}/fhir/Encounter?patient={signed['patient_id']}")
    [entry] = (await encounters.json())["entry"]
    encounter = entry["resource"]
    compositions = await api.get(f"{demo_server.base_url}/fhir/Composition?encounter={encounter['id']}")
    [composition] = [e["resource"] for e in (await compositions.json())["entry"]]
    sections = {section["title"]: section for section in composition["section"]}
    [media_ref] = sections["Fotos compartidas por el paciente"]["entry"]
    media = await (await api.get(f"{demo_server.base_url}/fhir/{media_ref['reference']}")).json()
    assert validate_resource(media) == []
    assert media["encounter"]["reference"] == f"Encounter/{encounter['id']}"
    assert media["subject"]["reference"] == f"Patient/{signed['patient_id']}"
    assert media["content"]["contentType"] == "image/jpeg"
    assert (media["width"], media["height"]) == (800, 600)
    stored = Image.open(io.BytesIO(base64.b64decode(media["content"]["data"])))
    assert len(stored.getexif()) == 0
    transcript = sections["Conversación por chat"]
    assert len(transcript["entry"]) == 2  # the photo's message and what the patient said of it
    communication = await (
        await api.get(f"{demo_server.base_url}/fhir/{transcript['entry'][0]['reference']}")
    ).json()
    assert validate_resource(communication) == []
