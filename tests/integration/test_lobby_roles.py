"""Lobby control and roles through the real server, spoken by python-socketio clients.

Deny, re-invite, send back and re-admit, lock, mute requests, and every event refused with
``forbidden`` for every role the table does not allow, changing nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from rooms.roles import Action, Role, may
from rooms.session_log import EventKind
from tests.integration.conftest import Harness
from tests.support.clients import ConnectionRefused, EventLog, MediaClient, connect_client, join_call

RED = (220, 30, 30)
BLUE = (30, 30, 220)


async def _snapshot(harness: Harness) -> tuple[object, int]:
    consult = await harness.services.stores.consults.get(harness.consult_id)
    # Refusals add ``refused`` entries to the log; everything else must stay as it was.
    log = await harness.services.stores.consults.log(harness.consult_id)
    return consult, sum(1 for e in log if e.kind is not EventKind.REFUSED)


async def _staff(harness: Harness, username: str, role: Role) -> tuple[socketio.AsyncClient, EventLog]:
    cookie = await harness.staff_cookie(username, role, "UMF-1", f"{role.value} {username}")
    return await connect_client(harness.url, cookie=cookie)


async def _live(harness: Harness) -> tuple[socketio.AsyncClient, EventLog, socketio.AsyncClient, EventLog]:
    patient, patient_events = await harness.patient()
    nurse, nurse_events = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    return patient, patient_events, nurse, nurse_events


async def _invite(nurse: socketio.AsyncClient, role: str, name: str) -> dict[str, Any]:
    reply: dict[str, Any] = await nurse.call("consult:invite", {"role": role, "name": name})
    assert reply["ok"], reply
    return reply


def _ref(harness: Harness, participant_id: str) -> dict[str, str]:
    return {"consult_id": harness.consult_id, "participant_id": participant_id}


async def test_a_denied_patient_is_told_and_their_link_fails_until_re_invited(harness: Harness) -> None:
    patient, patient_events = await harness.patient()
    nurse, nurse_events = await harness.nurse()
    hello = await patient.call("hello", {})
    patient_id = hello["participant_id"]
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]

    denied = await nurse.call("lobby:deny", _ref(harness, patient_id))
    assert denied["ok"] and denied["consult"]["state"] == "scheduled"
    assert denied["consult"]["denied"] == [patient_id]
    told = await patient_events.wait_for("lobby:denied")
    assert told == {"consult_id": harness.consult_id, "reason": "denied"}
    with pytest.raises(ConnectionRefused) as caught:
        await harness.patient()
    assert caught.value.errors[0]["data"]["code"] == "denied"

    log = await harness.services.stores.consults.log(harness.consult_id)
    [event] = [e for e in log if e.kind.value == "denied"]
    nurse_hello = await nurse.call("hello", {})
    assert event.actor_id == nurse_hello["participant_id"] and event.connection_id == nurse.get_sid()
    assert event.detail == {"participant": patient_id, "role": "patient"}

    assert (await nurse.call("lobby:reinvite", _ref(harness, patient_id)))["ok"]
    again, _ = await harness.patient()
    assert (await again.call("lobby:check_in", {"consent": True}))["consult"]["state"] == "waiting"
    for client in (again, nurse, patient):
        await client.disconnect()
    assert nurse_events.named("error") == []


async def test_send_back_stops_media_then_readmit_and_mute(harness: Harness) -> None:
    patient, patient_events, nurse, _ = await _live(harness)
    patient_media, nurse_media = MediaClient(RED), MediaClient(BLUE)
    patient_id = (await patient.call("hello", {}))["participant_id"]
    try:
        assert (await join_call(patient, patient_media))["ok"]
        assert (await join_call(nurse, nurse_media))["ok"]
        await nurse_media.wait_for_media(participant=patient_id)

        # The host asks the patient's page to mute; the patient may not ask it of anyone.
        assert await nurse.call("participant:mute", _ref(harness, patient_id)) == {"ok": True}
        request = await patient_events.wait_for("participant:mute_requested")
        assert request["consult_id"] == harness.consult_id
        nurse_id = (await nurse.call("hello", {}))["participant_id"]
        refused = await patient.call("participant:mute", _ref(harness, nurse_id))
        assert refused["error"]["code"] == "forbidden"

        sent = await nurse.call("lobby:send_back", _ref(harness, patient_id))
        assert sent["ok"] and sent["consult"]["lobby"] == [patient_id]
        assert patient_id not in sent["consult"]["in_call"]
        await patient_events.wait_for("lobby:sent_back")
        await patient_events.wait_for("consult:state", lambda d: d["consult"]["lobby"] == [patient_id])
        # Waiting again: no media until re-admitted.
        early = MediaClient(RED)
        assert (await join_call(patient, early))["error"]["code"] == "invalid_state"
        await early.close()

        readmitted = await nurse.call("lobby:admit", _ref(harness, patient_id))
        assert readmitted["ok"] and readmitted["consult"]["lobby"] == []
        await patient_events.wait_for("consult:state", lambda d: d["consult"]["lobby"] == [])
        await patient_media.close()
        patient_media = MediaClient(RED)
        before = nurse_media.by_participant[patient_id].video_frames
        assert (await join_call(patient, patient_media))["ok"]
        await nurse_media.wait_for_media(video_frames=before + 20, participant=patient_id)
    finally:
        await patient_media.close()
        await nurse_media.close()
        await patient.disconnect()
        await nurse.disconnect()
    kinds = [e.kind.value for e in await harness.services.stores.consults.log(harness.consult_id)]
    assert kinds.count("admitted") == 1 and "sent_back" in kinds and "readmitted" in kinds
    assert "mute_requested" in kinds


async def test_a_locked_room_keeps_a_new_joiner_out_until_unlocked(harness: Harness) -> None:
    patient, _, nurse, _ = await _live(harness)
    invitation = await _invite(nurse, "companion", "Ana López")
    companion, companion_events = await connect_client(harness.url, token=invitation["token"])
    locked = await nurse.call("room:lock", {"consult_id": harness.consult_id})
    assert locked["ok"] and locked["consult"]["locked"] is True
    await companion_events.wait_for("consult:state", lambda d: d["consult"]["locked"])

    fake_offer = {"type": "offer", "sdp": "v=0", "sources": {}}
    refused = await companion.call("media:offer", fake_offer)
    assert refused["error"]["code"] == "room_locked"
    # The patient, admitted before, still comes in.
    patient_media = MediaClient(RED)
    try:
        assert (await join_call(patient, patient_media))["ok"]
    finally:
        await patient_media.close()
    # A new check-in for another patient would be refused too; unlock lets the companion in.
    assert (await nurse.call("room:unlock", {"consult_id": harness.consult_id}))["consult"]["locked"] is False
    after = await companion.call("media:offer", fake_offer)
    assert after["error"]["code"] not in {"room_locked", "forbidden"}
    kinds = [e.kind.value for e in await harness.services.stores.consults.log(harness.consult_id)]
    assert kinds.count("locked") == 1 and kinds.count("unlocked") == 1
    for client in (patient, nurse, companion):
        await client.disconnect()


def _payloads(harness: Harness, target: str) -> dict[str, dict[str, Any]]:
    return {
        "hello": {},
        "lobby:check_in": {"consent": True},
        "lobby:admit": {"consult_id": harness.consult_id},
        "lobby:deny": _ref(harness, target),
        "lobby:reinvite": _ref(harness, target),
        "lobby:send_back": _ref(harness, target),
        "room:lock": {"consult_id": harness.consult_id},
        "room:unlock": {"consult_id": harness.consult_id},
        "participant:mute": _ref(harness, target),
        "media:offer": {"type": "offer", "sdp": "v=0", "sources": {}},
        "media:subscribe": {},
        "media:subscriber_answer": {"type": "answer", "sdp": "v=0", "revision": 1},
        "media:receive": {"video": True},
        "media:link_report": {"audio_received": 50, "audio_lost": 0},
        "media:candidate": {"candidate": ""},
        "media:state": {"audio": True, "video": True, "screen": False},
        "participant:devices": {"stage": "in_call", "camera": "ok", "microphone": "ok"},
        "consult:invite": {"role": "companion", "name": "X"},
        "consult:leave": {},
        "consult:end": {"consult_id": harness.consult_id},
        "chat:send": {"consult_id": harness.consult_id, "text": "hola"},
        "chat:read": {"consult_id": harness.consult_id, "seq": 1},
        "chat:history": {"consult_id": harness.consult_id},
    }


async def test_every_event_a_role_may_not_send_is_forbidden_and_changes_nothing(harness: Harness) -> None:
    patient, _, nurse, _ = await _live(harness)
    patient_id = (await patient.call("hello", {}))["participant_id"]
    clients: list[tuple[str, Role, bool, socketio.AsyncClient, EventLog]] = [
        ("patient", Role.PATIENT, True, patient, EventLog())
    ]
    for role in ("companion", "interpreter", "observer", "physician", "coordinator"):
        invitation = await _invite(nurse, role, f"{role} by link")
        client, events = await connect_client(harness.url, token=invitation["token"])
        clients.append((f"{role} by link", Role(role), True, client, events))
    # A supervisor signs in but hosts nothing: every consult event is forbidden to it.
    for username, role in (
        ("supervisa", Role.SUPERVISOR),
        ("medica", Role.PHYSICIAN),
        ("coordina", Role.COORDINATOR),
    ):
        client, events = await _staff(harness, username, role)
        clients.append((f"{role.value} account", role, False, client, events))
    # A staff account never holds more than its role: a link-holder with a staff role holds less.
    hello = await clients[-1][3].call("hello", {})
    assert "queue" in hello
    supervisor = await clients[-3][3].call("hello", {})
    assert supervisor["role"] == "supervisor" and "queue" not in supervisor and supervisor["consult"] is None
    link_physician = await clients[4][3].call("hello", {})
    assert "queue" not in link_physician and link_physician["consult"]["consult_id"] == harness.consult_id

    events = harness.services.signaling.event_actions
    payloads = _payloads(harness, patient_id)
    assert set(events) == set(payloads), "every signaling event is in this test"
    before = await _snapshot(harness)
    tried = 0
    for label, role, via_link, client, _ in clients:
        for event, action in events.items():
            if action is None or may(role, action, via_link=via_link):
                continue
            reply = await client.call(event, payloads[event])
            assert reply["ok"] is False and reply["error"]["code"] == "forbidden", (label, event, reply)
            tried += 1
        if not may(role, Action.SHARE_SCREEN, via_link=via_link):
            screen = {"audio": True, "video": True, "screen": True}
            reply = await client.call("media:state", screen)
            assert reply["error"]["code"] == "forbidden", (label, reply)
            tried += 1
    assert tried >= 70
    assert await _snapshot(harness) == before
    for _, _, _, client, _ in clients:
        await client.disconnect()
    await nurse.disconnect()


async def test_another_nurse_may_not_send_back_lock_or_mute_in_a_consult_she_does_not_host(
    harness: Harness,
) -> None:
    patient, _, nurse, _ = await _live(harness)
    patient_id = (await patient.call("hello", {}))["participant_id"]
    other, other_events = await _staff(harness, "otra", Role.NURSE)
    before = await _snapshot(harness)
    for event, payload in (
        ("lobby:send_back", _ref(harness, patient_id)),
        ("lobby:deny", _ref(harness, patient_id)),
        ("room:lock", {"consult_id": harness.consult_id}),
        ("participant:mute", _ref(harness, patient_id)),
    ):
        reply = await other.call(event, payload)
        assert reply["error"]["code"] in {"not_your_consult", "invalid_state"}, (event, reply)
    assert await _snapshot(harness) == before
    assert len(other_events.named("error")) == 4
    for client in (patient, nurse, other):
        await client.disconnect()


async def test_lobby_decisions_about_unknown_people_and_bad_payloads(harness: Harness) -> None:
    patient, _, nurse, _ = await _live(harness)
    before = await _snapshot(harness)
    unknown = await nurse.call("lobby:deny", _ref(harness, "nobody"))
    assert unknown["error"]["code"] == "not_found"
    bad = await nurse.call("lobby:send_back", {"consult_id": harness.consult_id, "participant_id": "../x"})
    assert bad["error"]["code"] == "bad_payload"
    missing = await nurse.call("room:lock", {})
    assert missing["error"]["code"] == "bad_payload"
    assert await _snapshot(harness) == before
    for client in (patient, nurse):
        await client.disconnect()
