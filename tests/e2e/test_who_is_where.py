"""Who is where, seen from the patient's page in real Chromium: the nurse's connection drops (she
is reconnecting, then out of the call, then back), and the same link is open in two tabs (each can
take the consult back). The patient is told plainly, never shown a frozen picture or contradicting
badges, and the consult goes on with media flowing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.consults import (
    admit,
    both_widths,
    end_consult,
    in_view,
    nurse_with_patient,
    patient_checks_in,
    patient_context,
    receiving,
    shared_server,
)
from tests.support.services import DemoServer

GRACE_SECONDS = 8
"""How long a dropped participant keeps their place: short, so the nurse is seen 'left' soon."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from shared_server(tmp_path_factory, TC_RECONNECT_GRACE_SECONDS=str(GRACE_SECONDS))


async def in_call(browser: Browser, server: DemoServer, name: str) -> tuple[Page, Page, str]:
    """A patient admitted by the nurse, media flowing both ways: (patient, nurse, consult id)."""
    nurse, consult_id, link = await nurse_with_patient(browser, server, name)
    patient = await (await patient_context(browser)).new_page()
    await patient.goto(link)
    await expect(patient.locator("#devices")).to_have_attribute("data-state", "ok")
    await expect(patient.locator("#camera-picker")).to_be_visible()
    await expect(patient.locator("body")).to_have_attribute("data-recommendation", "video")
    for selector in ("#consent", "#enter"):  # with every part of the check shown, at 1280x800
        await in_view(patient, selector)
    await patient_checks_in(patient)
    await admit(nurse, consult_id)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await receiving(patient, "video")
    await receiving(nurse, "video")
    return patient, nurse, consult_id


REMOTE_VISIBILITY = "getComputedStyle(document.getElementById('remote')).visibility"


async def test_the_patient_sees_plainly_that_the_nurse_dropped_and_came_back(
    server: DemoServer, browser: Browser
) -> None:
    patient, nurse, _ = await in_call(browser, server, "Gil Espera (prueba)")
    await expect(patient.locator("#quality")).to_be_visible(timeout=15_000)
    # The patient mutes herself first: the nurse's console must know it when she comes back.
    await patient.click("#mute")

    # The nurse's browser goes away (closed, crashed, lost its network).
    nurse_context = nurse.context
    await nurse.close()
    note = patient.locator("#remote-presence")
    await expect(note).to_contain_text("Se cortó la conexión de la enfermera")
    await expect(note).to_contain_text("Quédese en esta página")
    await expect(patient.locator("body")).to_have_attribute("data-peer-connection", "reconnecting")
    # No "good connection" beside "reconnecting", and no frozen last frame of her.
    await expect(patient.locator("#quality")).to_be_hidden()
    await expect(patient.locator(".stage")).to_have_attribute("data-presence", "away")
    assert await patient.evaluate(REMOTE_VISIBILITY) == "hidden"
    await expect(patient.locator("#status")).to_be_hidden()  # the patient's own link is fine
    await both_widths(patient, "who-nurse-reconnecting")

    # The grace runs out: she is out of the call, and the patient is told to keep waiting.
    await expect(note).to_contain_text(
        "La enfermera salió de la llamada", timeout=GRACE_SECONDS * 1000 + 15_000
    )
    await expect(note).to_contain_text("Quédese en esta página")
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await both_widths(patient, "who-nurse-left")

    # She opens the console again and goes back to the consult: no new admission for the patient.
    nurse = await nurse_context.new_page()
    await nurse.goto(server.console_url)
    await nurse.get_by_role("button", name="Volver a la consulta").click()
    await expect(nurse.locator("body")).to_have_attribute("data-state", "call")
    await expect(note).to_be_hidden(timeout=20_000)
    await expect(patient.locator(".stage")).to_have_attribute("data-presence", "here")
    await receiving(patient, "video")
    await receiving(patient, "audio")
    await receiving(nurse, "video")
    await expect(patient.locator("#quality")).to_be_visible(timeout=15_000)
    # Her console was told at once what the patient's page last said: muted by choice.
    await expect(nurse.locator("#participants li", has_text="Gil Espera")).to_contain_text(
        "En la llamada: micrófono silenciado"
    )
    await end_consult(nurse, patient)


async def test_the_same_link_in_two_tabs_each_can_take_the_consult_back(
    server: DemoServer, browser: Browser
) -> None:
    first, nurse, _ = await in_call(browser, server, "Hugo Dos Tabs (prueba)")
    second = await first.context.new_page()
    await second.goto(first.url)

    # The newer tab takes over; the older one says so and offers to take it back.
    await expect(second.locator("body")).to_have_attribute("data-state", "call")
    await expect(first.locator("body")).to_have_attribute("data-state", "replaced")
    await expect(first.locator("#replaced")).to_contain_text(
        "Esta consulta se abrió en otra ventana o dispositivo"
    )
    await expect(first.get_by_role("button", name="Usar esta ventana")).to_be_visible()
    released = (
        "[...document.getElementById('local').srcObject.getTracks()].every((t) => t.readyState === 'ended')"
    )
    assert await first.evaluate(released), "the replaced tab still holds the camera"
    await receiving(second, "video")
    await receiving(nurse, "video")
    await both_widths(first, "who-replaced-tab")

    # The older tab takes it back: it is in the call again, and the newer one is replaced in turn.
    await first.get_by_role("button", name="Usar esta ventana").click()
    await expect(first.locator("body")).to_have_attribute("data-state", "call")
    await expect(second.locator("body")).to_have_attribute("data-state", "replaced")
    await receiving(first, "video")
    await receiving(first, "audio")
    await receiving(nurse, "video")
    await receiving(nurse, "audio")
    await expect(nurse.locator("#participants li", has_text="Hugo Dos Tabs")).to_have_attribute(
        "data-state", "in_call"
    )
    await end_consult(nurse, first)
    await expect(second.locator("body")).to_have_attribute("data-state", "replaced")


async def test_the_nurse_sees_a_companion_still_checking_devices_then_audio_only_by_choice(
    server: DemoServer, browser: Browser
) -> None:
    patient, nurse, consult_id = await in_call(browser, server, "Inés Invita (prueba)")
    response = await nurse.request.post(
        f"{server.base_url}/api/consults/{consult_id}/invites",
        data={"role": "companion", "name": "Jonás Acompaña"},
    )
    assert response.status == 201, await response.text()
    companion = await (await patient_context(browser)).new_page()
    await companion.goto((await response.json())["link"])
    await expect(companion.locator("#devices")).to_have_attribute("data-state", "ok")

    # On the check screen: the nurse knows why the companion is not in the call yet.
    row = nurse.locator("#participants li", has_text="Jonás Acompaña")
    await expect(row).to_contain_text("Fuera de la llamada: revisando su cámara y micrófono")
    await both_widths(nurse, "who-companion-checking-nurse")
    await companion.check("#consent")
    await companion.click("#enter")
    await expect(companion.locator("body")).to_have_attribute("data-state", "call")
    await expect(row).to_have_attribute("data-state", "in_call")
    await expect(row.locator("span")).to_have_text("Jonás Acompaña (Acompañante) — En la llamada")

    # The patient chooses audio only: the nurse is told it is her choice, not a fault.
    await patient.click("#audio-only")
    patient_row = nurse.locator("#participants li", has_text="Inés Invita")
    await expect(patient_row).to_contain_text("En la llamada: cámara apagada por decisión propia")
    await expect(nurse.locator("#remote-presence")).to_contain_text("cámara apagada por decisión propia")
    # Her own black picture says why, and how to turn video back on.
    own_note = patient.locator("#remote-presence")
    spanish = re.compile(r"^Solo audio: no se envía ni se recibe video.*«Audio y video»\.$")
    await expect(own_note).to_have_text(spanish)
    await patient.click("#lang")
    english = re.compile(r"^Audio only: no video is sent or received.*“Audio and video”\.$")
    await expect(own_note).to_have_text(english)
    await patient.click("#lang")
    # Her camera's preview goes too: it would look as if she were seen.
    await expect(patient.locator("#local")).to_be_hidden()
    await patient.click("#audio-only")
    await expect(own_note).to_be_hidden()
    await expect(patient.locator("#local")).to_be_visible()
    await expect(patient_row.locator("span")).to_have_text("Inés Invita (prueba) (Paciente) — En la llamada")
    await end_consult(nurse, patient)
