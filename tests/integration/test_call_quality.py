"""The quality of a consult, with real aiortc peers: scored live for the pages, summarized in the log.

Every 2 s each participant's link is scored (MOS, grade, per direction) in ``media:quality``; the
session log keeps windows of those samples, and when the consult ends it gets one ``call_summary``
computed from them: mean and worst score, minutes with video and audio only, reconnections, the
media path and the data used.
"""

from __future__ import annotations

from typing import Any

from rooms.call_summary import CallSummary
from rooms.quality_log import LoggedWindow, MediaPath, VideoState
from rooms.session_log import EventKind
from tests.integration.conftest import Harness, admitted_into_call
from tests.support.clients import MediaClient

RED = (220, 30, 30)
BLUE = (30, 30, 220)


async def test_a_consult_is_scored_live_and_ends_with_its_call_summary(harness: Harness) -> None:
    patient, patient_events = await harness.patient()
    nurse, nurse_events = await harness.nurse()
    patient_media, nurse_media = MediaClient(RED), MediaClient(BLUE)
    try:
        patient_id = (await patient.call("hello", {}))["participant_id"]
        await admitted_into_call(
            harness, patient, patient_events, nurse, nurse_events, (patient_media, nurse_media)
        )

        # The nurse's console hears the patient's link scored in both directions.
        def scored(sample: dict[str, Any]) -> bool:
            return (
                sample["participant_id"] == patient_id
                and sample["mos"] is not None
                and sample.get("upload") is not None
                and sample.get("download") is not None
            )

        sample = await nurse_events.wait_for("media:quality", scored, timeout=30)
        assert 1.0 <= sample["mos"] <= 4.5
        assert sample["grade"] in {"good", "fair", "poor"}
        assert sample["reason"] is None or sample["reason"]["code"] in {"loss", "delay", "jitter"}
        assert sample["mos"] == min(sample["upload"]["mos"], sample["download"]["mos"])
        assert sample["codec"] == "opus" and sample["path"] == "direct" and sample["video"] == "on"

        # The patient switches to audio only: their samples say so, and so will the summary.
        assert (await patient.call("media:receive", {"video": False}))["ok"]
        await nurse_events.wait_for(
            "media:quality", lambda d: d["participant_id"] == patient_id and d["video"] == "off", timeout=30
        )

        assert (await nurse.call("consult:end", {"consult_id": harness.consult_id}))["ok"]
        await patient_events.wait_for("consult:ended")
    finally:
        await patient_media.close()
        await nurse_media.close()
        await patient.disconnect()
        await nurse.disconnect()

    log = await harness.services.archive.load(harness.consult_id)
    assert log[-1].kind is EventKind.CALL_SUMMARY
    assert [e.kind for e in log].count(EventKind.CALL_SUMMARY) == 1
    windows = [w for e in log if (w := LoggedWindow.from_event(e)) is not None]
    assert {w.participant_id for w in windows} >= {patient_id}
    assert any(w.video is VideoState.OFF for w in windows if w.participant_id == patient_id)

    summary = CallSummary.from_detail(log[-1].detail)
    assert summary.mos_mean is not None and summary.mos_worst is not None
    assert 1.0 <= summary.mos_worst <= summary.mos_mean <= 4.5
    assert summary.video_seconds > 0 and summary.audio_only_seconds > 0
    assert summary.reconnections == 0
    assert summary.media_path is MediaPath.DIRECT
    assert summary.data_bytes > 10_000
    assert summary.started_at <= summary.ended_at
