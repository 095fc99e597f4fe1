"""One name rule at every door: each entry point that takes a person's (or a unit's) name, over the
real server, refuses every bad name of tests/rooms/test_names.py with a clear error and no change, and
keeps every good one as the rule cleans it.

Entry points: booking (``patient.name``), the socket event ``consult:invite``, ``POST
/api/consults/{id}/invites``, inter-unit sessions (``unit_name``) and their sites (``name`` and
``unit_name``), and staff accounts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import socketio

from rooms.names import InvalidName
from rooms.roles import Role
from rooms.staff import StaffMember
from tests.integration.conftest import Harness
from tests.rooms.test_names import BAD_NAMES, GOOD_NAMES
from web.demo import demo_nss


@dataclass
class Door:
    """One entry point: ``send`` tries a name and returns (accepted, stored name or error code)."""

    harness: Harness
    cookie: str = ""
    sockets: list[socketio.AsyncClient] = field(default_factory=list)
    session_id: str = ""
    slots: list[str] = field(default_factory=list)
    accounts: int = 0
    password_hash: str = ""


async def _call(harness: Harness, method: str, path: str, cookie: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.request(
            method, f"{harness.url}{path}", json=body, headers={"Cookie": f"tc_session={cookie}"}
        ) as response:
            return response.status, await response.json()


async def _state(door: Door) -> object:
    """What a refused name must not change: every consult, its log, appointments and staff."""
    stores = door.harness.services.stores
    consults = sorted(await stores.consults.open_consults(), key=lambda c: c.consult_id)
    logs = [len(await stores.consults.log(c.consult_id)) for c in consults]
    appointments = await door.harness.services.scheduling.appointments.for_unit(
        "UMF-1", datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=10)
    )
    next_account = await stores.staff.by_username(f"n{door.accounts}")
    return consults, logs, sorted(a.appointment_id for a in appointments), next_account


# -- the doors -----------------------------------------------------------------------------------


async def _open_booking(door: Door) -> None:
    door.cookie = await door.harness.login()
    day = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    status, slots = await _call(
        door.harness, "GET", f"/api/slots?unit=UMF-1&date={day}&zone=UTC", door.cookie
    )
    assert status == 200
    door.slots = [s["start"] for s in slots["slots"]]


async def _book(door: Door, name: str) -> tuple[bool, str]:
    patient = {
        "nss": demo_nss(),
        "name": name,
        "birth_date": "1990-01-01",
        "time_zone": "UTC",
        "email": "a@b.org",
    }
    body = {"unit": "UMF-1", "start": door.slots[0], "patient": patient}
    status, reply = await _call(door.harness, "POST", "/api/appointments", door.cookie, body)
    if status != 201:
        return False, f"{status} {reply['error']['code']}"
    door.slots.pop(0)
    consult = await door.harness.services.stores.consults.get(reply["appointment"]["consult_id"])
    assert consult is not None
    return True, str(consult.patient_name)


async def _open_call(door: Door) -> None:
    """The demo nurse hosts the demo consult, so she may invite into it."""
    door.cookie = await door.harness.login()
    patient, _ = await door.harness.patient()
    nurse, _ = await door.harness.nurse()
    await patient.call("lobby:check_in", {"consent": True})
    assert (await nurse.call("lobby:admit", {"consult_id": door.harness.consult_id}))["ok"]
    door.sockets = [nurse, patient]


async def _invite_by_socket(door: Door, name: str) -> tuple[bool, str]:
    reply = await door.sockets[0].call("consult:invite", {"role": "companion", "name": name})
    if not reply.get("ok"):
        return False, str(reply["error"]["code"])
    await _call(door.harness, "DELETE", f"/api/invites/{reply['token_id']}", door.cookie)  # room for the next
    return True, str(reply["invitee"]["name"])


async def _invite_by_rest(door: Door, name: str) -> tuple[bool, str]:
    path = f"/api/consults/{door.harness.consult_id}/invites"
    status, reply = await _call(
        door.harness, "POST", path, door.cookie, {"role": "interpreter", "name": name}
    )
    if status != 201:
        return False, f"{status} {reply['error']['code']}"
    await _call(door.harness, "DELETE", f"/api/invites/{reply['token_id']}", door.cookie)
    return True, str(reply["invitee"]["name"])


SESSION = {
    "purpose": "second_opinion",
    "specialty": "Neurología",
    "scheduled_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    "clues": "DFIMS000123",
    "unit_name": "Hospital General de Zona 1",
}


async def _open_session(door: Door) -> None:
    door.cookie = await door.harness.staff_cookie("coord", Role.COORDINATOR, "HGZ-1", "Dra. Coordinadora")
    status, session = await _call(door.harness, "POST", "/api/interunit-sessions", door.cookie, SESSION)
    assert status == 201, session
    door.session_id = session["session_id"]


async def _session_named(door: Door, name: str) -> tuple[bool, str]:
    status, reply = await _call(
        door.harness, "POST", "/api/interunit-sessions", door.cookie, {**SESSION, "unit_name": name}
    )
    if status != 201:
        return False, f"{status} {reply['error']['code']}"
    await _call(door.harness, "DELETE", f"/api/interunit-sessions/{reply['session_id']}", door.cookie)
    return True, str(reply["sites"][0]["unit_name"])


def _site(field_name: str) -> Callable[[Door, str], Awaitable[tuple[bool, str]]]:
    async def add_site(door: Door, name: str) -> tuple[bool, str]:
        site = {"clues": "DFIMS000034", "unit_name": "HGZ 1A", "name": "Dr. Ruiz", "role": "physician"}
        path = f"/api/interunit-sessions/{door.session_id}/sites"
        status, reply = await _call(door.harness, "POST", path, door.cookie, {**site, field_name: name})
        if status != 201:
            return False, f"{status} {reply['error']['code']}"
        site_id = reply["site"]["site_id"]
        await _call(door.harness, "DELETE", f"{path}/{site_id}", door.cookie)  # room for the next
        return True, str(reply["site"][field_name])

    return add_site


async def _nothing(door: Door) -> None:
    return None


async def _staff_account(door: Door, name: str) -> tuple[bool, str]:
    """Staff accounts are made in code (the demo, operators' scripts); the rule lives in StaffMember."""
    username, password = f"n{door.accounts}", "pw-n-123456"
    door.password_hash = door.password_hash or door.harness.services.auth.hash_password(password)
    try:
        member = StaffMember(f"s-{username}", username, name, Role.NURSE, "UMF-1", door.password_hash)
    except InvalidName as error:
        return False, error.code
    await door.harness.services.stores.staff.add(member)
    door.accounts += 1
    status, me = await _call(
        door.harness, "GET", "/api/session", await door.harness.login(password, username)
    )
    assert status == 200
    return True, str(me["full_name"])


DOORS: dict[
    str, tuple[Callable[[Door], Awaitable[None]], Callable[[Door, str], Awaitable[tuple[bool, str]]], str]
] = {
    # An empty field is refused by the request's own check (bad_payload) before the name rule.
    "booking": (_open_booking, _book, "400 invalid_patient|400 bad_payload"),
    "socket consult:invite": (_open_call, _invite_by_socket, "bad_payload"),
    "REST invite": (_open_call, _invite_by_rest, "400 bad_payload"),
    "inter-unit session unit_name": (_open_session, _session_named, "400 bad_payload"),
    "inter-unit site name": (_open_session, _site("name"), "400 bad_payload"),
    "inter-unit site unit_name": (_open_session, _site("unit_name"), "400 bad_payload"),
    "staff account": (_nothing, _staff_account, "invalid_name"),
}


@pytest.mark.parametrize("door_name", list(DOORS))
async def test_every_door_refuses_every_bad_name_and_changes_nothing(
    harness: Harness, door_name: str
) -> None:
    open_door, send, refusal = DOORS[door_name]
    door = Door(harness)
    await open_door(door)
    try:
        for label, name in BAD_NAMES.items():
            before = await _state(door)
            accepted, answer = await send(door, name)
            assert not accepted and answer in refusal.split("|"), (label, answer)
            assert await _state(door) == before, label
    finally:
        for client in door.sockets:
            await client.disconnect()


@pytest.mark.parametrize("door_name", list(DOORS))
async def test_every_door_keeps_every_good_name_as_the_rule_cleans_it(
    harness: Harness, door_name: str
) -> None:
    open_door, send, _ = DOORS[door_name]
    door = Door(harness)
    await open_door(door)
    try:
        for label, (name, stored) in GOOD_NAMES.items():
            assert await send(door, name) == (True, stored), label
    finally:
        for client in door.sockets:
            await client.disconnect()
