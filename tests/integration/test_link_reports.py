"""A page's ``media:link_report`` through the real socket server to the media worker: what the
patient's page says it received decides whether video to them pauses and comes back, with real
aiortc peers whose own receiver reports say the link is clean."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from tests.integration.conftest import Harness, admitted_into_call
from tests.support.clients import EventLog, MediaClient

RED = (220, 30, 30)
BLUE = (30, 30, 220)
LOSSY = {"audio_received": 35, "audio_lost": 15, "video_received": 120, "video_lost": 40}
CLEAN = {"audio_received": 200, "audio_lost": 0, "video_received": 0, "video_lost": 0, "queue_ms": 3}


async def report_every_second(
    client: socketio.AsyncClient, report: dict[str, int], until: asyncio.Event
) -> None:
    """What a page does in a call: one report a second (each must be accepted)."""
    while not until.is_set():
        reply: dict[str, Any] = await client.call("media:link_report", report)
        assert reply["ok"], reply
        await asyncio.sleep(1)


async def reports_until(
    client: socketio.AsyncClient, report: dict[str, int], events: EventLog, paused: bool
) -> None:
    done = asyncio.Event()
    reporting = asyncio.create_task(report_every_second(client, report, done))
    try:
        await events.wait_for("media:video_paused", lambda d: d["paused"] is paused, timeout=60)
    finally:
        done.set()
        await reporting


async def test_a_page_report_reaches_the_media_side_and_decides_the_pause(harness: Harness) -> None:
    patient, patient_events = await harness.patient()
    nurse, nurse_events = await harness.nurse()
    patient_media, nurse_media = MediaClient(RED), MediaClient(BLUE)
    try:
        await admitted_into_call(
            harness, patient, patient_events, nurse, nurse_events, (patient_media, nurse_media)
        )

        # The patient's page counts 30 % of its audio lost: the video it receives pauses.
        await reports_until(patient, LOSSY, patient_events, paused=True)
        assert patient_events.named("media:video_paused")[-1] == {"paused": True, "reason": "weak_link"}
        # While it is paused, each report is answered with the clean packets that would bring it
        # back; a report of just that many, sent as soon as they arrived, does.
        asked_before = len(patient_events.named("media:link_report_wanted"))
        reply = await patient.call("media:link_report", CLEAN)
        assert reply["ok"], reply
        await patient_events.wait_for(
            "media:link_report_wanted",
            lambda _: len(patient_events.named("media:link_report_wanted")) > asked_before,
            timeout=10,
        )
        wanted = patient_events.named("media:link_report_wanted")[-1]
        assert isinstance(wanted["packets"], int) and wanted["packets"] >= 1, wanted
        reply = await patient.call("media:link_report", {**CLEAN, "audio_received": wanted["packets"]})
        assert reply["ok"], reply
        await patient_events.wait_for("media:video_paused", lambda d: d["paused"] is False, timeout=10)
        # The nurse, who sent no report, kept her video throughout.
        assert nurse_events.named("media:video_paused") == []
    finally:
        await patient_media.close()
        await nurse_media.close()
        await patient.disconnect()
        await nurse.disconnect()


async def test_a_flood_of_reports_is_refused_and_a_report_outside_a_call_changes_nothing(
    harness: Harness,
) -> None:
    patient, events = await harness.patient()
    await patient.call("lobby:check_in", {"consent": True})
    # Not in the call: the media plane has nothing for this page.
    refused = await patient.call("media:link_report", CLEAN)
    assert refused["error"]["code"] == "not_publishing"
    replies = [await patient.call("media:link_report", CLEAN) for _ in range(10)]
    assert "rate_limited" in {r["error"]["code"] for r in replies}
    assert any(
        e["code"] == "rate_limited" and e["event"] == "media:link_report" for e in events.named("error")
    )
    assert (await patient.call("hello", {}))["ok"], "the connection stays usable"
    await patient.disconnect()
