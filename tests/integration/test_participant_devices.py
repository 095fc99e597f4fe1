"""``participant:devices`` through the real server: a page says where it is and which of its
devices work; the host hears it when it changes and, on entering the consult (admission, a console
that reconnects), the last status at once. Bad payloads are refused and change nothing."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Harness

CHECKING = {"stage": "checking", "camera": "blocked", "microphone": "ok"}
IN_CALL = {"stage": "in_call", "camera": "ended", "microphone": "ok"}


async def test_the_host_sees_the_last_device_status_on_admission_changes_and_reconnection(
    harness: Harness,
) -> None:
    patient, patient_events = await harness.patient()
    patient_id = (await patient.call("hello", {}))["participant_id"]
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    # Before any host: only the patient's own page is in the consult; the server keeps the status.
    assert await patient.call("participant:devices", CHECKING) == {"ok": True}

    nurse, nurse_events = await harness.nurse()
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    first = await nurse_events.wait_for("participant:devices")
    assert first == {"participant_id": patient_id, **CHECKING}

    assert (await patient.call("participant:devices", IN_CALL))["ok"]
    await nurse_events.wait_for("participant:devices", lambda status: status["stage"] == "in_call")
    assert nurse_events.named("participant:devices")[-1] == {"participant_id": patient_id, **IN_CALL}
    # The sender does not hear its own status back.
    assert patient_events.named("participant:devices") == []

    # The console reconnects (a reload, a network change): the last status comes with the connection.
    await nurse.disconnect()
    again, again_events = await harness.nurse()
    assert await again_events.wait_for("participant:devices") == {"participant_id": patient_id, **IN_CALL}
    for client in (again, patient):
        await client.disconnect()


async def test_bad_device_statuses_are_refused_and_change_nothing(harness: Harness) -> None:
    patient, patient_events = await harness.patient()
    patient_id = (await patient.call("hello", {}))["participant_id"]
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await patient.call("participant:devices", CHECKING))["ok"]
    bad: list[Any] = [
        {"stage": "in_call", "camera": "broken", "microphone": "ok"},
        {"stage": "elsewhere", "camera": "ok", "microphone": "ok"},
        {"stage": "in_call", "camera": "ok"},
        {**IN_CALL, "note": "x"},
        {"stage": "in_call", "camera": True, "microphone": "ok"},
        ["in_call"],
    ]
    for payload in bad:
        reply = await patient.call("participant:devices", payload)
        assert reply["ok"] is False and reply["error"]["code"] == "bad_payload", payload
    assert len(patient_events.named("error")) == len(bad)

    # What the host gets on admission is still the last valid status.
    nurse, nurse_events = await harness.nurse()
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    assert await nurse_events.wait_for("participant:devices") == {"participant_id": patient_id, **CHECKING}
    # Staff who host nothing are in no consult: there is no one to tell.
    await nurse.call("consult:end", {"consult_id": harness.consult_id})
    reply = await nurse.call("participant:devices", IN_CALL)
    assert reply["ok"] is False and reply["error"]["code"] == "invalid_state"
    await nurse.disconnect()
