"""The chat through the real server: a waiting patient and the unit's staff, then everyone in the
call (companions, interpreters, an inter-unit session's sites); order, read marks, catching up after
a reconnection, and every bad input refused with its code and nothing stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import socketio

from rooms import chat as rules
from rooms.consult import Actor
from rooms.roles import Role
from rooms.session_log import EventKind
from tests.integration.conftest import Harness
from tests.support.clients import EventLog, connect_client


async def _chat_entries(harness: Harness) -> list[Any]:
    log = await harness.services.stores.consults.log(harness.consult_id)
    return [e for e in log if e.kind in (EventKind.CHAT_MESSAGE, EventKind.CHAT_READ)]


async def _send(client: socketio.AsyncClient, harness: Harness, text: str) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call("chat:send", {"consult_id": harness.consult_id, "text": text})
    return reply


async def test_a_waiting_patient_and_the_units_staff_chat_in_order_with_read_marks(harness: Harness) -> None:
    patient, patient_events = await harness.patient()
    nurse, nurse_events = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]

    asked = await _send(patient, harness, "¿Cuánto falta?")
    assert asked["ok"], asked
    assert asked["message"]["seq"] == 1
    # Nobody hosts the consult yet: the unit's staff hear it from their list.
    heard = await nurse_events.wait_for("chat:message", lambda m: m["seq"] == 1)
    assert heard["text"] == "¿Cuánto falta?" and heard["from"]["role"] == "patient"

    answered = await _send(nurse, harness, "Le atiendo en 5 minutos")
    assert answered["ok"] and answered["message"]["seq"] == 2
    reply = await patient_events.wait_for("chat:message", lambda m: m["seq"] == 2)
    assert reply["from"]["role"] == "nurse"

    read = await patient.call("chat:read", {"consult_id": harness.consult_id, "seq": 2})
    assert read == {"ok": True, "seq": 2}
    receipt = await nurse_events.wait_for("chat:read")
    assert receipt["seq"] == 2 and receipt["participant_id"] == asked["message"]["from"]["participant_id"]
    # Reading the same again records nothing more.
    assert (await patient.call("chat:read", {"consult_id": harness.consult_id, "seq": 1}))["seq"] == 2
    assert [e.kind for e in await _chat_entries(harness)] == [
        EventKind.CHAT_MESSAGE,
        EventKind.CHAT_MESSAGE,
        EventKind.CHAT_READ,
    ]

    # Admitted, the chat goes on in the call: the same numbering continues.
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    assert (await _send(nurse, harness, "Ya estamos en la llamada"))["message"]["seq"] == 3


async def test_a_reconnecting_page_gets_what_it_missed(harness: Harness) -> None:
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await _send(patient, harness, "uno"))["ok"]
    await patient.disconnect()
    assert (await _send(nurse, harness, "dos"))["ok"]
    assert (await _send(nurse, harness, "tres"))["ok"]

    again, _ = await harness.patient()
    history = await again.call("chat:history", {"consult_id": harness.consult_id, "after": 1})
    assert history["ok"], history
    assert [m["text"] for m in history["messages"]] == ["dos", "tres"]
    assert [m["seq"] for m in history["messages"]] == [2, 3]
    assert history["full"] is False and history["max_text"] == rules.MAX_TEXT


async def test_markup_is_refused_and_text_that_only_looks_like_it_is_kept(harness: Harness) -> None:
    patient, _ = await harness.patient()
    _nurse, nurse_events = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    for script in (
        "<img src=x onerror=alert(1)>",
        "hola <script>alert('x')</script>",
        "</b>",
        "< svg onload=alert(1)>",
        "<!-- nada -->",
    ):
        reply = await _send(patient, harness, script)
        assert not reply["ok"] and reply["error"]["code"] == "chat_markup", (script, reply)
        assert "etiquetas" in reply["error"]["message_es"]
    assert await _chat_entries(harness) == []
    text = '5 < 7 & 8 > 3, <3 "comillas"'
    assert (await _send(patient, harness, text))["ok"]
    heard = await nurse_events.wait_for("chat:message")
    assert heard["text"] == text  # stored and sent as the text it is; pages set textContent


async def test_bad_messages_are_refused_with_their_code_and_nothing_is_stored(harness: Harness) -> None:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    cases = {
        "chat_empty": {"consult_id": harness.consult_id, "text": " \n\u200b "},
        "chat_too_long": {"consult_id": harness.consult_id, "text": "a" * (rules.MAX_TEXT + 1)},
        "bad_payload": {"consult_id": harness.consult_id, "text": 5},
        "payload_too_large": {"consult_id": harness.consult_id, "text": "a" * 70_000},
        "not_your_consult": {"consult_id": "someone-elses-consult", "text": "hola"},
    }
    for code, payload in cases.items():
        reply = await patient.call("chat:send", payload)
        assert not reply["ok"] and reply["error"]["code"] == code, (code, reply)
    assert await _chat_entries(harness) == []


async def test_a_flood_is_rate_limited_and_refused_messages_are_not_stored(harness: Harness) -> None:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    codes = [
        (await _send(patient, harness, f"mensaje {n}"))
        for n in range(30)  # far faster than one a second
    ]
    accepted = [r for r in codes if r["ok"]]
    refused = [r for r in codes if not r["ok"]]
    assert refused and {r["error"]["code"] for r in refused} == {"rate_limited"}
    assert "espere" in refused[0]["error"]["message_es"]
    stored = await _chat_entries(harness)
    assert len(stored) == len(accepted)
    assert [int(e.detail["seq"]) for e in stored] == list(range(1, len(accepted) + 1))


async def test_people_outside_the_consult_cannot_read_or_write_it(harness: Harness) -> None:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    other_unit = await harness.staff_cookie("otra", Role.NURSE, "UMF-9", "Enfermera Otra")
    stranger, _ = await connect_client(harness.url, cookie=other_unit)
    supervisor_cookie = await harness.staff_cookie("sup", Role.SUPERVISOR, "UMF-1", "Supervisora Uno")
    supervisor, _ = await connect_client(harness.url, cookie=supervisor_cookie)
    ref = {"consult_id": harness.consult_id}
    assert (await _send(stranger, harness, "hola"))["error"]["code"] == "wrong_unit"
    assert (await stranger.call("chat:history", ref))["error"]["code"] == "wrong_unit"
    assert (await _send(supervisor, harness, "hola"))["error"]["code"] == "forbidden"
    # Once a nurse hosts it, another nurse of the same unit is out of it too.
    nurse, _ = await harness.nurse()
    assert (await nurse.call("lobby:admit", ref))["ok"]
    colleague_cookie = await harness.staff_cookie("colega", Role.NURSE, "UMF-1", "Enfermera Colega")
    colleague, _ = await connect_client(harness.url, cookie=colleague_cookie)
    assert (await _send(colleague, harness, "hola"))["error"]["code"] == "not_your_consult"
    assert await _chat_entries(harness) == []
    # An invitee joins the chat once admitted into the call, not before.
    invited = await nurse.call("consult:invite", {"role": "interpreter", "name": "Intérprete Uno"})
    interpreter, _ = await connect_client(harness.url, token=invited["token"])
    assert (await _send(interpreter, harness, "hola"))["error"]["code"] == "invalid_state"
    # After the end nobody writes.
    assert (await nurse.call("consult:end", ref))["ok"]
    assert (await _send(nurse, harness, "adiós"))["error"]["code"] == "consult_ended"
    assert await _chat_entries(harness) == []


async def test_a_full_chat_refuses_more(harness: Harness) -> None:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    store = harness.services.stores.consults
    consult = await store.get(harness.consult_id)
    assert consult is not None
    hello = await patient.call("hello", {})
    actor = Actor(hello["participant_id"], Role.PATIENT, via_link=True)
    for _ in range(rules.MAX_MESSAGES):
        event = rules.message_event(consult, actor, "P", "x", harness.clock())
        assert await store.append_numbered(harness.consult_id, event, rules.MAX_MESSAGES) is not None
    reply = await _send(patient, harness, "uno más")
    assert reply["error"]["code"] == "chat_full"
    assert len(await _chat_entries(harness)) == rules.MAX_MESSAGES
    history = await patient.call("chat:history", {"consult_id": harness.consult_id, "after": 499})
    assert history["full"] is True and len(history["messages"]) == 1


async def _everyone_hears_everyone_in_order(
    consult_id: str, people: dict[str, tuple[socketio.AsyncClient, EventLog]]
) -> None:
    """Each person writes once, in turn; every page gets every message, numbered in one order."""
    sent = []
    for name, (client, _) in people.items():
        reply = await client.call("chat:send", {"consult_id": consult_id, "text": f"Soy {name}"})
        assert reply["ok"], (name, reply)
        sent.append((reply["message"]["seq"], f"Soy {name}", reply["message"]["from"]["role"]))
    assert [seq for seq, _, _ in sent] == list(range(1, len(people) + 1))
    for name, (_, events) in people.items():
        await events.wait_for("chat:message", lambda m: m["seq"] == len(people))
        heard = [(m["seq"], m["text"], m["from"]["role"]) for m in events.named("chat:message")]
        assert heard == sent, name


async def _in_the_call(client: socketio.AsyncClient) -> None:
    """Joined receive-only (no camera or microphone): in the call, so in its chat."""
    reply = await client.call("media:subscribe", {})
    assert reply["ok"], reply


async def test_a_companion_and_an_interpreter_chat_with_the_patient_and_the_nurse(harness: Harness) -> None:
    patient = await harness.patient()
    nurse = await harness.nurse()
    assert (await patient[0].call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse[0].call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    people = {"paciente": patient, "enfermera": nurse}
    for role, name in (("companion", "acompañante"), ("interpreter", "intérprete")):
        invited = await nurse[0].call("consult:invite", {"role": role, "name": f"Invitada {role}"})
        assert invited["ok"], invited
        guest = await connect_client(harness.url, token=invited["token"])
        await _in_the_call(guest[0])
        people[name] = guest
    await _everyone_hears_everyone_in_order(harness.consult_id, people)
    roles = [e.actor_role for e in await _chat_entries(harness)]
    assert roles == [Role.PATIENT, Role.NURSE, Role.COMPANION, Role.INTERPRETER]


async def test_the_sites_of_an_inter_unit_session_chat_with_its_coordinator(harness: Harness) -> None:
    cookie = await harness.staff_cookie("coord", Role.COORDINATOR, "HGZ-1", "Dra. Coordinadora")
    headers = {"Cookie": f"tc_session={cookie}", "Origin": harness.url}
    session = {
        "purpose": "second_opinion",
        "specialty": "Neurología",
        "scheduled_at": (harness.clock() + timedelta(hours=1)).isoformat(),
        "clues": "DFIMS000123",
        "unit_name": "Hospital General de Zona 1",
    }
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{harness.url}/api/interunit-sessions", json=session) as response:
            assert response.status == 201, await response.text()
            session_id = (await response.json())["session_id"]
        tokens = []
        for n in (1, 2):
            site = {
                "clues": f"MCSSA{n:06d}",
                "unit_name": f"Hospital {n}",
                "name": f"Dr. {n}",
                "role": "physician",
            }
            async with http.post(
                f"{harness.url}/api/interunit-sessions/{session_id}/sites", json=site
            ) as response:
                assert response.status == 201, await response.text()
                tokens.append((await response.json())["token"])
    coordinator = await connect_client(harness.url, cookie=cookie)
    await _in_the_call(coordinator[0])
    people = {"coordinadora": coordinator}
    for n, token in enumerate(tokens, 1):
        site_client = await connect_client(harness.url, token=token)
        await _in_the_call(site_client[0])
        people[f"sede {n}"] = site_client
    await _everyone_hears_everyone_in_order(session_id, people)
