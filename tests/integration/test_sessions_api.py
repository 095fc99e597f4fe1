"""Invitations and inter-unit sessions over REST, against the real server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from records.access import AccessContext
from records.facts import PatientFacts
from rooms.roles import Role
from rooms.session_log import EventKind
from tests.integration.conftest import Harness
from tests.support.clients import ConnectionRefused, MediaClient, connect_client, join_call
from web.openapi import build_document


async def _account(harness: Harness, username: str, role: Role) -> str:
    return await harness.staff_cookie(username, role, "HGZ-1", f"Dra. {username}")


async def _call(
    harness: Harness, method: str, path: str, cookie: str | None, body: object = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Cookie": f"tc_session={cookie}"} if cookie else {}
    async with aiohttp.ClientSession() as http:
        response = await http.request(method, f"{harness.url}{path}", json=body, headers=headers)
        return response.status, await response.json()


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).fragment)["t"][0]


async def _state(harness: Harness, consult_id: str) -> tuple[object, int]:
    consult = await harness.services.stores.consults.get(consult_id)
    # Refusals add ``refused`` entries to the log; everything else must stay as it was.
    log = await harness.services.stores.consults.log(consult_id)
    return consult, sum(1 for e in log if e.kind is not EventKind.REFUSED)


async def test_invite_by_rest_then_revoke_makes_the_link_fail(harness: Harness) -> None:
    cookie = await harness.login()
    status, body = await _call(
        harness,
        "POST",
        f"/api/consults/{harness.consult_id}/invites",
        cookie,
        {"role": "interpreter", "name": "Luis"},
    )
    assert status == 201, body
    assert body["invitee"]["role"] == "interpreter" and body["link"].startswith(f"{harness.url}/paciente#t=")
    guest, guest_events = await connect_client(harness.url, token=_token(body["link"]))
    hello = await guest.call("hello", {})
    assert hello["role"] == "interpreter" and hello["participant_id"] == body["invitee"]["participant_id"]

    status, revoked = await _call(harness, "DELETE", f"/api/invites/{body['token_id']}", cookie)
    assert status == 200 and revoked["participant_id"] == hello["participant_id"]
    told = await guest_events.wait_for("lobby:denied")
    assert told["reason"] == "revoked"
    with pytest.raises(ConnectionRefused) as caught:
        await connect_client(harness.url, token=_token(body["link"]))
    assert caught.value.errors[0]["data"]["code"] == "auth_revoked"
    kinds = [e.kind.value for e in await harness.services.stores.consults.log(harness.consult_id)]
    assert kinds.count("invited") == 1 and kinds.count("invite_revoked") == 1
    status, again = await _call(harness, "DELETE", f"/api/invites/{body['token_id']}", cookie)
    assert status == 404 and again["error"]["code"] == "not_found"
    await guest.disconnect()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"role": "patient", "name": "X"}, 400, "bad_payload"),
        ({"role": "companion", "name": "<b>"}, 400, "bad_payload"),
        ({"role": "companion", "name": "X", "extra": 1}, 400, "bad_payload"),
        ({"role": "companion"}, 400, "bad_payload"),
        (["companion"], 400, "bad_payload"),
    ],
)
async def test_bad_invitations_are_refused_and_change_nothing(
    harness: Harness, body: object, status: int, code: str
) -> None:
    cookie = await harness.login()
    before = await _state(harness, harness.consult_id)
    got, reply = await _call(harness, "POST", f"/api/consults/{harness.consult_id}/invites", cookie, body)
    assert (got, reply["error"]["code"]) == (status, code)
    assert "<b>" not in reply["error"]["message"]
    assert await _state(harness, harness.consult_id) == before


async def test_invitations_need_a_signed_in_host(harness: Harness) -> None:
    body = {"role": "companion", "name": "Ana"}
    before = await _state(harness, harness.consult_id)
    status, reply = await _call(harness, "POST", f"/api/consults/{harness.consult_id}/invites", None, body)
    assert (status, reply["error"]["code"]) == (401, "auth_required")
    status, reply = await _call(harness, "POST", "/api/consults/c-nope/invites", await harness.login(), body)
    assert (status, reply["error"]["code"]) == (404, "not_found")
    # Once the nurse hosts the consult, another staff member may not invite into it.
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    await patient.call("lobby:check_in", {"consent": True})
    await nurse.call("lobby:admit", {"consult_id": harness.consult_id})
    before = await _state(harness, harness.consult_id)
    other = await _account(harness, "otra", Role.NURSE)
    status, reply = await _call(harness, "POST", f"/api/consults/{harness.consult_id}/invites", other, body)
    assert (status, reply["error"]["code"]) == (403, "not_your_consult")
    assert await _state(harness, harness.consult_id) == before
    for client in (patient, nurse):
        await client.disconnect()


SESSION = {
    "purpose": "case_presentation",
    "specialty": "Neurología",
    "scheduled_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    "duration_minutes": 60,
    "clues": "DFIMS000123",
    "unit_name": "Hospital General de Zona 1",
}


async def test_a_coordinator_runs_an_inter_unit_session_with_up_to_eight_sites(harness: Harness) -> None:
    cookie = await _account(harness, "coord", Role.COORDINATOR)
    status, options = await _call(harness, "GET", "/api/interunit-options", cookie)
    assert status == 200 and options["max_sites"] == 8 and "Neurología" in options["specialties"]
    assert {p["value"] for p in options["purposes"]} >= {"second_opinion", "surgical_planning"}

    status, session = await _call(harness, "POST", "/api/interunit-sessions", cookie, SESSION)
    assert status == 201, session
    session_id = session["session_id"]
    assert session["purpose_label"]["es"] == "Presentación de caso hospitalizado"
    assert [s["clues"] for s in session["sites"]] == ["DFIMS000123"]
    stored = await harness.services.stores.consults.get(session_id)
    assert stored is not None and stored.unit == "HGZ-1"  # the coordinator's unit lists the session

    links = []
    for n in range(1, 8):
        site = {
            "clues": f"mcssa{n:06d}",
            "unit_name": f"Hospital {n}",
            "name": f"Dr. {n}",
            "role": "physician",
        }
        status, body = await _call(
            harness, "POST", f"/api/interunit-sessions/{session_id}/sites", cookie, site
        )
        assert status == 201, body
        assert body["site"]["clues"] == f"MCSSA{n:06d}"
        links.append(body)
    before = await _state(harness, session_id)
    ninth = {"clues": "MCSSA000009", "unit_name": "Hospital 9", "name": "Dr. 9", "role": "physician"}
    status, refused = await _call(
        harness, "POST", f"/api/interunit-sessions/{session_id}/sites", cookie, ninth
    )
    assert (status, refused["error"]["code"]) == (409, "too_many_sites")
    assert await _state(harness, session_id) == before

    status, full = await _call(harness, "GET", f"/api/interunit-sessions/{session_id}", cookie)
    assert status == 200 and len(full["sites"]) == 8
    status, listed = await _call(harness, "GET", "/api/interunit-sessions", cookie)
    assert [s["session_id"] for s in listed["sessions"]] == [session_id]

    # A site's link opens the session room: the specialist joins its media as a physician by link.
    specialist, _ = await connect_client(harness.url, token=links[0]["token"])
    hello = await specialist.call("hello", {})
    assert hello["role"] == "physician" and "queue" not in hello
    assert hello["consult"]["kind"] == "interunit"
    media = MediaClient((10, 200, 10))
    try:
        assert (await join_call(specialist, media))["ok"]
    finally:
        await media.close()
    forbidden = await specialist.call("room:lock", {"consult_id": session_id})
    assert forbidden["error"]["code"] == "forbidden"

    # Removing a site: its link fails, and its place is free again.
    site_id = links[0]["site"]["site_id"]
    status, after = await _call(
        harness, "DELETE", f"/api/interunit-sessions/{session_id}/sites/{site_id}", cookie
    )
    assert status == 200 and len(after["sites"]) == 7
    with pytest.raises(ConnectionRefused):
        await connect_client(harness.url, token=links[0]["token"])
    status, _ = await _call(harness, "POST", f"/api/interunit-sessions/{session_id}/sites", cookie, ninth)
    assert status == 201
    await specialist.disconnect()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"purpose": "chat"}, "bad_payload"),
        ({"specialty": "Astrología"}, "unknown_specialty"),
        ({"scheduled_at": "tomorrow"}, "bad_payload"),
        ({"scheduled_at": "2026-11-23T16:00:00"}, "bad_payload"),
        ({"clues": "12"}, "bad_payload"),
        ({"duration_minutes": 1}, "bad_payload"),
        ({"unit_name": "x" * 200}, "bad_payload"),
        ({"patient_nss": "12345"}, "invalid_nss"),
    ],
)
async def test_bad_session_input_is_400_and_creates_nothing(
    harness: Harness, change: dict[str, object], code: str
) -> None:
    cookie = await _account(harness, "coord", Role.COORDINATOR)
    before = len(await harness.services.stores.consults.open_consults())
    status, reply = await _call(harness, "POST", "/api/interunit-sessions", cookie, {**SESSION, **change})
    assert (status, reply["error"]["code"]) == (400, code)
    assert "x" * 50 not in reply["error"]["message"]
    assert len(await harness.services.stores.consults.open_consults()) == before


async def test_a_session_about_a_patient_lets_the_coordinator_write_its_conclusions(harness: Harness) -> None:
    cookie = await _account(harness, "coord", Role.COORDINATOR)
    nss, unregistered = "92919084431", "79927398713"
    ctx = AccessContext.staff("staff-coord", "Dra. coord", Role.COORDINATOR, "test")
    await harness.services.records.ensure_patient(
        PatientFacts(nss, "Paciente Hospitalizado", date(1961, 5, 4)), ctx
    )

    before = len(await harness.services.stores.consults.open_consults())
    status, refused = await _call(
        harness, "POST", "/api/interunit-sessions", cookie, {**SESSION, "patient_nss": unregistered}
    )
    assert (status, refused["error"]["code"]) == (404, "unknown_patient")
    assert len(await harness.services.stores.consults.open_consults()) == before

    status, session = await _call(
        harness, "POST", "/api/interunit-sessions", cookie, {**SESSION, "patient_nss": nss}
    )
    assert status == 201, session
    assert session["about_a_patient"] is True and nss not in str(session)  # never shown to the sites
    status, opened = await _call(
        harness, "POST", f"/api/consults/{session['session_id']}/note", cookie, {"template": "inter-unit"}
    )
    assert status == 200, opened
    assert opened["note"]["template"] == "inter-unit" and opened["note"]["version"] == 1


async def test_only_the_coordinator_creates_and_manages_sessions(harness: Harness) -> None:
    nurse = await harness.login()
    before = len(await harness.services.stores.consults.open_consults())
    status, reply = await _call(harness, "POST", "/api/interunit-sessions", nurse, SESSION)
    assert (status, reply["error"]["code"]) == (403, "forbidden")
    status, reply = await _call(harness, "POST", "/api/interunit-sessions", None, SESSION)
    assert status == 401
    assert len(await harness.services.stores.consults.open_consults()) == before

    coordinator = await _account(harness, "coord", Role.COORDINATOR)
    _, session = await _call(harness, "POST", "/api/interunit-sessions", coordinator, SESSION)
    other = await _account(harness, "coord2", Role.COORDINATOR)
    path = f"/api/interunit-sessions/{session['session_id']}"
    site = {"clues": "MCSSA000001", "unit_name": "H", "name": "Dr", "role": "nurse"}
    for method, suffix, body in (("GET", "", None), ("POST", "/sites", site)):
        status, reply = await _call(harness, method, path + suffix, other, body)
        assert (status, reply["error"]["code"]) == (403, "not_your_consult")
    status, reply = await _call(harness, "GET", "/api/interunit-sessions/iu-nope", coordinator)
    assert status == 404
    status, reply = await _call(harness, "GET", f"/api/interunit-sessions/{harness.consult_id}", coordinator)
    assert status == 404, "a patient consult is not an inter-unit session"
    status, reply = await _call(harness, "DELETE", f"{path}/sites/{session['coordinator_id']}", coordinator)
    assert (status, reply["error"]["code"]) == (409, "invalid_state")
    bad_role = {**site, "role": "companion"}
    status, reply = await _call(harness, "POST", path + "/sites", coordinator, bad_role)
    assert (status, reply["error"]["code"]) == (400, "bad_payload")


def test_every_route_is_described_for_openapi() -> None:
    paths = build_document()["paths"]
    sessions_paths = {
        path
        for path, item in paths.items()
        if any(op["tags"][0] in ("invitations", "inter-unit sessions") for op in item.values())
    }
    assert sessions_paths == {
        "/api/consults/{consult_id}/invites",
        "/api/invites/{token_id}",
        "/api/interunit-options",
        "/api/interunit-sessions",
        "/api/interunit-sessions/{session_id}",
        "/api/interunit-sessions/{session_id}/sites",
        "/api/interunit-sessions/{session_id}/sites/{site_id}",
    }
    for path in sessions_paths:
        for operation in paths[path].values():
            assert operation["responses"] and operation["summary"]
