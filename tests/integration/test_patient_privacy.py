"""The patient's NSS never leaves the server except to staff through the APIs meant for it.

A consult booked over REST gets an opaque participant id for its patient; the NSS (their identity in
the clinical record) stays in the consult's ``patient_nss``. Here the whole path runs against the real
server, with real media: booking, the patient's link, check-in, "next patient", admission, a
companion invited by the nurse, both in the call with the patient, the consult's end. Everything the
patient's and the companion's sockets receive (every event and every acknowledgement) and both join
tokens (decoded) are searched for the NSS; the staff side still finds the patient by it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import pytest
import socketio
from aiohttp.test_utils import TestServer

from media.ice import restrict_host_addresses
from rooms.roles import Role
from rooms.staff import StaffMember
from rooms.tokens import verify
from tests.integration.test_scheduling_api import MONDAY_0950, NSS, SLOT_1000, SetClock, booking, token_of
from tests.support.clients import EventLog, MediaClient, connect_client, join_call
from web.app import SERVICES, Services, create_app
from web.config import Settings

SECRET = b"privacy-test-secret-key-0123456789abcdef"
PASSWORD = "privacy-password-12345"
RED = (220, 30, 30)
GREEN = (30, 200, 30)


class Replies:
    """Every acknowledgement a client got, beside the events its :class:`EventLog` recorded."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []

    async def call(self, client: socketio.AsyncClient, event: str, payload: Any) -> Any:
        reply = await client.call(event, payload, timeout=30)
        self.received.append((event, reply))
        assert reply.get("ok", True), (event, reply)
        return reply


async def _staff_cookie(url: str, services: Services) -> str:
    await services.stores.staff.add(
        StaffMember("s-ana", "ana", "Ana", Role.NURSE, "UMF-1", services.auth.hash_password(PASSWORD))
    )
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{url}/api/session", json={"username": "ana", "password": PASSWORD})
        assert response.status == 200
        return response.cookies["tc_session"].value


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, Services, str]]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=SECRET,
        secret_key_is_ephemeral=False,
        media_workers=0,
    )
    app = create_app(settings, clock=SetClock(MONDAY_0950))
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    url = str(test_server.make_url("")).rstrip("/")
    try:
        yield url, app[SERVICES], await _staff_cookie(url, app[SERVICES])
    finally:
        await test_server.close()
        aioice.ice.get_host_addresses = original


def _claims(token: str) -> str:
    """A join token's payload, decoded and verified, as text to search."""
    claims = verify(SECRET, token, MONDAY_0950.timestamp())
    return json.dumps(asdict(claims), default=str)


async def test_the_nss_reaches_neither_the_patient_nor_the_companion(
    server: tuple[str, Services, str],
) -> None:
    url, services, cookie = server
    nss = NSS[0]

    async def rest(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession(cookies={"tc_session": cookie}) as http:
            async with http.request(method, f"{url}{path}", json=body) as response:
                return response.status, await response.json()

    status, booked = await rest("POST", "/api/appointments", booking(nss, start=SLOT_1000))
    assert status == 201, booked
    consult_id = booked["appointment"]["consult_id"]
    link = booked["patient_link"]
    patient_token = token_of(link)
    assert nss not in link and nss not in _claims(patient_token)

    # The consult keeps the NSS for the record; the patient's participant id is something else.
    consult = await services.stores.consults.get(consult_id)
    assert consult is not None and consult.patient_nss == nss and consult.record_nss == nss
    assert consult.patient_id != nss and nss not in consult.patient_id
    appointment = await services.scheduling.appointments.get(consult_id)
    assert appointment is not None and appointment.patient_id == nss  # double-booking checks use it

    patient_replies, companion_replies, nurse_replies = Replies(), Replies(), Replies()
    patient, patient_events = await connect_client(url, token=patient_token)
    nurse, _ = await connect_client(url, cookie=cookie)
    companion: socketio.AsyncClient | None = None
    companion_events = EventLog()
    patient_media, companion_media = MediaClient(RED), MediaClient(GREEN)
    try:
        hello = await patient_replies.call(patient, "hello", {})
        patient_id = hello["participant_id"]
        assert patient_id == consult.patient_id and hello["role"] == "patient"
        await patient_replies.call(patient, "lobby:check_in", {"consent": True})
        auth = {"Authorization": f"Bearer {patient_token}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/queue/position", headers=auth) as response:
                assert response.status == 200
                place = await response.json()
        assert place["place"] == 1 and nss not in json.dumps(place)

        # The nurse takes the patient ("next patient"), admits her and invites a companion.
        assert (await rest("PUT", "/api/nurses/me/state", {"state": "available"}))[0] == 200
        status, taken = await rest("POST", "/api/units/UMF-1/next")
        assert status == 200 and taken["consult_id"] == consult_id
        await nurse_replies.call(nurse, "hello", {})
        await nurse_replies.call(nurse, "lobby:admit", {"consult_id": consult_id})
        invited = await nurse_replies.call(nurse, "consult:invite", {"role": "companion", "name": "Hija"})
        companion_token = invited["token"]
        assert nss not in companion_token and nss not in _claims(companion_token)
        companion, companion_events = await connect_client(url, token=companion_token)
        companion_hello = await companion_replies.call(companion, "hello", {})
        assert companion_hello["consult"]["patient_id"] == patient_id
        first = companion_hello["consult"]["participants"][0]
        assert (first["participant_id"], first["role"]) == (patient_id, "patient")

        # Both in the call: the companion receives the patient's media, named by her participant id.
        assert (await join_call(patient, patient_media))["ok"]
        assert (await join_call(companion, companion_media))["ok"]
        await companion_media.wait_for_media(participant=patient_id)
        await patient_replies.call(patient, "media:state", {"audio": True, "video": True, "screen": False})
        await companion_events.wait_for("participant:media", lambda d: d["participant_id"] == patient_id)
        await companion_events.wait_for("media:connection", lambda d: d["participant_id"] == patient_id)

        # Staff still find the patient by the NSS: the admitting nurse was given a role in her care.
        status, found = await rest("GET", f"/fhir/Patient?identifier={nss}")
        assert status == 200 and found["total"] == 1, found
        assert nss in json.dumps(found["entry"][0]["resource"]["identifier"])
        status, staff_view = await rest("GET", f"/api/appointments/{consult_id}")
        assert status == 200 and staff_view["appointment"]["consult_id"] == consult_id

        await nurse_replies.call(nurse, "consult:end", {"consult_id": consult_id})
        await patient_events.wait_for("consult:ended")
        await companion_events.wait_for("consult:ended")
    finally:
        for media in (patient_media, companion_media):
            await media.close()
        for client in (patient, nurse, companion):
            if client is not None:
                await client.disconnect()

    for who, events, replies, media in (
        ("patient", patient_events, patient_replies, patient_media),
        ("companion", companion_events, companion_replies, companion_media),
    ):
        # The media client handles media:subscriber_offer itself (its tracks name participants).
        received = json.dumps([events.events, replies.received, media.offers], default=str)
        names = {name for name, _ in events.events}
        assert {"consult:state", "media:connection", "consult:ended"} <= names, (who, names)
        assert media.offers, who
        assert patient_id in received, who  # they did hear about the patient, by participant id
        assert nss not in received, f"the {who}'s socket received the NSS"
