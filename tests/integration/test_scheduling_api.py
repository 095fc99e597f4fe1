"""The scheduling REST API over real HTTP: booking, bad input, check-in rules, the queue, "next patient".

The server runs with the program's real service hours (Mexico City, Mon-Fri 08:00-20:00) and a
clock the test sets, so every answer is deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from rooms import consult as rules
from rooms.roles import Role
from rooms.staff import StaffMember
from rooms.tokens import JoinClaims, issue
from tests.support.clients import connect_client, refusal_code
from tests.support.services import SetClock
from web.app import SERVICES, Services, create_app
from web.config import Settings

MONDAY_0950 = datetime(2026, 3, 2, 15, 50, tzinfo=UTC)  # Monday 09:50 in Mexico City
SLOT_1000 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
PASSWORD = "scheduling-password-123"
NSS = ["92919084431", "79927398713", "12345678903", "11111111115", "22222222220", "33333333335"]


@dataclass
class Api:
    url: str
    services: Services
    clock: SetClock
    cookies: dict[str, str]

    async def call(
        self, method: str, path: str, who: str | None = None, body: Any = None, headers: Any = None
    ) -> tuple[int, Any]:
        cookies = {"tc_session": self.cookies[who]} if who else {}
        async with aiohttp.ClientSession(cookies=cookies) as http:
            async with http.request(method, f"{self.url}{path}", json=body, headers=headers) as response:
                return response.status, await response.json()

    async def count(self, unit: str = "UMF-1") -> int:
        found = await self.services.scheduling.appointments.for_unit(
            unit, MONDAY_0950 - timedelta(days=1), MONDAY_0950 + timedelta(days=100)
        )
        return len(found)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    clock = SetClock(MONDAY_0950)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"scheduling-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_workers=0,
    )
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    services = app[SERVICES]
    cookies = {}
    for username, unit in (("ana", "UMF-1"), ("bea", "UMF-1"), ("cruz", "UMF-2")):
        await services.stores.staff.add(
            StaffMember(
                f"s-{username}",
                username,
                username.title(),
                Role.NURSE,
                unit,
                services.auth.hash_password(PASSWORD),
            )
        )
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{url}/api/session", json={"username": username, "password": PASSWORD}
            )
            assert response.status == 200
            cookies[username] = response.cookies["tc_session"].value
    try:
        yield Api(url, services, clock, cookies)
    finally:
        await server.close()


def booking(
    nss: str = NSS[0], start: datetime = SLOT_1000, unit: str = "UMF-1", **patient: Any
) -> dict[str, Any]:
    return {
        "unit": unit,
        "start": start.isoformat(),
        "kind": "first",
        "patient": {
            "nss": nss,
            "name": "Paciente de Prueba",
            "birth_date": "1990-05-01",
            "email": "paciente@example.org",
            "time_zone": "America/Tijuana",
            "language": "es",
            **patient,
        },
    }


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).fragment)["t"][0]


async def test_booking_returns_the_appointment_and_a_working_link(api: Api) -> None:
    status, slots = await api.call("GET", "/api/slots?unit=UMF-1&date=2026-03-02&zone=America/Tijuana")
    assert status == 200
    assert slots["slots"][0]["start"] == SLOT_1000.isoformat()  # 09:50 now: the 10:00 slot is the first free
    assert slots["slots"][0]["start_local"].startswith("2026-03-02T08:00:00-08:00")
    status, hours = await api.call("GET", "/api/service-hours?zone=Europe/Madrid")
    assert status == 200 and hours["weekly"]["mon"] == ["08:00-20:00"] and hours["open_now"]
    status, body = await api.call("POST", "/api/appointments", "ana", booking())
    assert status == 201, body
    appointment = body["appointment"]
    assert appointment["status"] == "booked" and appointment["start"] == SLOT_1000.isoformat()
    assert body["patient_link"].startswith(f"{api.url}/paciente#t=")
    # The patient exists in the clinical record before any note is written about them.
    assert await api.services.records.patient_id(NSS[0]) is not None
    status, slots = await api.call("GET", "/api/slots?unit=UMF-1&date=2026-03-02")
    assert SLOT_1000.isoformat() not in [s["start"] for s in slots["slots"]]
    # The patient opens the link, checks in and sees their place.
    patient, _ = await connect_client(api.url, token=token_of(body["patient_link"]))
    try:
        reply = await patient.call("lobby:check_in", {"consent": True})
        assert reply["ok"], reply
        auth = {"Authorization": f"Bearer {token_of(body['patient_link'])}"}
        status, place = await api.call("GET", "/api/queue/position", headers=auth)
        assert status == 200 and place["place"] == 1 and place["ahead"] == 0
        assert place["basis"] == "no_nurse_on_duty" and place["expected_wait_minutes"] is None
        status, _ = await api.call("PUT", "/api/nurses/me/state", "ana", {"state": "available"})
        assert status == 200
        status, place = await api.call("GET", "/api/queue/position", headers=auth)
        assert place["expected_wait_minutes"] == 0 and place["nurses_on_duty"] == 1
        status, queue = await api.call("GET", "/api/units/UMF-1/queue", "ana")
        assert status == 200 and [e["consult_id"] for e in queue["entries"]] == [appointment["consult_id"]]
        status, _ = await api.call("GET", "/api/queue/position")
        assert status == 401
    finally:
        await patient.disconnect()


async def test_every_bad_booking_is_a_clear_4xx_and_changes_nothing(api: Api) -> None:
    status, _ = await api.call("POST", "/api/appointments", "ana", booking())
    assert status == 201
    bad = [
        (booking(NSS[1], start=datetime(2026, 3, 3, 9, tzinfo=UTC)), 400, "slot_outside_hours"),  # 03:00
        (booking(NSS[1]), 409, "slot_taken"),
        (booking(NSS[1], start=SLOT_1000 - 20 * MIN), 400, "past_time"),
        (booking("92919084432", start=SLOT_1000 + 20 * MIN), 400, "invalid_nss"),
        (booking(NSS[1], start=SLOT_1000 + 20 * MIN, time_zone="Mars/Olympus"), 400, "unknown_time_zone"),
        (booking(NSS[0], start=SLOT_1000, unit="UMF-2"), 403, "wrong_unit"),  # ana is not of UMF-2
        (booking(NSS[1], start=SLOT_1000 + 7 * MIN), 400, "not_a_slot"),
        (booking(NSS[1], start=SLOT_1000 + timedelta(days=200)), 400, "too_far_ahead"),
        ({**booking(NSS[1], start=SLOT_1000 + 20 * MIN), "start": "mañana"}, 400, "bad_payload"),
        ({**booking(NSS[1], start=SLOT_1000 + 20 * MIN), "kind": "urgent"}, 400, "bad_payload"),
    ]
    for body, expected_status, code in bad:
        status, answer = await api.call("POST", "/api/appointments", "ana", body)
        assert (status, answer["error"]["code"]) == (expected_status, code), answer
        assert " / " in answer["error"]["message"]  # Spanish / English
    assert await api.count() == 1
    assert await api.services.records.patient_id(NSS[1]) is None  # nor registered in the record
    # The same patient in another unit at the same time: a double booking.
    status, answer = await api.call("POST", "/api/appointments", "cruz", booking(unit="UMF-2"))
    assert (status, answer["error"]["code"]) == (409, "double_booking")
    assert await api.count("UMF-2") == 0
    status, answer = await api.call("GET", "/api/slots?unit=UMF-1&date=2026-03-02&zone=Mars/Olympus")
    assert (status, answer["error"]["code"]) == (400, "unknown_time_zone")
    status, answer = await api.call("POST", "/api/appointments", None, booking(NSS[2]))
    assert status == 401
    assert await api.count() == 1


async def test_reschedule_revokes_the_old_link_and_cancel_frees_the_slot(api: Api) -> None:
    status, first = await api.call("POST", "/api/appointments", "ana", booking())
    appointment_id = first["appointment"]["appointment_id"]
    later = SLOT_1000 + 40 * MIN
    status, moved = await api.call(
        "PATCH", f"/api/appointments/{appointment_id}", "ana", {"start": later.isoformat()}
    )
    assert status == 200 and moved["appointment"]["start"] == later.isoformat()
    assert moved["patient_link"] != first["patient_link"]
    old = await refusal_code(api.url, token_of(first["patient_link"]))
    assert old == "auth_revoked"
    status, answer = await api.call(
        "PATCH", f"/api/appointments/{appointment_id}", "cruz", {"start": later.isoformat()}
    )
    assert (status, answer["error"]["code"]) == (403, "wrong_unit")
    status, cancelled = await api.call("DELETE", f"/api/appointments/{appointment_id}", "ana")
    assert status == 200 and cancelled["appointment"]["status"] == "cancelled"
    assert await refusal_code(api.url, token_of(moved["patient_link"])) in ("auth_revoked", "consult_ended")
    status, _ = await api.call("POST", "/api/appointments", "ana", booking(NSS[1], start=later))
    assert status == 201  # the slot is free again


async def test_check_in_outside_hours_and_too_early_are_refused_with_the_opening_time(api: Api) -> None:
    _, body = await api.call("POST", "/api/appointments", "ana", booking(start=SLOT_1000 + 60 * MIN))
    token = token_of(body["patient_link"])
    patient, _ = await connect_client(api.url, token=token)
    try:
        reply = await patient.call("lobby:check_in", {"consent": True})  # 09:50 for 11:00: too early
        assert reply["error"]["code"] == "check_in_not_open"
        assert reply["error"]["opens_at"] == (SLOT_1000 + 45 * MIN).isoformat()
        api.clock.now = datetime(2026, 3, 2, 13, tzinfo=UTC)  # 07:00, before opening
        reply = await patient.call("lobby:check_in", {"consent": True})
        assert reply["error"]["code"] == "outside_service_hours"
        assert reply["error"]["opens_at"] == (SLOT_1000 + 45 * MIN).isoformat()
        consult = await api.services.stores.consults.get(body["appointment"]["consult_id"])
        assert consult is not None and consult.state.value == "scheduled"  # nothing changed
    finally:
        await patient.disconnect()


async def test_two_nurses_pressing_next_at_once_never_get_the_same_patient(api: Api) -> None:
    patients = []
    for i in range(4):  # one nurse per slot by default: four consecutive slots
        status, body = await api.call(
            "POST", "/api/appointments", "ana", booking(NSS[i], start=SLOT_1000 + 20 * i * MIN)
        )
        assert status == 201, body
        client, _ = await connect_client(api.url, token=token_of(body["patient_link"]))
        patients.append(client)
    try:
        for i, client in enumerate(patients):  # each checks in shortly before their slot
            api.clock.now = SLOT_1000 + (20 * i - 5) * MIN
            assert (await client.call("lobby:check_in", {"consent": True}))["ok"]
        status, answer = await api.call("POST", "/api/units/UMF-1/next", "ana")
        assert (status, answer["error"]["code"]) == (409, "nurse_not_available")  # away at first
        for nurse in ("ana", "bea"):
            assert (await api.call("PUT", "/api/nurses/me/state", nurse, {"state": "available"}))[0] == 200
        status, answer = await api.call("POST", "/api/units/UMF-1/next", "cruz")
        assert (status, answer["error"]["code"]) == (403, "wrong_unit")
        assert (await api.call("GET", "/api/units/UMF-1/queue", "cruz"))[0] == 403
        taken: list[str] = []
        for _ in range(2):
            results = await asyncio.gather(
                api.call("POST", "/api/units/UMF-1/next", "ana"),
                api.call("POST", "/api/units/UMF-1/next", "bea"),
            )
            assert [status for status, _ in results] == [200, 200]
            taken += [body["consult_id"] for _, body in results]
            for nurse in ("ana", "bea"):
                await api.services.scheduling.queues.finish_consult("UMF-1", f"s-{nurse}", api.clock.now)
        assert len(set(taken)) == 4
        status, answer = await api.call("POST", "/api/units/UMF-1/next", "ana")
        assert (status, answer["error"]["code"]) == (404, "queue_empty")
    finally:
        for client in patients:
            await client.disconnect()


async def test_a_patient_the_nurse_denies_leaves_the_unit_queue(api: Api) -> None:
    status, body = await api.call("POST", "/api/appointments", "ana", booking())
    assert status == 201, body
    consult_id = body["appointment"]["consult_id"]
    patient, _ = await connect_client(api.url, token=token_of(body["patient_link"]))
    nurse, _ = await connect_client(api.url, cookie=api.cookies["ana"])
    try:
        # The patient's participant id is opaque (never the NSS): the nurse denies that id.
        patient_id = (await patient.call("hello", {}))["participant_id"]
        assert patient_id != NSS[0]
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        assert (await nurse.call("hello", {}))["ok"]
        status, queue = await api.call("GET", "/api/units/UMF-1/queue", "ana")
        assert [e["consult_id"] for e in queue["entries"]] == [consult_id]
        reply = await nurse.call("lobby:deny", {"consult_id": consult_id, "participant_id": NSS[0]})
        assert (reply["ok"], reply["error"]["code"]) == (False, "not_found")  # the NSS names nobody here
        reply = await nurse.call("lobby:deny", {"consult_id": consult_id, "participant_id": patient_id})
        assert reply["ok"], reply
        status, queue = await api.call("GET", "/api/units/UMF-1/queue", "ana")
        assert queue["entries"] == []
        assert (await api.call("PUT", "/api/nurses/me/state", "ana", {"state": "available"}))[0] == 200
        status, answer = await api.call("POST", "/api/units/UMF-1/next", "ana")
        assert (status, answer["error"]["code"]) == (404, "queue_empty")
        # Re-invited, she waits in the queue again, in her old place, and can be taken.
        reply = await nurse.call("lobby:reinvite", {"consult_id": consult_id, "participant_id": patient_id})
        assert reply["ok"], reply
        status, queue = await api.call("GET", "/api/units/UMF-1/queue", "ana")
        assert [e["consult_id"] for e in queue["entries"]] == [consult_id]
    finally:
        await patient.disconnect()
        await nurse.disconnect()


def _ids(update: dict[str, Any]) -> list[str]:
    """The consult ids of a ``queue:diff`` (``consults``) or a ``hello`` reply (``queue``)."""
    return [consult["consult_id"] for consult in update.get("consults", update.get("queue"))]


async def test_a_nurse_lists_and_hears_only_her_own_units_consults(api: Api) -> None:
    """Ana (UMF-1) and Cruz (UMF-2): each console's ``hello`` and ``queue:diff`` carry only her
    unit's consults, and a change in one unit sends nothing to the other's staff."""
    ana, ana_events = await connect_client(api.url, cookie=api.cookies["ana"])
    cruz, cruz_events = await connect_client(api.url, cookie=api.cookies["cruz"])
    patient = None
    try:
        assert (await ana.call("hello", {}))["queue"] == []
        status, body_a = await api.call("POST", "/api/appointments", "ana", booking(NSS[0]))
        assert status == 201, body_a
        consult_a = body_a["appointment"]["consult_id"]
        await ana_events.wait_for("queue:diff", lambda d: _ids(d) == [consult_a])
        status, body_b = await api.call("POST", "/api/appointments", "cruz", booking(NSS[1], unit="UMF-2"))
        assert status == 201, body_b
        consult_b = body_b["appointment"]["consult_id"]
        await cruz_events.wait_for("queue:diff", lambda d: _ids(d) == [consult_b])
        # Cruz heard UMF-2's booking, never UMF-1's (emitted first, on the same connection order).
        assert [_ids(d) for d in cruz_events.named("queue:diff")] == [[consult_b]]
        assert _ids(await ana.call("hello", {})) == [consult_a]
        hello_b = await cruz.call("hello", {})
        assert _ids(hello_b) == [consult_b] and hello_b["queue"][0]["patient_name"] == "Paciente de Prueba"

        # UMF-1's patient checks in: Ana hears it; then UMF-2's last consult ends and Cruz hears her
        # now empty list; a change in UMF-1 (Ana on duty) reaches Ana only.
        patient, _ = await connect_client(api.url, token=token_of(body_a["patient_link"]))
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        await ana_events.wait_for("queue:diff", lambda d: [c["state"] for c in d["consults"]] == ["waiting"])
        # Nor can Cruz take UMF-1's waiting patient by admitting its consult directly.
        refused = await cruz.call("lobby:admit", {"consult_id": consult_a})
        assert not refused["ok"] and refused["error"]["code"] == "wrong_unit"
        assert (await api.services.stores.consults.get(consult_a)).state.value == "waiting"  # type: ignore[union-attr]
        assert (await cruz.call("consult:end", {"consult_id": consult_b}))["ok"]
        await cruz_events.wait_for("queue:diff", lambda d: d["consults_removed"] == [consult_b])
        assert (await api.call("PUT", "/api/nurses/me/state", "ana", {"state": "available"}))[0] == 200
        mine = await ana_events.wait_for("queue:diff", lambda d: d["nurses"] != [])
        assert [n["state"] for n in mine["nurses"]] in (["away"], ["available"])
        assert (await cruz.call("hello", {}))["queue"] == []
        assert [_ids(d) for d in cruz_events.named("queue:diff")] == [[consult_b], []]
        assert {d["unit"] for d in cruz_events.named("queue:diff")} == {"UMF-2"}
        assert {d["unit"] for d in ana_events.named("queue:diff")} == {"UMF-1"}
        assert all(set(_ids(d)) <= {consult_a} for d in ana_events.named("queue:diff"))
        # Each unit's numbers run one by one, whatever the other unit did.
        versions = [d["version"] for d in ana_events.named("queue:diff")]
        assert versions == list(range(versions[0], versions[0] + len(versions)))
    finally:
        for client in (ana, cruz, patient):
            if client is not None:
                await client.disconnect()


async def test_a_consult_without_a_unit_is_listed_only_to_its_host(api: Api) -> None:
    """A consult tied to no unit (e.g. stored before consults had units) is on no unit's list; once
    a nurse hosts it, her own list shows it and she alone hears its changes."""
    now = api.clock.now
    created = rules.create(
        consult_id="c-legacy",
        patient_id=NSS[5],
        patient_name="Paciente Anterior",
        appointment_start=now,
        appointment_end=now + timedelta(minutes=20),
        created_by="test",
        at=now,
    )
    await api.services.stores.consults.add(created)
    claims = JoinClaims(
        "c-legacy",
        NSS[5],
        Role.PATIENT,
        int(now.timestamp()) - 60,
        int(now.timestamp()) + 3600,
        "t-legacy",
    )
    token = issue(b"scheduling-test-secret-key-0123456789", claims)
    ana, ana_events = await connect_client(api.url, cookie=api.cookies["ana"])
    cruz, cruz_events = await connect_client(api.url, cookie=api.cookies["cruz"])
    patient, _ = await connect_client(api.url, token=token)
    try:
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        assert (await ana.call("hello", {}))["queue"] == []
        admitted = await ana.call("lobby:admit", {"consult_id": "c-legacy"})
        assert admitted["ok"], admitted
        update = await ana_events.wait_for("queue:diff", lambda d: _ids(d) == ["c-legacy"])
        assert (
            update["consults"][0]["state"] == "live" and update["version"] is None
        )  # not in a unit's sequence
        assert _ids(await ana.call("hello", {})) == ["c-legacy"]
        assert (await ana.call("consult:end", {"consult_id": "c-legacy"}))["ok"]
        await ana_events.wait_for("queue:diff", lambda d: d["consults_removed"] == ["c-legacy"])
        assert (await cruz.call("hello", {}))["queue"] == []
        assert cruz_events.named("queue:diff") == []
    finally:
        for client in (ana, cruz, patient):
            await client.disconnect()
