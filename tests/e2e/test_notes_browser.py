"""The nurse writes the clinical note during the call in real Chromium: autosave, a conflict shown
(never overwritten), the page killed and reopened with the draft intact, signing, and the record read
back through the FHIR API; then the patient reads the after-visit summary with their own link."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Browser, Route, expect

from tests.e2e.pages import nurse_admits_next, nurse_signs_in, patient_enters_waiting_room, poll, shot
from tests.e2e.test_accessibility import AXE, PHONE, check
from tests.support.services import DemoServer, require_or_skip

REASON = "Control de glucosa; refiere sed desde hace 2 semanas"
RECOMMENDATIONS = "Caminar 30 minutos diarios; glucosa < 130 en ayunas"


async def test_nurse_notes_survive_a_killed_page_and_sign_into_fhir(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient_context = await browser.new_context(locale="es-MX", timezone_id="America/Mexico_City")
    patient = await patient_context.new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)

    nurse_context = await browser.new_context(locale="es-MX", timezone_id="America/Mexico_City")
    nurse = await nurse_context.new_page()
    await nurse_signs_in(nurse, demo_server)
    consult_id = await nurse_admits_next(nurse)
    await expect(nurse.locator("#notes-status")).to_have_text("Elija una plantilla para empezar la nota.")

    # First consult template: the form is drawn from the template the server sends.
    await nurse.select_option("#notes-template", "first-consult")
    await nurse.click("#notes-open")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v1")
    await expect(nurse.locator("#notes-form legend").first).to_have_text(
        "Motivo de consulta y padecimiento actual"
    )

    # Autosave shortly after typing stops.
    await nurse.fill("#note-reason-reason", REASON)
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v2", timeout=3000)
    await nurse.fill("#note-recommendations-recommendations", RECOMMENDATIONS)
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v3", timeout=3000)
    # Leaving the field fires "change" after the "input" events: the same text is no new version.
    await nurse.locator("#note-recommendations-recommendations").blur()
    await poll(nurse, "window.teleconsultaNotes.state().dirty", lambda dirty: dirty is False)
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v3")
    assert await nurse.locator("#notes").get_attribute("data-version") == "3"

    # Someone saves a newer version elsewhere: the page shows the conflict and overwrites nothing.
    api = nurse_context.request
    current = await (await api.get(f"{demo_server.base_url}/api/consults/{consult_id}/note")).json()
    note = current["note"]
    assert note["version"] == 3 and note["content"]["reason"]["reason"] == REASON
    newer = {**note["content"], "reason": {"reason": "Texto de otra ventana"}}
    response = await api.put(
        f"{demo_server.base_url}/api/notes/{note['note_id']}",
        data={"base_version": 3, "content": newer},
    )
    assert response.status == 200
    await nurse.fill("#note-follow-up-plan-plan", "Revisar glucosas en 2 semanas")
    await expect(nurse.locator("#notes-conflict")).to_be_visible(timeout=3000)
    await expect(nurse.locator("#notes-conflict-text")).to_contain_text("No se sobrescribió nada")
    stored = await (await api.get(f"{demo_server.base_url}/api/notes/{note['note_id']}")).json()
    assert stored["note"]["version"] == 4
    assert stored["note"]["content"]["reason"]["reason"] == "Texto de otra ventana"
    await shot(nurse, "nurse-notes-conflict")
    await nurse.click("#notes-load-newer")
    await expect(nurse.locator("#note-reason-reason")).to_have_value("Texto de otra ventana")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v4")

    await nurse.fill("#note-reason-reason", REASON)
    await nurse.fill("#note-follow-up-plan-plan", "Revisar glucosas en 2 semanas")
    await nurse.fill("#note-follow-up-plan-next_contact", "2026-03-16")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v5", timeout=3000)

    # The nurse's page dies; she signs in again, resumes the live consult, and her draft is there.
    await nurse_context.close()
    nurse_context = await browser.new_context(locale="es-MX", timezone_id="America/Mexico_City")
    nurse = await nurse_context.new_page()
    await nurse_signs_in(nurse, demo_server)
    row = nurse.locator(f"#queue-rows tr[data-consult-id='{consult_id}']")
    await row.get_by_role("button", name="Volver a la consulta").click()
    await expect(nurse.locator("body")).to_have_attribute("data-state", "call")
    await expect(nurse.locator("#note-reason-reason")).to_have_value(REASON)
    await expect(nurse.locator("#note-recommendations-recommendations")).to_have_value(RECOMMENDATIONS)
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v5")

    # English on request.
    await nurse.click("#lang")
    await expect(nurse.locator("#notes-sign")).to_have_text("Sign note")
    await expect(nurse.locator("#notes-status")).to_have_text("Saved v5")
    await nurse.click("#lang")

    # The nurse ends the consult: the video goes, the note stays open to be signed.
    await nurse.click("#end")
    await expect(patient.locator("body")).to_have_attribute("data-state", "ended")
    await expect(nurse.locator("#call")).to_be_hidden()
    await expect(nurse.locator("#notes")).to_be_visible()
    await expect(nurse.locator("#notes-close")).to_be_visible()
    await expect(nurse.locator("#note-reason-reason")).to_have_value(REASON)
    await nurse.click("#notes-sign")
    await expect(nurse.locator("#notes-status")).to_contain_text("Firmada (v5)")
    await expect(nurse.locator("#note-reason-reason")).to_be_disabled()
    await shot(nurse, "nurse-notes-signed")

    # The record through the FHIR API, with the console's own cookie.
    api = nurse_context.request
    signed = (await (await api.get(f"{demo_server.base_url}/api/consults/{consult_id}/note")).json())["note"]
    assert signed["status"] == "signed"
    encounters = await api.get(f"{demo_server.base_url}/fhir/Encounter?patient={signed['patient_id']}")
    assert encounters.ok and encounters.headers["content-type"].startswith("application/fhir+json")
    [entry] = (await encounters.json())["entry"]
    encounter = entry["resource"]
    assert encounter["class"]["code"] == "VR" and encounter["status"] == "finished"
    assert encounter["period"]["end"] > encounter["period"]["start"]
    compositions = await api.get(f"{demo_server.base_url}/fhir/Composition?encounter={encounter['id']}")
    [composition] = [e["resource"] for e in (await compositions.json())["entry"]]
    narrative = " ".join(section["text"]["div"] for section in composition["section"])
    assert REASON in narrative and "glucosa &lt; 130" in narrative

    # The note is put away; the patient follows the link on the closing page to the signed summary.
    await nurse.click("#notes-close")
    await expect(nurse.locator("#notes")).to_be_hidden()
    token = parse_qs(urlsplit(demo_server.patient_link).fragment)["t"][0]
    assert await patient.get_attribute("#summary-link", "href") == f"/resumen#t={token}"
    await patient.click("#summary-link")
    summary = patient
    await expect(summary.locator("body")).to_have_attribute("data-state", "ready")
    await expect(summary.locator("#summary-patient")).to_have_text("María Pérez (demo)")
    await expect(summary.locator("#summary-notes")).to_contain_text(RECOMMENDATIONS)
    await expect(summary.locator("#summary-follow-up")).to_contain_text("lunes, 16 de marzo de 2026")
    await summary.click("#lang")
    await expect(summary.locator("#summary-notes")).to_contain_text("Recommendations and instructions")
    await expect(summary.locator("#summary-follow-up")).to_contain_text("Monday, March 16, 2026")
    await shot(summary, "patient-summary")
    await patient_context.close()
    await nurse_context.close()


async def test_notes_panel_and_summary_are_accessible_on_a_phone(
    demo_server: DemoServer, browser: Browser
) -> None:
    require_or_skip(AXE.exists(), "axe-core (npm ci)")
    # axe is injected as a script, which the pages' CSP rightly forbids: bypass it for this check only.
    phone = {"viewport": PHONE, "is_mobile": True, "has_touch": True, "bypass_csp": True}
    patient = await (await browser.new_context(**phone)).new_page()
    nurse = await (await browser.new_context(**phone)).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await nurse_signs_in(nurse, demo_server)
    await nurse_admits_next(nurse)
    await nurse.click("#notes-open")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v1")
    await check(nurse, "nurse-notes")
    # On a phone only the first section starts open; the others open at a tap on their title.
    for section in ("recommendations", "follow-up-plan", "referral"):
        await nurse.click(f"#notes-form fieldset[data-section='{section}'] .section-toggle")
    await nurse.fill("#note-reason-reason", "Control de presión arterial")
    await nurse.fill("#note-recommendations-recommendations", "Reducir la sal")
    await nurse.fill("#note-follow-up-plan-plan", "Tomar la presión diario")
    await nurse.select_option("#note-referral-needed", "false")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v2", timeout=3000)
    await nurse.click("#notes-sign")
    await expect(nurse.locator("#notes-status")).to_contain_text("Firmada")
    await check(nurse, "nurse-notes-signed")
    token = parse_qs(urlsplit(demo_server.patient_link).fragment)["t"][0]
    summary = await (await browser.new_context(**phone)).new_page()
    await summary.goto(f"{demo_server.base_url}/resumen#t={token}")
    await expect(summary.locator("#summary-notes")).to_contain_text("Reducir la sal")
    await check(summary, "patient-summary")


XSS_REASON = "<img src=x onerror=\"document.body.dataset.xss='reason'\">"
XSS_PLAN = "<script>document.body.dataset.xss='plan'</script> Ondansetrón = 4 mg cada 8 h; a < b & c"


async def test_markup_like_text_is_shown_literally_and_the_record_follows_the_consult_end(
    demo_server: DemoServer, browser: Browser
) -> None:
    """Text that looks like markup is saved, signed and shown as the nurse wrote it, in the console
    and in the patient's summary, with no element injected. A character that is not text is refused
    at save, naming the field, and deleting it (the message's advice) saves. A note signed during the
    call leaves the Encounter in progress; ending the consult finishes it at the consult's end."""
    patient_context = await browser.new_context(locale="es-MX", timezone_id="America/Mexico_City")
    patient = await patient_context.new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    nurse_context = await browser.new_context(locale="es-MX", timezone_id="America/Mexico_City")
    nurse = await nurse_context.new_page()
    await nurse_signs_in(nurse, demo_server)
    consult_id = await nurse_admits_next(nurse)
    await nurse.select_option("#notes-template", "first-consult")
    await nurse.click("#notes-open")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v1")

    # A pasted right-to-left override is refused at save: the status names the field and the
    # character, the field is marked; deleting that one character saves.
    illness = nurse.locator("#note-reason-present_illness")
    await illness.fill("Dolor al orinar \u202eodnum")
    await expect(nurse.locator("#notes-status")).to_contain_text(
        "«Motivo de consulta y padecimiento actual \u203a Padecimiento actual»", timeout=3000
    )
    await expect(nurse.locator("#notes-status")).to_contain_text("(U+202E) en la posición 17")
    await expect(illness).to_have_attribute("aria-invalid", "true")
    await illness.fill("Dolor al orinar odnum")
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v2", timeout=3000)
    await expect(illness).not_to_have_attribute("aria-invalid", "true")

    await nurse.fill("#note-reason-reason", XSS_REASON)
    await nurse.fill("#note-recommendations-recommendations", XSS_PLAN)
    await nurse.fill("#note-follow-up-plan-plan", XSS_PLAN)
    await nurse.select_option("#note-referral-needed", "false")
    await expect(nurse.locator("#notes-status")).to_have_text(re.compile(r"^Guardado v\d+$"), timeout=3000)

    # Signed while the call goes on: the Encounter is in progress, without an end.
    await nurse.click("#notes-sign")
    await expect(nurse.locator("#notes-status")).to_contain_text("Firmada (v")
    await expect(nurse.locator("#note-reason-reason")).to_have_value(XSS_REASON)
    await expect(nurse.locator("#note-recommendations-recommendations")).to_have_value(XSS_PLAN)
    assert await nurse.locator("#notes img, #notes script").count() == 0
    api = nurse_context.request
    signed = (await (await api.get(f"{demo_server.base_url}/api/consults/{consult_id}/note")).json())["note"]
    assert signed["content"]["reason"]["reason"] == XSS_REASON
    fhir = f"{demo_server.base_url}/fhir/Encounter?patient={signed['patient_id']}"
    [entry] = (await (await api.get(fhir)).json())["entry"]
    assert entry["resource"]["status"] == "in-progress" and "end" not in entry["resource"]["period"]

    # The consult ends: the record follows, the Encounter is finished at the end (a new version).
    await nurse.click("#end")
    await expect(patient.locator("body")).to_have_attribute("data-state", "ended")
    deadline = asyncio.get_running_loop().time() + 15
    while entry["resource"]["status"] != "finished" and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.25)  # the end hook runs as the server handles the end: wait for it
        [entry] = (await (await api.get(fhir)).json())["entry"]
    encounter = entry["resource"]
    assert encounter["status"] == "finished" and encounter["meta"]["versionId"] == "2", encounter
    assert encounter["period"]["end"] > encounter["period"]["start"]

    # The patient's summary shows it literally, and nothing it holds became an element.
    token = parse_qs(urlsplit(demo_server.patient_link).fragment)["t"][0]
    summary = await patient_context.new_page()
    await summary.goto(f"{demo_server.base_url}/resumen#t={token}")
    await expect(summary.locator("body")).to_have_attribute("data-state", "ready")
    await expect(summary.locator("#summary-notes")).to_contain_text(XSS_REASON)
    await expect(summary.locator("#summary-notes")).to_contain_text(XSS_PLAN)
    await expect(summary.locator("#summary-follow-up")).to_contain_text(XSS_PLAN)
    assert await summary.locator("#summary img, #summary script, #summary-notes b").count() == 0
    assert await summary.locator("body").get_attribute("data-xss") is None
    assert await nurse.locator("body").get_attribute("data-xss") is None
    await shot(summary, "patient-summary-literal-text")
    await patient_context.close()
    await nurse_context.close()


async def test_a_template_waits_for_the_consults_draft_to_be_known(
    demo_server: DemoServer, browser: Browser
) -> None:
    """The template button opens nothing until the page knows whether the consult has a draft: a
    template opened before the draft's answer arrived was wiped by that answer ("choose a template")."""
    patient = await (await browser.new_context()).new_page()
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    nurse = await (await browser.new_context(locale="es-MX")).new_page()
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_the_draft(route: Route) -> None:
        if route.request.method == "GET" and not held.is_set():
            held.set()
            await release.wait()
        await route.continue_()

    await nurse.route(re.compile(r".*/api/consults/[^/]+/note$"), hold_the_draft)
    await nurse_signs_in(nurse, demo_server)
    await nurse_admits_next(nurse)
    await held.wait()
    await nurse.select_option("#notes-template", "first-consult")
    await expect(nurse.locator("#notes-open")).to_be_disabled()
    click = asyncio.ensure_future(nurse.click("#notes-open"))
    release.set()
    await click
    await expect(nurse.locator("#notes-status")).to_have_text("Guardado v1")
    await expect(nurse.locator("#notes-form")).to_be_visible()
