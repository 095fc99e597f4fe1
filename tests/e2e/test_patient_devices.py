"""A patient whose camera or microphone does not work still gets their consult (real Chromium).

The patient's browser asks no one: each context's permissions decide, as a person's answers and
the site settings do (a blocked device gets the browser's own ``NotAllowedError``); a machine
without a camera runs Chromium with no fake camera at all. Each test checks what the patient is
told, what the nurse's console says about them, and that the consult happens: admission, and
media flowing both ways as far as the devices allow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, Route, ViewportSize, expect

from tests.e2e.consults import (
    PHONE,
    WIDE,
    admit,
    both_widths,
    end_consult,
    flags,
    in_view,
    launch,
    not_receiving,
    nurse_with_patient,
    patient_checks_in,
    patient_context,
    receiving,
    sent_kinds,
    shared_server,
)
from tests.e2e.pages import poll, shot
from tests.support.services import DemoServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from shared_server(tmp_path_factory)


async def check_screen(patient: Page, link: str) -> None:
    await patient.goto(link)
    await expect(patient.locator("body")).to_have_attribute("data-state", "check")
    await expect(patient.locator("#devices")).not_to_have_attribute("data-state", "checking")


async def test_a_patient_with_only_a_microphone_joins_with_audio(
    server: DemoServer, browser: Browser
) -> None:
    prompting = await launch(browser, flags(prompt=False))
    patient = await (await patient_context(prompting, permissions=["microphone"])).new_page()
    nurse, consult_id, link = await nurse_with_patient(browser, server, "Ana Mic (prueba)")

    await check_screen(patient, link)
    devices = patient.locator("#devices")
    await expect(devices).to_have_attribute("data-state", "audio")
    await expect(devices).to_contain_text("Su cámara está bloqueada en este navegador.")
    await expect(devices).to_contain_text("Puede entrar solo con audio")
    await expect(patient.locator("#devices-help")).to_contain_text("candado")
    await expect(patient.locator("#devices-retry")).to_be_visible()
    # The recommendation follows what is possible, not the link alone; no pointless audio-only box.
    await expect(patient.locator("body")).to_have_attribute("data-recommendation", "audio")
    await expect(patient.locator("#network")).to_contain_text("Recomendado: solo audio (no hay cámara")
    await expect(patient.locator("#network")).not_to_contain_text("videollamada")
    await expect(patient.locator("#audio-only-choice")).to_be_hidden()
    await expect(patient.locator("#camera-picker")).to_be_hidden()
    await expect(patient.locator("#mic-picker")).to_be_visible()
    await expect(patient.locator("#preview-empty")).to_be_visible()
    await poll(patient, "document.getElementById('mic-level').value", lambda level: level > 0)
    for selector in ("#consent", "#enter"):
        await in_view(patient, selector)
    await both_widths(patient, "devices-mic-only-check")

    await patient_checks_in(patient)
    await admit(nurse, consult_id)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await expect(patient.locator("#call-devices")).to_contain_text("La llamada sigue solo con audio")
    await expect(patient.locator("#camera")).to_be_disabled()
    # The nurse is told why the picture is black: over the picture and in the participant list.
    note = nurse.locator("#remote-presence")
    await expect(note).to_contain_text("Ana Mic (prueba): cámara bloqueada en su navegador")
    await expect(nurse.locator(".stage")).to_have_attribute("data-presence", "away")
    await expect(nurse.locator("#participants li", has_text="Ana Mic")).to_contain_text(
        "En la llamada: cámara bloqueada en su navegador"
    )
    # The consult happens: the nurse hears the patient; the patient sees and hears the nurse.
    assert await sent_kinds(patient) == ["audio"]
    await not_receiving(nurse, "video")
    await receiving(nurse, "audio")
    await receiving(patient, "video")
    await receiving(patient, "audio")
    await both_widths(patient, "devices-mic-only-call")
    await both_widths(nurse, "devices-mic-only-nurse")
    await end_consult(nurse, patient)


async def test_a_patient_with_only_a_camera_is_warned_the_nurse_will_not_hear_them(
    server: DemoServer, browser: Browser
) -> None:
    prompting = await launch(browser, flags(prompt=False))
    patient = await (await patient_context(prompting, permissions=["camera"])).new_page()
    nurse, consult_id, link = await nurse_with_patient(browser, server, "Beto Cam (prueba)")

    await check_screen(patient, link)
    devices = patient.locator("#devices")
    await expect(devices).to_have_attribute("data-state", "video_only")
    await expect(devices).to_contain_text("Su micrófono está bloqueado en este navegador.")
    await expect(devices).to_contain_text("la enfermera le verá, pero NO le escuchará")
    await expect(patient.locator("body")).to_have_attribute("data-recommendation", "video_only")
    await expect(patient.locator("#network")).to_contain_text("la enfermera no le escuchará")
    await expect(patient.locator("#network")).not_to_contain_text("Recomendado: videollamada")
    await poll(patient, "document.getElementById('preview').videoWidth", lambda width: width > 0)
    for selector in ("#consent", "#enter"):
        await in_view(patient, selector)
    await both_widths(patient, "devices-camera-only-check")

    await patient_checks_in(patient)
    await admit(nurse, consult_id)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await expect(patient.locator("#call-devices")).to_contain_text("La enfermera le ve, pero NO le escucha.")
    await expect(patient.locator("#mute")).to_be_disabled()
    await expect(nurse.locator("#remote-presence")).to_contain_text("micrófono bloqueado: no le escuchará")
    # Her picture is real: it stays on screen, with the note.
    await expect(nurse.locator(".stage")).to_have_attribute("data-presence", "here")
    assert await sent_kinds(patient) == ["video"]
    await not_receiving(nurse, "audio")
    await receiving(nurse, "video")
    await receiving(patient, "video")
    await receiving(patient, "audio")
    await both_widths(patient, "devices-camera-only-call")
    await both_widths(nurse, "devices-camera-only-nurse")
    await end_consult(nurse, patient)


async def test_a_patient_with_no_devices_watches_and_listens_then_fixes_them_in_the_call(
    server: DemoServer, browser: Browser
) -> None:
    prompting = await launch(browser, flags(prompt=False))
    context = await patient_context(prompting, permissions=[])
    patient = await context.new_page()
    nurse, consult_id, link = await nurse_with_patient(browser, server, "Carla Nada (prueba)")

    await check_screen(patient, link)
    devices = patient.locator("#devices")
    await expect(devices).to_have_attribute("data-state", "watch")
    await expect(devices).to_contain_text("Su cámara está bloqueada")
    await expect(devices).to_contain_text("Su micrófono está bloqueado")
    await expect(devices).to_contain_text("Aun así puede entrar para ver y escuchar a la enfermera")
    await expect(patient.locator("#devices-help")).to_contain_text("Configuración del sitio")
    await expect(patient.locator("body")).to_have_attribute("data-recommendation", "watch")
    await expect(patient.locator("#network")).not_to_contain_text("videollamada")
    for selector in ("#consent", "#enter"):
        await in_view(patient, selector)
    await both_widths(patient, "devices-none-check")

    await patient_checks_in(patient)
    await admit(nurse, consult_id)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await expect(patient.locator("#call-devices")).to_contain_text("Usted ve y escucha a la enfermera")
    await expect(nurse.locator("#remote-presence")).to_contain_text(
        "cámara bloqueada en su navegador · micrófono bloqueado: no le escuchará"
    )
    await expect(nurse.locator("#participants li", has_text="Carla Nada")).to_contain_text("En la llamada")
    # Watching and listening: the patient publishes nothing and receives the nurse.
    assert await patient.evaluate("window.teleconsultaDebug.publisher() === null")
    await receiving(patient, "video")
    await receiving(patient, "audio")
    await both_widths(patient, "devices-none-call")
    await both_widths(nurse, "devices-none-nurse")

    # She allows both in the site settings and tries again: her media starts, without a new admission.
    await context.grant_permissions(["camera", "microphone"])
    await patient.click("#call-devices-retry")
    await expect(patient.locator("#call-devices")).to_be_hidden()
    await expect(nurse.locator("#remote-presence")).to_be_hidden()
    await poll(patient, "window.teleconsultaDebug.publisher() !== null", lambda sending: sending)
    assert await sent_kinds(patient) == ["audio", "video"]
    await receiving(nurse, "video")
    await receiving(nurse, "audio")
    await end_consult(nurse, patient)


async def test_a_patient_without_a_camera_is_told_to_plug_one_in(
    server: DemoServer, browser: Browser
) -> None:
    cameraless = await launch(browser, flags(cameras=0))
    patient = await (await patient_context(cameraless)).new_page()
    nurse, _, link = await nurse_with_patient(browser, server, "Dora Sin Cámara (prueba)")
    await check_screen(patient, link)
    await expect(patient.locator("#devices")).to_have_attribute("data-state", "audio")
    await expect(patient.locator("#devices")).to_contain_text("No encontramos una cámara")
    await expect(patient.locator("#devices-help")).to_contain_text("Conecte una cámara")
    await expect(patient.locator("#network")).to_contain_text("Recomendado: solo audio (no hay cámara")
    await patient.click("#lang")
    await expect(patient.locator("#devices")).to_contain_text("We found no camera")
    await expect(patient.locator("#network")).to_contain_text("Recommended: audio only (there is no camera")
    await both_widths(patient, "devices-no-camera-check-en")
    await patient.click("#lang")
    await nurse.context.close()


IN_CALL_TOUCHED = ("#mute", "#hang-up")


async def test_a_camera_withdrawn_mid_call_leaves_the_call_on_audio(
    server: DemoServer, browser: Browser
) -> None:
    prompting = await launch(browser, flags(prompt=False))
    context = await patient_context(prompting, permissions=["camera", "microphone"])
    patient = await context.new_page()
    nurse, consult_id, link = await nurse_with_patient(browser, server, "Eva Revocada (prueba)")
    await check_screen(patient, link)
    await expect(patient.locator("#devices")).to_have_attribute("data-state", "ok")
    await patient_checks_in(patient)
    await admit(nurse, consult_id)
    await receiving(nurse, "video")
    await receiving(nurse, "audio")
    await expect(nurse.locator("#remote-presence")).to_be_hidden()
    top = "(element) => element.getBoundingClientRect().top"
    controls_before = [await patient.locator(s).evaluate(top) for s in IN_CALL_TOUCHED]

    # The camera's permission is withdrawn in the site settings: Chromium stops the capture it
    # granted (both tracks of that request end), as it does for a real person.
    target = await (await context.new_cdp_session(patient)).send("Target.getTargetInfo")
    origin = server.base_url
    await (await prompting.new_browser_cdp_session()).send(
        "Browser.setPermission",
        {
            "permission": {"name": "camera"},
            "setting": "denied",
            "origin": origin,
            "browserContextId": target["targetInfo"]["browserContextId"],
        },
    )
    await expect(patient.locator("#call-devices")).to_contain_text("Su cámara dejó de funcionar")
    await expect(patient.locator("#call-devices")).to_contain_text("La llamada sigue solo con audio")
    # The message comes under the controls: the patient's finger finds them where they were.
    assert [await patient.locator(s).evaluate(top) for s in IN_CALL_TOUCHED] == controls_before
    await expect(nurse.locator("#remote-presence")).to_contain_text("su cámara dejó de funcionar")
    await expect(nurse.locator(".stage")).to_have_attribute("data-presence", "away")
    # The microphone was opened again on the same sender: the nurse still hears her.
    assert await sent_kinds(patient) == ["audio"]
    await receiving(nurse, "audio")
    await receiving(patient, "video")
    await both_widths(patient, "devices-revoked-call")
    await both_widths(nurse, "devices-revoked-nurse")
    await end_consult(nurse, patient)


CAMERA_LABEL = (
    "window.teleconsultaDebug.publisher()?.getSenders()"
    ".find((s) => s.track?.kind === 'video')?.track.label ?? null"
)


async def test_a_patient_picks_a_camera_and_switches_cameras_in_the_call(
    server: DemoServer, browser: Browser
) -> None:
    # Chromium's second fake camera is a depth camera (16-bit frames WebRTC cannot encode); the
    # third is an ordinary one: the patient uses the first and the third.
    cameras = await launch(browser, flags(cameras=3))
    patient = await (await patient_context(cameras)).new_page()
    nurse, consult_id, link = await nurse_with_patient(browser, server, "Fer Dos Cámaras (prueba)")
    await check_screen(patient, link)
    await expect(patient.locator("#camera-select option")).to_have_count(3)
    await patient.select_option("#camera-select", label="fake_device_2")
    await poll(
        patient,
        "document.getElementById('preview').srcObject?.getVideoTracks()[0]?.label ?? null",
        lambda label: label == "fake_device_2",
    )
    await patient_checks_in(patient)
    await admit(nurse, consult_id)
    await poll(patient, CAMERA_LABEL, lambda label: label == "fake_device_2")
    await receiving(nurse, "video")

    # "Switch camera" takes the next camera (after the last, the first) on the same sender: same
    # connection, no new offer.
    await patient.evaluate("window.switchedFrom = window.teleconsultaDebug.publisher()")
    await expect(patient.locator("#switch-camera")).to_be_visible()
    await patient.click("#switch-camera")
    await poll(patient, CAMERA_LABEL, lambda label: label == "fake_device_0")
    assert await patient.evaluate("window.switchedFrom === window.teleconsultaDebug.publisher()")
    await receiving(nurse, "video")
    await expect(nurse.locator("#remote-presence")).to_be_hidden()
    await end_consult(nurse, patient)


async def test_a_late_connection_result_moves_nothing_and_keeps_the_patients_choice(
    server: DemoServer, browser: Browser
) -> None:
    """The connection test ends while the patient is already choosing (a slow upload, as on a weak
    phone link): the consent box stays where the patient's finger is, and their audio-only choice
    stands against the recommendation that arrives after it."""
    patient = await (await patient_context(browser)).new_page()
    nurse, consult_id, link = await nurse_with_patient(browser, server, "Lía Espera (prueba)")
    upload_may_end = asyncio.Event()

    async def slow_upload(route: Route) -> None:
        await upload_may_end.wait()
        await route.continue_()

    await patient.route("**/api/network-check/upload", slow_upload)
    await check_screen(patient, link)
    await expect(patient.locator("#network")).to_contain_text("Probando su conexión")
    top = "(box) => box.getBoundingClientRect().top"
    consent_top = await patient.locator("#consent").evaluate(top)
    await patient.check("#start-audio-only")  # the patient chooses before the result

    upload_may_end.set()
    await expect(patient.locator("#network")).to_contain_text("Recomendado: videollamada")
    assert await patient.locator("#consent").evaluate(top) == consent_top, "the result moved the consent box"
    await expect(patient.locator("#start-audio-only")).to_be_checked()

    await patient_checks_in(patient)
    await admit(nurse, consult_id)
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    await expect(patient.locator("body")).to_have_attribute("data-audio-only", "true")
    await receiving(nurse, "audio")
    assert await sent_kinds(patient) == ["audio"], "the patient chose to start with audio only"
    await end_consult(nurse, patient)


HOLD_DEVICES = """
(() => {
  // The browser answers for the camera and microphone only when the test says (the patient is
  // still reading the permission prompt).
  const media = navigator.mediaDevices;
  const ask = media.getUserMedia.bind(media);
  let answer;
  const answered = new Promise((resolve) => (answer = resolve));
  window.answerDevices = () => answer();
  media.getUserMedia = async (constraints) => {
    await answered;
    return ask(constraints);
  };
})();
"""


TOUCHED = ("#start-audio-only", "#consent", "#enter")
CHECK_SIZES: tuple[ViewportSize, ...] = (
    PHONE,
    {"width": 740, "height": 360},  # the phone on its side
    {"width": 768, "height": 1024},  # a tablet upright: taller than the check screen
    WIDE,
)
DEVICE_OUTCOMES = {
    # What the browser answers for the camera and the microphone: (Chromium flags, permissions,
    # None for the fake prompt that grants everything).
    "both-work": (flags(), None),
    "camera-blocked": (flags(prompt=False), ["microphone"]),
    "microphone-blocked": (flags(prompt=False), ["camera"]),
    "both-blocked": (flags(prompt=False), []),
    "no-camera": (flags(cameras=0), None),
}


@pytest.mark.parametrize("outcome", DEVICE_OUTCOMES)
async def test_devices_that_answer_late_move_nothing_under_the_patients_finger(
    server: DemoServer, browser: Browser, outcome: str
) -> None:
    """The camera and microphone answer, whatever they answer, while the patient already reads the
    page (on a phone upright and on its side, a tablet and a wide screen): the device message grows
    by its help, pickers and the audio-only choice go, the recommendation changes, and none of it
    moves the choice, the consent box or the button under the patient's finger, which stay in view
    without scrolling."""
    args, permissions = DEVICE_OUTCOMES[outcome]
    patient_browser = await launch(browser, args)
    _nurse, _consult_id, link = await nurse_with_patient(browser, server, f"Teo Tarde {outcome} (prueba)")
    options = {} if permissions is None else {"permissions": permissions}
    for size in CHECK_SIZES:
        context = await patient_context(patient_browser, **options)
        await context.add_init_script(HOLD_DEVICES)
        patient = await context.new_page()
        await patient.set_viewport_size(size)
        await patient.goto(link)
        await expect(patient.locator("body")).to_have_attribute("data-state", "check")
        await expect(patient.locator("#devices")).to_have_attribute("data-state", "checking")
        await expect(patient.locator("#network")).not_to_contain_text("Probando su conexión")
        top = "(element) => element.getBoundingClientRect().top"
        before = {s: await patient.locator(s).evaluate(top) for s in TOUCHED}

        await patient.evaluate("window.answerDevices()")
        await expect(patient.locator("#devices")).not_to_have_attribute("data-state", "checking")
        for picker in ("#camera-picker", "#mic-picker"):
            await expect(patient.locator(picker)).not_to_have_class("until-devices-answer")
        after = {s: await patient.locator(s).evaluate(top) for s in TOUCHED}
        if not await patient.locator("#start-audio-only").is_visible():  # no camera: the choice went
            del before["#start-audio-only"], after["#start-audio-only"]
        assert after == before, f"the devices' answer ({outcome}) moved what the patient touches at {size}"
        for selector in ("#consent", "#enter"):
            await in_view(patient, selector)
        await shot(patient, f"check-{outcome}-{size['width']}")
        await context.close()
