"""A full consult spoken by real python-socketio clients and real aiortc peers, no browser."""

from __future__ import annotations

import itertools

import aiohttp

from tests.integration.conftest import Harness
from tests.support.clients import MediaClient, join_call

RED = (220, 30, 30)
BLUE = (30, 30, 220)


def _is(rgb: tuple[float, float, float] | None, expected: tuple[int, int, int]) -> bool:
    return rgb is not None and all(abs(a - b) < 40 for a, b in zip(rgb, expected, strict=True))


async def test_patient_and_nurse_exchange_media_through_the_server(harness: Harness) -> None:
    patient, patient_events = await harness.patient()
    nurse, nurse_events = await harness.nurse()
    patient_media, nurse_media = MediaClient(RED), MediaClient(BLUE)
    try:
        hello = await patient.call("hello", {})
        assert hello["ok"] and hello["role"] == "patient"
        assert hello["consult"]["state"] == "scheduled"

        checked_in = await patient.call("lobby:check_in", {"consent": True})
        assert checked_in["consult"]["state"] == "waiting"
        await nurse_events.wait_for(
            "queue:diff", lambda d: any(c["state"] == "waiting" for c in d["consults"])
        )

        # Before admission the patient may not send or receive media.
        refused = MediaClient(RED)
        early = await join_call(patient, refused)
        await refused.close()
        assert early == {
            "ok": False,
            "error": {
                "code": "invalid_state",
                "message": early["error"]["message"],
                "message_es": early["error"]["message_es"],
            },
        }
        assert early["error"]["message"] != early["error"]["message_es"]  # English, and Spanish

        admitted = await nurse.call("lobby:admit", {"consult_id": harness.consult_id})
        assert admitted["ok"] and admitted["consult"]["state"] == "live"
        await patient_events.wait_for("consult:state", lambda d: d["consult"]["state"] == "live")

        assert (await join_call(patient, patient_media))["ok"]
        assert (await join_call(nurse, nurse_media))["ok"]
        await patient_media.wait_for_media()
        await nurse_media.wait_for_media()
        # Each side sees the other's picture, relayed by the server.
        assert _is(nurse_media.received.last_rgb, RED), nurse_media.received.last_rgb
        assert _is(patient_media.received.last_rgb, BLUE), patient_media.received.last_rgb

        # Each side's network quality is measured from RTCP and pushed to the pages.
        for log in (patient_events, nurse_events):
            quality = await log.wait_for("media:quality", lambda d: d["participant_id"] != "", timeout=20)
            assert quality["level"] in {"good", "fair", "poor", "bad"}
            assert quality["bitrate_kbps"] > 0 and quality["loss_pct"] >= 0

        muted = await patient.call("media:state", {"audio": False, "video": True})
        assert muted == {"ok": True}
        note = await nurse_events.wait_for("participant:media")
        assert note["audio"] is False and note["video"] is True

        ended = await nurse.call("consult:end", {"consult_id": harness.consult_id})
        assert ended["ok"] and ended["consult"]["state"] == "ended"
        await patient_events.wait_for("consult:ended")
    finally:
        await patient_media.close()
        await nurse_media.close()
        await patient.disconnect()
        await nurse.disconnect()

    log = await harness.services.archive.load(harness.consult_id)
    kinds = [event.kind.value for event in log]
    assert kinds[:3] == ["created", "checked_in", "admitted"]
    assert "media_quality" in kinds
    kinds = [kind for kind in kinds if kind != "media_quality"]
    assert kinds.count("joined") == 2 and kinds.count("left") == 2 and kinds[-2:] == ["ended", "call_summary"]
    assert all(earlier.at <= later.at for earlier, later in itertools.pairwise(log))

    async with aiohttp.ClientSession() as http:
        cookie = await harness.login()
        response = await http.get(
            f"{harness.url}/api/consults/{harness.consult_id}/log", headers={"Cookie": f"tc_session={cookie}"}
        )
        body = await response.json()
    assert body["archived"] is True
    assert [e["kind"] for e in body["events"] if e["kind"] != "media_quality"] == kinds


async def test_a_reconnecting_patient_rejoins_the_live_call_without_a_new_admission(harness: Harness) -> None:
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    await patient.call("lobby:check_in", {"consent": True})
    await nurse.call("lobby:admit", {"consult_id": harness.consult_id})
    first = MediaClient(RED)
    assert (await join_call(patient, first))["ok"]
    await patient.disconnect()
    await first.close()

    again, _ = await harness.patient()
    second, nurse_media = MediaClient(RED), MediaClient(BLUE)
    try:
        hello = await again.call("hello", {})
        assert hello["consult"]["state"] == "live"
        assert (await join_call(again, second))["ok"]
        assert (await join_call(nurse, nurse_media))["ok"]
        await nurse_media.wait_for_media()
        assert _is(nurse_media.received.last_rgb, RED)
    finally:
        await second.close()
        await nurse_media.close()
        await again.disconnect()
        await nurse.disconnect()
    kinds = [e.kind.value for e in await harness.services.stores.consults.log(harness.consult_id)]
    assert kinds.count("admitted") == 1
    # A quick return is a drop and a return within the grace period, not a new join.
    assert kinds.count("joined") == 2 and kinds.count("returned") == 1
    assert kinds.index("dropped") < kinds.index("returned")
