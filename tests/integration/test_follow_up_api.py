"""The nurse books the follow-up from the consult (``/api/consults/{id}/follow-up``): a normal
appointment for the consult's own patient, whose NSS and contact never leave the server; only the
consult's host may, and every refusal changes nothing. Also: the session check answers a visitor who
is not signed in without an HTTP error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from rooms.appointments import AppointmentKind, AppointmentStatus
from rooms.roles import Role
from tests.integration.conftest import Harness


class Api:
    def __init__(self, http: aiohttp.ClientSession, url: str, cookie: str | None) -> None:
        self.http, self.url = http, url
        self.headers = {"Cookie": f"tc_session={cookie}"} if cookie else {}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.url + path, json=body, headers=self.headers) as response:
            return response.status, await response.json(content_type=None)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def host(harness: Harness, http: aiohttp.ClientSession) -> AsyncIterator[Api]:
    """The demo nurse, signed in over HTTP, hosting the demo consult (patient checked in, admitted)."""
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    yield Api(http, harness.url, await harness.login())
    for client in (patient, nurse):
        await client.disconnect()


async def free_slot(api: Api, zone: str) -> dict[str, str]:
    """The first free slot of the demo unit from tomorrow on (the patient's calendar)."""
    day = datetime.now(ZoneInfo(zone)).date() + timedelta(days=1)
    for offset in range(7):
        status, body = await api.call(
            "GET", f"/api/slots?unit=UMF-1&date={day + timedelta(offset)}&zone={zone}"
        )
        assert status == 200, body
        if body["slots"]:
            slot: dict[str, str] = body["slots"][0]
            return slot
    raise AssertionError("no free slot in a week")


async def patients_appointments(harness: Harness) -> list[Any]:
    consult = await harness.services.stores.consults.get(harness.consult_id)
    assert consult is not None and consult.patient_nss
    return await harness.services.scheduling.appointments.for_patient(consult.patient_nss)


async def test_the_host_books_a_follow_up_for_the_consults_own_patient(harness: Harness, host: Api) -> None:
    path = f"/api/consults/{harness.consult_id}/follow-up"
    status, context = await host.call("GET", path)
    assert status == 200, context
    assert context["unit"] == "UMF-1" and context["upcoming"] == []
    zone = context["patient_zone"]
    assert zone == "America/Mexico_City"  # the demo patient's zone, kept with their appointment
    slot = await free_slot(host, zone)
    before = await patients_appointments(harness)

    status, body = await host.call("POST", path, {"start": slot["start"]})
    assert status == 201, body
    booked = body["appointment"]
    assert (booked["kind"], booked["status"], booked["unit"]) == ("follow_up", "booked", "UMF-1")
    assert booked["start"] == slot["start"] and booked["patient_zone"] == zone
    assert "patient_link" not in body  # the patient's new link is theirs, not the nurse's page's
    consult = await harness.services.stores.consults.get(harness.consult_id)
    assert consult is not None and consult.patient_nss not in str(body)

    after = await patients_appointments(harness)
    assert len(after) == len(before) + 1
    stored = next(a for a in after if a.appointment_id == booked["appointment_id"])
    assert stored.kind is AppointmentKind.FOLLOW_UP and stored.status is AppointmentStatus.BOOKED
    assert stored.start == datetime.fromisoformat(slot["start"])
    follow_up_consult = await harness.services.stores.consults.get(stored.appointment_id)
    assert follow_up_consult is not None
    assert (follow_up_consult.patient_nss, follow_up_consult.patient_name) == (
        consult.patient_nss,
        consult.patient_name,
    )

    status, context = await host.call("GET", path)
    assert [a["appointment_id"] for a in context["upcoming"]] == [booked["appointment_id"]]
    # The same slot twice is one appointment: the patient already holds it.
    status, body = await host.call("POST", path, {"start": slot["start"]})
    assert (status, body["error"]["code"]) == (409, "double_booking")
    assert len(await patients_appointments(harness)) == len(after)


async def test_only_the_host_may_book_and_bad_requests_change_nothing(
    harness: Harness, host: Api, http: aiohttp.ClientSession
) -> None:
    path = f"/api/consults/{harness.consult_id}/follow-up"
    slot = await free_slot(host, "America/Mexico_City")
    colleague = Api(
        http, harness.url, await harness.staff_cookie("luisa", Role.NURSE, "UMF-1", "Luisa Pérez")
    )
    nobody = Api(http, harness.url, None)
    before = await patients_appointments(harness)
    start = datetime.fromisoformat(slot["start"])
    cases: list[tuple[Api, str, str, Any, int, str]] = [
        (nobody, "POST", path, {"start": slot["start"]}, 401, "auth_required"),
        (nobody, "GET", path, None, 401, "auth_required"),
        (colleague, "POST", path, {"start": slot["start"]}, 403, "not_your_consult"),
        (colleague, "GET", path, None, 403, "not_your_consult"),
        (host, "POST", "/api/consults/c-nope/follow-up", {"start": slot["start"]}, 404, "not_found"),
        (host, "POST", path, {}, 400, "bad_payload"),
        (host, "POST", path, {"start": "mañana"}, 400, "bad_payload"),
        (host, "POST", path, {"start": (start + timedelta(minutes=7)).isoformat()}, 400, "not_a_slot"),
        (host, "POST", path, {"start": (start - timedelta(days=30)).isoformat()}, 400, "past_time"),
    ]
    for api, method, where, body, status, code in cases:
        got, reply = await api.call(method, where, body)
        assert (got, reply["error"]["code"]) == (status, code), (method, where, body, reply)
        assert " / " in reply["error"]["message"]  # Spanish and English
    assert await patients_appointments(harness) == before


async def test_the_session_check_answers_visitors_without_an_error(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    for cookie in (None, "not-a-session"):
        status, body = await Api(http, harness.url, cookie).call("GET", "/api/session")
        assert (status, body) == (200, {"signed_in": False})
    status, body = await Api(http, harness.url, await harness.login()).call("GET", "/api/session")
    assert status == 200
    assert body["signed_in"] is True and body["username"] == "enfermera" and body["unit"] == "UMF-1"
