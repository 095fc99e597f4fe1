"""A participant whose connection drops keeps their place for the grace period, and the log shows the gap."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Harness
from tests.support.clients import MediaClient, join_call


@pytest.fixture
def grace_seconds() -> float:
    return 2.0


async def _live_call(harness: Harness) -> tuple:  # type: ignore[type-arg]
    patient, _patient_events = await harness.patient()
    nurse, nurse_events = await harness.nurse()
    await patient.call("lobby:check_in", {"consent": True})
    await nurse.call("lobby:admit", {"consult_id": harness.consult_id})
    media = MediaClient((200, 0, 0))
    assert (await join_call(patient, media))["ok"]
    return patient, nurse, nurse_events, media


async def test_a_patient_who_comes_back_in_time_resumes_without_a_new_admission(harness: Harness) -> None:
    patient, nurse, nurse_events, media = await _live_call(harness)
    await patient.disconnect()
    await media.close()
    await nurse_events.wait_for("participant:connection", lambda d: d["state"] == "reconnecting")

    again, _ = await harness.patient()
    hello = await again.call("hello", {})
    assert hello["consult"]["state"] == "live"  # no new admission
    await nurse_events.wait_for("participant:connection", lambda d: d["state"] == "reconnected")
    fresh, nurse_media = MediaClient((200, 0, 0)), MediaClient((0, 0, 200))
    assert (await join_call(again, fresh))["ok"]
    assert (await join_call(nurse, nurse_media))["ok"]
    await nurse_media.wait_for_media(video_frames=10, audio_frames=10)

    consult = await harness.services.stores.consults.get(harness.consult_id)
    assert consult is not None and consult.patient_id in consult.in_call
    log = await harness.services.stores.consults.log(harness.consult_id)
    kinds = [e.kind.value for e in log]
    assert kinds.count("admitted") == 1 and "dropped" in kinds and "returned" in kinds
    assert float(next(e for e in log if e.kind.value == "returned").detail["gap_seconds"]) >= 0
    assert "left" not in kinds
    assert not [e for e in nurse_events.named("participant:connection") if e["state"] == "left"]
    for client in (fresh, nurse_media):
        await client.close()
    await again.disconnect()
    await nurse.disconnect()


async def test_a_patient_who_stays_away_past_the_grace_leaves_the_call(harness: Harness) -> None:
    patient, nurse, nurse_events, media = await _live_call(harness)
    await patient.disconnect()
    await media.close()
    await nurse_events.wait_for("participant:connection", lambda d: d["state"] == "left", timeout=15)
    consult = await harness.services.stores.consults.get(harness.consult_id)
    assert consult is not None and consult.patient_id not in consult.in_call
    assert consult.state.value == "live"  # the consult itself goes on until the nurse ends it
    left = [
        e for e in await harness.services.stores.consults.log(harness.consult_id) if e.kind.value == "left"
    ]
    assert left[-1].detail["reason"] == "connection_lost"
    await nurse.disconnect()


async def test_a_waiting_patient_who_drops_keeps_their_place(harness: Harness) -> None:
    patient, _ = await harness.patient()
    await patient.call("lobby:check_in", {"consent": True})
    before = await harness.services.stores.consults.get(harness.consult_id)
    await patient.disconnect()
    again, _ = await harness.patient()
    assert (await again.call("lobby:check_in", {"consent": True}))["ok"]
    after = await harness.services.stores.consults.get(harness.consult_id)
    assert before is not None and after is not None
    assert after.state.value == "waiting" and after.checked_in_at == before.checked_in_at
    await again.disconnect()
