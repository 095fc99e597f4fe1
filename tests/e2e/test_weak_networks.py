"""The patient's Chromium in its own network namespace: the consult survives an outage and a
switch to another network, without a new admission."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.e2e.netns import PatientHost, patient_host
from tests.e2e.pages import INBOUND, nurse_admits_next, nurse_signs_in, patient_enters_waiting_room, poll
from tests.support.chromium import CHROMIUM_FLAGS
from tests.support.services import DemoServer, start_demo_server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))  # the test server answers on the namespace's link too
        return int(probe.getsockname()[1])


@dataclass
class Setup:
    host: PatientHost
    server: DemoServer
    patient: Page
    nurse: Page
    consult_id: str


@pytest.fixture
def host() -> Iterator[PatientHost]:
    with patient_host("tcpat") as made:
        made.add_link(0)
        yield made


@pytest.fixture
async def setup(tmp_path: Path, host: PatientHost, browser: Browser) -> AsyncIterator[Setup]:
    port = _free_port()
    public = f"http://{host.links[0].host_address}:{port}"
    server = start_demo_server(
        tmp_path,
        {
            "TC_HOST": "0.0.0.0",
            "TC_PUBLIC_URL": public,
            "TC_MEDIA_HOST_ADDRESSES": "127.0.0.1,198.51.100.1,198.51.100.5",
        },
        port=port,
    )
    async with async_playwright() as playwright:
        patient_browser = await playwright.chromium.launch(
            executable_path=str(host.chromium_wrapper(tmp_path)),
            args=[*CHROMIUM_FLAGS, f"--unsafely-treat-insecure-origin-as-secure={public}"],
        )
        try:
            patient = await (await patient_browser.new_context()).new_page()
            nurse = await (await browser.new_context()).new_page()
            await patient_enters_waiting_room(patient, server.patient_link)
            server.console_url = f"http://127.0.0.1:{port}/consola"
            await nurse_signs_in(nurse, server)
            consult_id = await nurse_admits_next(nurse)
            yield Setup(host, server, patient, nurse, consult_id)
        finally:
            await patient_browser.close()
            server.stop()


async def _flowing(page: Page) -> None:
    first = await poll(page, INBOUND, lambda s: s is not None and s["framesDecoded"] > 5, timeout=45)
    grown = first["framesDecoded"] + 10
    await poll(page, INBOUND, lambda s: s is not None and s["framesDecoded"] > grown, timeout=45)


async def _never_ended(nurse: Page, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert await nurse.get_attribute("body", "data-state") == "call", "the nurse's call closed"
        await asyncio.sleep(0.5)


async def _log_kinds(setup: Setup) -> list[str]:
    response = await setup.nurse.context.request.get(
        f"http://127.0.0.1:{setup.server.base_url.rsplit(':', 1)[1]}/api/consults/{setup.consult_id}/log"
    )
    return [event["kind"] for event in (await response.json())["events"]]


async def test_a_ten_second_outage_does_not_end_the_consult(setup: Setup) -> None:
    await _flowing(setup.nurse)
    link = setup.host.links[0]
    setup.host.set_up(link, False)
    started = time.monotonic()
    await _never_ended(setup.nurse, 10)  # the outage lasts 10 s; the nurse's page stays in the call
    setup.host.set_up(link, True)
    await _flowing(setup.patient)
    await _flowing(setup.nurse)
    print(f"outage: media back {time.monotonic() - started - 10:.1f} s after the link returned")
    await expect(setup.nurse.locator("body")).to_have_attribute("data-state", "call")
    assert (await _log_kinds(setup)).count("admitted") == 1


async def test_a_switch_to_another_network_resumes_the_call(setup: Setup) -> None:
    await _flowing(setup.nurse)
    old, new = setup.host.links[0], setup.host.add_link(1)
    started = time.monotonic()
    # The phone moves from one network to another: the first link goes away, the server is
    # reached over the second one, from another address.
    setup.host.set_up(old, False)
    setup.host.route_to(new, old.host_address)
    await _flowing(setup.patient)
    await _flowing(setup.nurse)
    print(f"network switch: media back {time.monotonic() - started:.1f} s after the switch")
    await expect(setup.nurse.locator("body")).to_have_attribute("data-state", "call")
    assert (await _log_kinds(setup)).count("admitted") == 1
