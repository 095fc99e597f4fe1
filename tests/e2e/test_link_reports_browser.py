"""What a real page reports of its own download (``media:link_report``), read off its websocket.

Each page counts the audio and video it received every second and, with each new sender report,
how much longer than the least one seen it took to arrive (``queue_ms``: the queue on the link
towards the page alone, which the server's probes follow while video is paused). The server's
side of it is tested with scripted clients; this is the page's side, in Chromium.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from playwright.async_api import Browser, Page, WebSocket

from tests.e2e.pages import nurse_admits_next, nurse_signs_in, patient_enters_waiting_room
from tests.support.services import DemoServer

EVENT = re.compile(r"^42(?:/[^,]*,)?\d*(\[.*\])$", re.DOTALL)
"""A socket.io event frame: engine.io message (4), socket.io event (2), optional namespace and ack id."""


def record_link_reports(page: Page) -> list[dict[str, Any]]:
    """Every ``media:link_report`` the page sends from now on, in order."""
    reports: list[dict[str, Any]] = []

    def sent(frame: str | bytes) -> None:
        match = EVENT.match(frame) if isinstance(frame, str) else None
        if match:
            name, *args = json.loads(match[1])
            if name == "media:link_report":
                reports.append(args[0])

    page.on("websocket", lambda ws: ws.on("framesent", sent) if isinstance(ws, WebSocket) else None)
    return reports


MEASURES = 4


async def until_queue_measured(reports: list[dict[str, Any]], timeout: float = 30) -> list[dict[str, Any]]:
    """The reports so far, once ``MEASURES`` of them carry a queue measure."""
    deadline = time.monotonic() + timeout
    while sum("queue_ms" in r for r in reports) < MEASURES:
        assert time.monotonic() < deadline, f"not {MEASURES} queue measures in {timeout} s: {reports}"
        await asyncio.sleep(0.2)
    return list(reports)


async def test_each_page_reports_what_it_received_and_the_queue_on_its_link(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient = await (await browser.new_context()).new_page()
    nurse = await (await browser.new_context()).new_page()
    from_patient, from_nurse = record_link_reports(patient), record_link_reports(nurse)
    await patient_enters_waiting_room(patient, demo_server.patient_link)
    await nurse_signs_in(nurse, demo_server)
    await nurse_admits_next(nurse)

    for reports in (from_patient, from_nurse):
        seen = await until_queue_measured(reports)
        assert all(r["audio_received"] + r["video_received"] > 0 for r in seen), seen  # none empty
        assert all(r["audio_lost"] >= 0 and r["video_lost"] >= 0 for r in seen), seen
        queues = [r["queue_ms"] for r in seen if "queue_ms" in r]
        assert all(isinstance(q, int) and 0 <= q <= 10_000 for q in queues), queues
        # Measured against the least delay seen on this connection, not as the delay itself: on a
        # clean loopback link some report reads (next to) no queue. A report takes the excess of
        # the newest sender report it has, so it may read a millisecond or two.
        assert min(queues) < 5, queues
