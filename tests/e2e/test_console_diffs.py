"""The console's list in real Chromium follows the unit by its numbered changes (``queue:diff``),
with no polling: one snapshot when it connects, then only what changed. A console that misses a
change (its socket frame dropped on the way) notices the gap at the next one, takes one snapshot
and shows the same list as everyone else."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Request, WebSocketRoute, expect

from tests.e2e.pages import nurse_signs_in, patient_enters_waiting_room
from tests.support.services import DemoServer, start_demo_server

SNAPSHOT = re.compile(r"/api/units/[^/]+/queue$")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DemoServer]:
    demo = start_demo_server(tmp_path, {})
    try:
        yield demo
    finally:
        demo.stop()


def count_snapshots(page: Page) -> Callable[[], int]:
    seen: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "GET" and SNAPSHOT.search(request.url.split("?")[0]):
            seen.append(request.url)

    page.on("request", on_request)
    return lambda: len(seen)


async def demo_consult(page: Page) -> str:
    row = page.locator("#queue-rows tr").first
    await expect(row).to_be_visible()
    consult_id = await row.get_attribute("data-consult-id")
    assert consult_id
    return consult_id


async def test_the_console_list_follows_the_unit_with_no_poll(server: DemoServer, browser: Browser) -> None:
    nurse = await (await browser.new_context()).new_page()
    snapshots = count_snapshots(nurse)
    await nurse_signs_in(nurse, server)
    consult_id = await demo_consult(nurse)
    await expect(nurse.locator(f'#queue-rows tr[data-consult-id="{consult_id}"]')).to_have_attribute(
        "data-state", "scheduled"
    )
    taken = snapshots()
    assert taken >= 1

    patient_context = await browser.new_context()
    patient = await patient_context.new_page()
    await patient_enters_waiting_room(patient, server.patient_link)
    row = nurse.locator(f'#queue-rows tr[data-consult-id="{consult_id}"]')
    await expect(row).to_have_attribute("data-state", "waiting")
    await expect(row.locator("td").first).to_have_text("1")  # its place, from the queue's diff
    await expect(row.locator("td").nth(4)).to_have_text("En espera")

    await patient_context.close()  # the patient's connection drops: the row says so, unasked
    await expect(row.locator("td").nth(4)).to_have_text("Reconectando", timeout=20_000)
    await nurse.click("#nurse-toggle")
    await expect(nurse.locator("#nurse-state")).to_have_attribute("data-state", "available")
    await nurse.wait_for_timeout(5_000)  # longer than the old 4 s poll: nothing is asked meanwhile
    assert snapshots() == taken, "the console asked for the whole list again"


async def test_a_console_that_misses_a_change_resyncs(server: DemoServer, browser: Browser) -> None:
    nurse = await (await browser.new_context()).new_page()
    dropped: list[int] = []

    async def drop_one_diff(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if text.startswith('42["queue:diff"') and not dropped:
                version = json.loads(text[2:])[1]["version"]
                if version is not None:
                    dropped.append(version)
                    return  # this console never hears it
            ws.send(message)

        upstream.on_message(from_server)
        ws.on_message(lambda message: upstream.send(message))

    await nurse.route_web_socket(re.compile(r"/socket\.io/"), drop_one_diff)
    snapshots = count_snapshots(nurse)
    await nurse_signs_in(nurse, server)
    consult_id = await demo_consult(nurse)
    row = nurse.locator(f'#queue-rows tr[data-consult-id="{consult_id}"]')
    await expect(row).to_have_attribute("data-state", "scheduled")
    await nurse.wait_for_timeout(1_000)  # the first snapshot is in
    before = snapshots()

    patient = await (await browser.new_context()).new_page()
    await patient_enters_waiting_room(patient, server.patient_link)
    # The check-in makes several numbered changes (the entry, the consult's state); the first is
    # lost, so the next one shows a gap: one snapshot, and the row is right all the same.
    await expect(row).to_have_attribute("data-state", "waiting")
    await expect(row.locator("td").first).to_have_text("1")
    await expect(row.locator("td").nth(4)).to_have_text("En espera")
    assert len(dropped) == 1
    assert snapshots() == before + 1
