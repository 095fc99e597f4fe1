"""The patient's lasting summary link through the real server: it reads the signed summary (vitals with
their date, the next appointment) after the join link has died, stops at TC_SUMMARY_LINK_DAYS, stops
when the consult's staff revoke it, and is never a way into a call: the socket server, the queue API
and the join-token verifier refuse it, and its own verifier refuses join tokens.

Time moves with the server's injected clock (``harness.clock``), never by waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from rooms import summary_links, tokens
from rooms.appointments import AppointmentKind
from rooms.roles import Role
from tests.integration.conftest import Harness
from tests.support.clients import ConnectionRefused, connect_client

VITALS = {
    "weight_kg": 72.5,
    "height_cm": 160,
    "systolic_mmhg": 128,
    "diastolic_mmhg": 82,
    "glucose_mg_dl": 104,
    "glucose_fasting": True,
}
NOTE: dict[str, Any] = {
    "reason": {"reason": "Control de presión arterial"},
    "vitals": VITALS,
    "recommendations": {"recommendations": "Tomarse la presión cada mañana y anotarla"},
    "follow-up-plan": {"plan": "Revisar registro de presión", "modality": "teleconsult"},
    "referral": {"needed": False},
}


@dataclass
class Http:
    session: aiohttp.ClientSession
    url: str

    async def call(
        self,
        method: str,
        path: str,
        *,
        bearer: str | None = None,
        cookie: str | None = None,
        body: Any = None,
    ) -> tuple[int, Any]:
        headers = {}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if cookie is not None:
            headers["Cookie"] = f"tc_session={cookie}"
        async with self.session.request(method, self.url + path, json=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def summary(self, token: str) -> tuple[int, Any]:
        return await self.call("GET", "/api/summary", bearer=token)


@dataclass
class Signed:
    """A consult whose note (with reported vitals) is signed, and the people around it."""

    http: Http
    nurse_cookie: str
    signed_at: datetime


@pytest.fixture
async def signed(harness: Harness) -> AsyncIterator[Signed]:
    async with aiohttp.ClientSession() as session:
        http = Http(session, harness.url)
        patient, _ = await harness.patient()
        nurse, _ = await harness.nurse()
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
        cookie = await harness.login()
        status, body = await http.summary(harness.patient_token)
        assert (status, body["error"]["code"]) == (404, "summary_not_ready")
        status, body = await http.call(
            "POST",
            f"/api/consults/{harness.consult_id}/note",
            cookie=cookie,
            body={"template": "first-consult"},
        )
        assert status == 200, body
        note = body["note"]
        status, body = await http.call(
            "PUT",
            f"/api/notes/{note['note_id']}",
            cookie=cookie,
            body={"base_version": note["version"], "content": NOTE},
        )
        assert status == 200, body
        assert (await nurse.call("consult:end", {"consult_id": harness.consult_id}))["ok"]
        status, body = await http.call(
            "POST",
            f"/api/notes/{note['note_id']}/sign",
            cookie=cookie,
            body={"version": body["note"]["version"], "request_id": "sign-1"},
        )
        assert status == 201, body
        signed_at = datetime.fromisoformat(body["note"]["signed_at"])
        for client in (patient, nurse):
            await client.disconnect()
        yield Signed(http, cookie, signed_at)


def _token(link: dict[str, str]) -> str:
    fragment = urlsplit(link["url"]).fragment
    assert fragment.startswith("t=")
    return fragment[2:]


async def _book_follow_up(harness: Harness, days: int) -> datetime:
    """A normal appointment for the same patient (NSS), as a follow-up booked from the note would be."""
    consult = await harness.services.stores.consults.get(harness.consult_id)
    assert consult is not None
    scheduling = harness.services.scheduling
    patient = await scheduling.appointments.get_patient(consult.record_nss)
    assert patient is not None
    start = (harness.clock() + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    booking = await scheduling.book(
        patient=patient, unit="UMF-1", kind=AppointmentKind.FOLLOW_UP, start=start, created_by="test"
    )
    return booking.appointment.start


async def test_summary_link_outlives_the_join_link_and_ends_after_30_days(
    harness: Harness, signed: Signed
) -> None:
    http = signed.http
    follow_up = await _book_follow_up(harness, days=14)
    status, summary = await http.summary(harness.patient_token)
    assert status == 200, summary

    # The vitals the patient reported, with when (the visit's start, an instant with its offset).
    vitals = summary["vitals"]
    assert datetime.fromisoformat(vitals["date"]) <= signed.signed_at
    items = {item["key"]: item for item in vitals["items"]}
    assert [item["key"] for item in vitals["items"]] == [
        "blood_pressure",
        "weight",
        "height",
        "bmi",
        "glucose",
    ]
    assert items["blood_pressure"]["values"] == [128, 82] and items["blood_pressure"]["unit"] == "mm Hg"
    assert items["blood_pressure"]["label_es"] == "Presión arterial"
    assert items["weight"]["values"] == [72.5] and items["weight"]["unit"] == "kg"
    assert items["bmi"]["values"] == [28.3] and items["bmi"]["note_en"] == "high"
    assert items["glucose"]["values"] == [104] and items["glucose"]["note_es"] == "en ayuno"

    # The next appointment (not this one), in UTC with the service's zone to show it in.
    nxt = summary["next_appointment"]
    assert datetime.fromisoformat(nxt["start"]) == follow_up
    assert (nxt["service_zone"], nxt["kind"]) == ("America/Mexico_City", "follow_up")

    # The lasting link: a summary token, counted from the signing, the same however often it is asked for.
    link = summary["summary_link"]
    assert link["url"].startswith(f"{harness.url}/resumen#t=s1.")
    assert datetime.fromisoformat(link["expires_at"]) == signed.signed_at.replace(microsecond=0) + timedelta(
        days=30
    )
    token = _token(link)
    status, again = await http.summary(token)
    assert status == 200 and again["summary_link"] == link and again["vitals"] == vitals

    # Three hours on, the join link has expired; the summary link still reads the summary.
    harness.clock.advance(timedelta(hours=3))
    status, body = await http.summary(harness.patient_token)
    assert (status, body["error"]["code"]) == (401, "auth_expired")
    status, later = await http.summary(token)
    assert status == 200 and later["notes"] == summary["notes"]

    # Up to 30 days after the signing, and not a minute more.
    harness.clock.advance(signed.signed_at + timedelta(days=30, seconds=-60) - harness.clock())
    status, _ = await http.summary(token)
    assert status == 200
    harness.clock.advance(timedelta(seconds=61))
    status, body = await http.summary(token)
    assert (status, body["error"]["code"]) == (401, "summary_link_expired")
    assert (
        "Pida una copia a su unidad" in body["error"]["message"]
        and "Ask your clinic" in body["error"]["message"]
    )
    assert "Presión" not in str(body)


async def test_revoked_summary_link_is_refused(harness: Harness, signed: Signed) -> None:
    http = signed.http
    status, summary = await http.summary(harness.patient_token)
    assert status == 200
    token = _token(summary["summary_link"])
    path = f"/api/consults/{harness.consult_id}/summary-link"

    # Only signed-in staff of the consult (its host, or its unit's staff) may revoke; others change nothing.
    status, body = await http.call("DELETE", path)
    assert (status, body["error"]["code"]) == (401, "auth_required")
    stranger = await harness.staff_cookie("otra", Role.NURSE, "UMF-9", "Enf. Otra Unidad")
    status, body = await http.call("DELETE", path, cookie=stranger)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await http.call(
        "DELETE", "/api/consults/c-unknown/summary-link", cookie=signed.nurse_cookie
    )
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, _ = await http.summary(token)
    assert status == 200

    colleague = await harness.staff_cookie("colega", Role.NURSE, "UMF-1", "Enf. Colega")
    status, body = await http.call("DELETE", path, cookie=colleague)
    assert (status, body) == (200, {"consult_id": harness.consult_id, "summary_link_revoked": True})
    status, body = await http.call("DELETE", path, cookie=signed.nurse_cookie)  # the host, again: no change
    assert status == 200 and body["summary_link_revoked"] is True

    status, body = await http.summary(token)
    assert (status, body["error"]["code"]) == (401, "summary_link_revoked")
    assert "fue cancelado" in body["error"]["message"] and "was cancelled" in body["error"]["message"]
    # The join link (while it lives) still reads the summary, but offers no lasting link any more.
    status, body = await http.summary(harness.patient_token)
    assert status == 200 and body["summary_link"] is None and body["notes"] == summary["notes"]


async def test_summary_link_never_joins_a_call(harness: Harness, signed: Signed) -> None:
    http = signed.http
    status, summary = await http.summary(harness.patient_token)
    assert status == 200
    token = _token(summary["summary_link"])
    now = harness.clock().timestamp()
    key = harness.services.settings.secret_key

    # The socket server (a real socket.io client) refuses it, before and after the join link expires.
    for _ in range(2):
        with pytest.raises(ConnectionRefused) as refused:
            await connect_client(harness.url, token=token)
        [refusal] = refused.value.errors
        assert refusal["data"]["code"] == "auth_invalid"  # refused as a token, not for the ended consult
        harness.clock.advance(timedelta(hours=3))

    # Nor does any join-token check take it: the verifier, with either key, and the queue API.
    for verify_key in (key, summary_links.derive_key(key)):
        with pytest.raises(tokens.TokenError) as error:
            tokens.verify(verify_key, token, now)
        assert error.value.code is tokens.TokenErrorCode.INVALID
    status, body = await http.call("GET", "/api/queue/position", bearer=token)
    assert (status, body["error"]["code"]) == (401, "auth_invalid")

    # The other way round: a join token is never a summary link, even relabelled with the summary prefix.
    _, payload, signature = harness.patient_token.split(".")
    for join in (harness.patient_token, f"{summary_links.PREFIX}.{payload}.{signature}"):
        with pytest.raises(tokens.TokenError) as error:
            summary_links.verify(summary_links.derive_key(key), join, now)
        assert error.value.code is tokens.TokenErrorCode.INVALID
    relabelled = f"{summary_links.PREFIX}.{payload}.{signature}"
    status, body = await http.summary(relabelled)
    assert (status, body["error"]["code"]) == (401, "auth_invalid")

    # A summary link signed with the join key (someone who learnt how links are built) is refused too.
    claims = summary_links.SummaryClaims(
        harness.consult_id, summary_links.link_id(harness.consult_id), int(now), int(now) + 3600
    )
    status, body = await http.summary(summary_links.issue(key, claims))
    assert (status, body["error"]["code"]) == (401, "auth_invalid")
