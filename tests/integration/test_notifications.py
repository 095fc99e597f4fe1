"""Messages to patients through the real server: booked over REST, sent to a real SMTP server and a
local SMS provider, at the moments the test's clock reaches.

* The confirmation reaches a real SMTP server (aiosmtpd) through the app's own dispatcher, with a
  calendar invite that the ``icalendar`` package parses.
* The SMS reminders reach the provider exactly when due, with the time in the patient's zone
  across a DST change there (Madrid moves to summer time between booking and appointment).
* Every real SMS (each kind, Spanish and English, real tokens) is GSM-7 in one part, its short
  links lead to the real links, and an unknown or expired one is a clear page.
* An unsubscribe from the link in a message stops the next one, or only that kind (reminders); a
  later booking that names no channels keeps it off; a reschedule withdraws the old reminders;
  the outbox is written atomically with the booking (either failing leaves neither).
* Staff of the unit see every message and attempt; no channel configured leaves them ``unsent``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import icalendar
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select, text

from notifications import gsm7, unsubscribe
from notifications.channels import HttpChannel, HttpSettings
from notifications.dispatcher import Dispatcher, Links
from records.outbox import Claimed, OutboxStore
from records.outbox_tables import OutboxMessageRow
from records.short_links import ShortLinkStore
from rooms import summary_links
from rooms import tokens as join_tokens
from rooms.roles import Role
from rooms.staff import StaffMember
from services import notifications as notices
from tests.support.clients import connect_client
from tests.support.receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_receiver
from tests.support.services import SetClock
from tests.support.whole_consult import NOTE, NOTE_PHRASE
from web.app import SERVICES, Services, create_app
from web.config import Settings
from web.demo import DEMO_CLUES, DEMO_LICENCE
from web.notifying import unsubscribe_key

BOOKED_AT = datetime(2026, 3, 23, 15, 0, tzinfo=UTC)  # Monday 09:00 in Mexico City; Madrid on CET
SLOT = datetime(2026, 3, 30, 16, 0, tzinfo=UTC)  # Monday 10:00 in Mexico City; Madrid on CEST (18:00)
PASSWORD = "notifications-password-123"
NSS = "92919084431"
OTHER_NSS = "92910000014"


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

    async def sign_in(self, username: str) -> None:
        """A new session at the clock's time (a week later, the booking's has expired)."""
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{self.url}/api/session", json={"username": username, "password": PASSWORD}
            )
            assert response.status == 200
            self.cookies[username] = response.cookies["tc_session"].value

    async def rows(self) -> list[OutboxMessageRow]:
        async with self.services.engine.connect() as connection:
            result = await connection.execute(select(OutboxMessageRow).order_by(OutboxMessageRow.due_at))
            return list(result.all())  # type: ignore[arg-type]

    async def appointments(self) -> int:
        found = await self.services.scheduling.appointments.for_unit(
            "UMF-1", BOOKED_AT, SLOT + timedelta(days=30)
        )
        return len(found)


def serve(tmp_path: Path, **settings: Any) -> AbstractAsyncContextManager[Api]:
    return serving(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
            secret_key=b"notifications-test-secret-key-0123456789",
            secret_key_is_ephemeral=False,
            media_workers=0,
            public_url="https://tc.example.org",
            **settings,
        )
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Api]:
    """The real app from ``settings``, with two nurses signed in (``ana`` of UMF-1, ``cruz`` of UMF-2)."""
    clock = SetClock(BOOKED_AT)
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    services = app[SERVICES]
    cookies = {}
    for username, unit in (("ana", "UMF-1"), ("cruz", "UMF-2")):
        await services.stores.staff.add(
            StaffMember(
                f"s-{username}",
                username,
                username.title(),
                Role.NURSE,
                unit,
                services.auth.hash_password(PASSWORD),
                licence=DEMO_LICENCE,
                unit_clues=DEMO_CLUES,
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


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """No dispatcher in the app: the test runs its own, step by step, on the app's outbox."""
    async with serve(tmp_path, notifications=False) as api:
        yield api


def booking(start: datetime = SLOT, **patient: Any) -> dict[str, Any]:
    channels = patient.pop("channels", None)
    body: dict[str, Any] = {
        "unit": "UMF-1",
        "start": start.isoformat(),
        "kind": "first",
        "patient": {
            "nss": NSS,
            "name": "María José Pérez López",
            "birth_date": "1990-05-01",
            "phone": "+34 612 345 678",
            "email": "maria@example.org",
            "time_zone": "Europe/Madrid",
            "language": "es",
            **patient,
        },
    }
    if channels is not None:
        body["channels"] = channels
    return body


@dataclass
class Sms:
    dispatcher: Dispatcher
    receiver: HttpReceiver


@pytest.fixture
async def sms(api: Api) -> AsyncIterator[Sms]:
    settings = api.services.settings
    async with http_receiver() as receiver, aiohttp.ClientSession() as http:
        channel = HttpChannel(HttpSettings(url=receiver.url, auth_header="X-Api-Key: k-123"), http)
        dispatcher = Dispatcher(
            OutboxStore(api.services.engine, new_id=lambda: "unused"),
            {"sms": channel, "whatsapp": channel},
            Links(settings.base_url, unsubscribe_key(settings)),
            ShortLinkStore(api.services.engine),
            node="test-node",
            clock=api.clock,
            observer=Ignore(),
        )
        yield Sms(dispatcher, receiver)


class Ignore:
    def notification(self, channel: str, kind: str, outcome: str) -> None:
        return None


async def follow(api: Api, link: str) -> tuple[int, str]:
    """Open a short link as a phone would: its status, and where it leads (``Location``) or its page."""
    assert link.startswith("https://tc.example.org/l/"), link
    async with aiohttp.ClientSession() as http:
        path = urlsplit(link).path
        async with http.get(f"{api.url}{path}", allow_redirects=False) as response:
            return response.status, response.headers.get("Location") or await response.text()


def links_in(text: str) -> list[str]:
    return [word for word in text.split() if word.startswith("https://")]


def fragment_token(target: str) -> str:
    return urlsplit(target).fragment.removeprefix("t=")


async def wait_for_status(api: Api, kind: str, status: str, count: int = 1) -> None:
    """Poll the outbox until ``count`` messages of ``kind`` have ``status`` (the app's dispatcher runs
    in the background)."""
    deadline = asyncio.get_running_loop().time() + 20
    while sum(r.kind == kind and r.status == status for r in await api.rows()) < count:
        assert asyncio.get_running_loop().time() < deadline, f"no {kind} became {status}"
        await asyncio.sleep(0.05)


# -- the confirmation by e-mail, through the app's own dispatcher -----------------------------------


async def test_the_confirmation_reaches_a_real_smtp_server_with_a_valid_invite(tmp_path: Path) -> None:
    async with smtp_receiver() as smtp:
        async with serve(
            tmp_path,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_security="none",
            smtp_from="avisos@tc.example.org",
            notify_interval_seconds=0.05,
        ) as api:
            status, booked = await api.call("POST", "/api/appointments", "ana", booking(channels=["email"]))
            assert status == 201, booked
            await wait_for_status(api, "confirmation", "sent")
            await check_confirmation(smtp, booked["appointment"]["appointment_id"])
            # Only e-mail was chosen: no SMS or WhatsApp message was even recorded.
            assert [(r.kind, r.channel) for r in await api.rows()] == [
                ("confirmation", "email"),
                ("reminder_24h", "email"),
                ("reminder_1h", "email"),
            ]
            status, outbox = await api.call("GET", "/api/units/UMF-1/outbox", "ana")
            sent = next(m for m in outbox["messages"] if m["kind"] == "confirmation")
            assert sent["status"] == "sent" and sent["address"] == "m…@example.org"
            assert [a["outcome"] for a in sent["attempts"]] == ["sent"]


async def check_confirmation(smtp: SmtpReceiver, appointment_id: str) -> None:
    (email,) = smtp.messages
    assert email["To"] == "maria@example.org" and email["From"] == "avisos@tc.example.org"
    assert email["Message-ID"] == f"<{appointment_id}.0.confirmation.email@tc.example.org>"
    body = next(p for p in email.walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
    text = body.decode()
    assert "Hola María:" in text and "30/03/2026 18:00 CEST" in text  # first name; Madrid's time
    assert "Pérez" not in text and NSS not in text
    assert "https://tc.example.org/paciente#t=" in text and "https://tc.example.org/baja#t=" in text
    (invite,) = [p for p in email.walk() if p.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(invite.get_payload(decode=True))
    assert calendar["METHOD"] == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"{appointment_id}@teleconsulta"
    assert event.decoded("DTSTART") == SLOT and event.decoded("DTSTART").tzinfo is not None
    assert event.decoded("DTEND") == SLOT + timedelta(minutes=20)
    assert event.decoded("DTSTAMP") == BOOKED_AT
    assert str(event["SUMMARY"]) == "Teleconsulta"


# -- SMS reminders at the right moment in the patient's zone ----------------------------------------


async def test_sms_reminders_arrive_when_due_in_the_patients_zone_across_dst(api: Api, sms: Sms) -> None:
    status, _ = await api.call("POST", "/api/appointments", "ana", booking(channels=["sms"]))
    assert status == 201
    assert await sms.dispatcher.run_once() == 1
    (confirmation,) = sms.receiver.received
    assert confirmation["body"]["to"] == "+34612345678" and confirmation["auth"] is None
    assert "30/03/2026 18:00 CEST" in confirmation["body"]["text"]

    day_before = SLOT - timedelta(hours=24)
    api.clock.now = day_before - timedelta(seconds=1)
    assert await sms.dispatcher.run_once() == 0
    api.clock.now = day_before  # Sunday 18:00 in Madrid, the first day of summer time
    assert await sms.dispatcher.run_once() == 1
    reminder = sms.receiver.received[-1]
    assert reminder["key"].endswith(":reminder_24h:sms")
    assert reminder["body"]["text"].startswith("Hola Maria: mañana es su teleconsulta, 30/03/2026 18:00 CEST")

    api.clock.now = SLOT - timedelta(hours=1, seconds=1)
    assert await sms.dispatcher.run_once() == 0
    api.clock.now = SLOT - timedelta(hours=1)
    assert await sms.dispatcher.run_once() == 1
    assert [r["key"].split(":")[1] for r in sms.receiver.received] == [
        "confirmation",
        "reminder_24h",
        "reminder_1h",
    ]
    api.clock.now = SLOT + timedelta(days=1)
    assert await sms.dispatcher.run_once() == 0  # nothing is sent twice


async def test_a_failing_provider_is_retried_and_the_patient_gets_one_message(api: Api, sms: Sms) -> None:
    status, _ = await api.call(
        "POST", "/api/appointments", "ana", booking(channels=["whatsapp"], language="en")
    )
    assert status == 201
    sms.receiver.failures = 1
    assert await sms.dispatcher.run_once() == 1
    api.clock.now += timedelta(seconds=30)
    assert await sms.dispatcher.run_once() == 1
    (got,) = sms.receiver.received
    assert got["body"]["channel"] == "whatsapp"
    # WhatsApp is not billed by GSM-7 parts: the short form keeps its accents.
    assert got["body"]["text"].startswith("Hello María: your teleconsultation is on 30/03/2026 18:00 CEST")
    status, outbox = await api.call("GET", "/api/units/UMF-1/outbox", "ana")
    sent = next(m for m in outbox["messages"] if m["kind"] == "confirmation")
    assert [(a["outcome"], a["error"]) for a in sent["attempts"]] == [("failed", "http_503"), ("sent", None)]


async def test_an_unsubscribe_link_stops_the_following_messages(api: Api, sms: Sms) -> None:
    status, _ = await api.call("POST", "/api/appointments", "ana", booking(channels=["sms"]))
    assert status == 201
    await sms.dispatcher.run_once()
    (confirmation,) = sms.receiver.received
    status, target = await follow(api, links_in(confirmation["body"]["text"])[-1])
    assert status == 302 and target.startswith("/baja#t=")
    token = fragment_token(target)
    status, refused = await api.call(
        "POST", "/api/unsubscribe", body={}, headers={"Authorization": "Bearer v1.bad.token"}
    )
    assert (status, refused["error"]["code"]) == (401, "auth_invalid")
    bearer = {"Authorization": f"Bearer {token}"}
    status, done = await api.call("POST", "/api/unsubscribe", body={"stop": "channel"}, headers=bearer)
    assert (status, done) == (200, {"channel": "sms", "kinds": None})
    api.clock.now = SLOT - timedelta(hours=1)
    await sms.dispatcher.run_once()
    assert len(sms.receiver.received) == 1
    assert sorted(r.status for r in await api.rows()) == ["opted_out", "opted_out", "sent"]


async def test_a_reschedule_and_a_cancellation_withdraw_what_no_longer_applies(api: Api, sms: Sms) -> None:
    status, booked = await api.call("POST", "/api/appointments", "ana", booking(channels=["sms"]))
    appointment_id = booked["appointment"]["appointment_id"]
    later = SLOT + timedelta(hours=1)
    status, _ = await api.call(
        "PATCH", f"/api/appointments/{appointment_id}", "ana", {"start": later.isoformat()}
    )
    assert status == 200
    status, _ = await api.call("DELETE", f"/api/appointments/{appointment_id}", "ana")
    assert status == 200
    # Nothing had been sent yet: what the older versions of the appointment would have said (an old
    # time, a revoked link) is withdrawn; only the cancellation goes out.
    by_kind = {(r.kind, r.generation): r.status for r in await api.rows()}
    assert by_kind == {
        ("confirmation", 0): "withdrawn",
        ("reminder_24h", 0): "withdrawn",
        ("reminder_1h", 0): "withdrawn",
        ("rescheduled", 1): "withdrawn",
        ("reminder_24h", 1): "withdrawn",
        ("reminder_1h", 1): "withdrawn",
        ("cancelled", 2): "pending",
    }
    assert await sms.dispatcher.run_once() == 1
    (got,) = sms.receiver.received
    assert (
        got["body"]["text"].split("\n")[0]
        == "Hola Maria: su teleconsulta del 30/03/2026 19:00 CEST fue cancelada."
    )


# -- real SMS: GSM-7, one part, short links that lead to the real links -----------------------------


async def _nothing() -> None:
    return None


async def test_every_real_sms_is_gsm7_in_one_part_and_its_short_links_lead_to_the_real_links(
    api: Api, sms: Sms
) -> None:
    """Each kind of message, in Spanish and English, rendered from a real booking's outbox rows with
    the real tokens (join, summary, unsubscribe) as the dispatcher sends it by SMS."""
    settings = api.services.settings
    scheduling = api.services.scheduling
    store = OutboxStore(api.services.engine, new_id=lambda: "unused")
    rendered: list[tuple[Claimed, str]] = []

    async def render_due() -> None:
        due = SLOT + timedelta(days=2)  # claimed, not sent: every recorded message renders once
        for claimed in await store.claim(node="render", now=due, lease=timedelta(minutes=5), limit=50):
            rendered.append((claimed, (await sms.dispatcher.outgoing(claimed, api.clock.now)).text.body))

    for language, nss, start in (("es", NSS, SLOT), ("en", OTHER_NSS, SLOT + timedelta(minutes=20))):
        status, booked = await api.call(
            "POST", "/api/appointments", "ana", booking(start, channels=["sms"], language=language, nss=nss)
        )
        assert status == 201, booked
        appointment_id = booked["appointment"]["appointment_id"]
        await render_due()  # the confirmation and both reminders
        moved = start + timedelta(hours=2)
        status, _ = await api.call(
            "PATCH", f"/api/appointments/{appointment_id}", "ana", {"start": moved.isoformat()}
        )
        assert status == 200
        await render_due()  # "moved" and the new reminders
        appointment = await scheduling.appointments.get(appointment_id)
        consult = await scheduling.consults.get(appointment_id)
        assert appointment is not None and consult is not None
        patient = await scheduling.appointments.get_patient(appointment.patient_id)
        assert patient is not None
        now = api.clock.now
        join = scheduling.link_token(appointment, consult, now)
        ready = notices.nurse_ready(appointment, patient, token=join, now=now)
        await scheduling.outbox.record(ready, _nothing)
        summary = summary_links.issue(
            summary_links.derive_key(settings.secret_key),
            summary_links.SummaryClaims(
                appointment_id,
                summary_links.link_id(appointment_id),
                int(now.timestamp()),
                summary_links.expiry(now, settings.summary_link_days),
            ),
        )
        change = notices.summary_ready(appointment, patient, summary_token=summary, now=now)
        await scheduling.outbox.record(change, _nothing)
        await render_due()
        status, _ = await api.call("DELETE", f"/api/appointments/{appointment_id}", "ana")
        assert status == 200
        await render_due()  # "cancelled"

    kinds = {(claimed.entry.language, claimed.entry.kind) for claimed, _ in rendered}
    assert kinds == {(language, kind.value) for language in ("es", "en") for kind in notices.MessageKind}
    for claimed, body in rendered:
        assert gsm7.is_gsm7(body), body
        assert len(body) <= 306 and gsm7.parts(body) == 1, (gsm7.septets(body), body)
        *link, opt_out = links_in(body)
        status, target = await follow(api, opt_out)
        assert status == 302 and target.startswith("/baja#t=")
        key = unsubscribe_key(settings)
        assert unsubscribe.message_of(key, fragment_token(target)) == claimed.message_id
        if claimed.entry.kind == "cancelled":
            assert link == []
            continue
        page = "resumen" if claimed.entry.kind == "summary_ready" else "paciente"
        assert await follow(api, link[0]) == (302, f"/{page}#t={claimed.entry.token}")
    assert "Maria" in rendered[0][1] and "María" not in rendered[0][1]  # í is not GSM-7; é, ñ are

    # A short link lasts as long as its token: the join link's ends 2 h after the slot's end.
    confirmation = next(body for claimed, body in rendered if claimed.entry.kind == "confirmation")
    join_link, opt_out_link = links_in(confirmation)
    api.clock.now = SLOT + timedelta(hours=6)
    status, page_text = await follow(api, join_link)
    assert status == 404 and "no es válido" in page_text and "not valid" in page_text
    assert (await follow(api, opt_out_link))[0] == 302  # turning messages off always works
    status, page_text = await follow(api, "https://tc.example.org/l/NoSuchCode12")
    assert status == 404 and "<html" in page_text and "has expired" in page_text


# -- choices that stick ------------------------------------------------------------------------------


async def unsubscribe_from(api: Api, text: str, stop: str) -> tuple[int, Any]:
    status, target = await follow(api, links_in(text)[-1])
    assert status == 302
    bearer = {"Authorization": f"Bearer {fragment_token(target)}"}
    return await api.call("POST", "/api/unsubscribe", body={"stop": stop}, headers=bearer)


async def test_a_booking_that_names_no_channels_keeps_a_channel_the_patient_turned_off(
    api: Api, sms: Sms
) -> None:
    status, booked = await api.call("POST", "/api/appointments", "ana", booking(channels=["email", "sms"]))
    assert status == 201
    await sms.dispatcher.run_once()
    (confirmation,) = sms.receiver.received
    assert (await unsubscribe_from(api, confirmation["body"]["text"], "channel"))[0] == 200
    appointment_id = booked["appointment"]["appointment_id"]
    assert (await api.call("DELETE", f"/api/appointments/{appointment_id}", "ana"))[0] == 200

    status, again = await api.call("POST", "/api/appointments", "ana", booking(SLOT + timedelta(days=1)))
    assert status == 201
    second = again["appointment"]["appointment_id"]
    assert {r.channel for r in await api.rows() if r.appointment_id == second} == {"email"}


async def test_an_unsubscribe_link_can_stop_only_that_kind_of_message(api: Api, sms: Sms) -> None:
    status, booked = await api.call("POST", "/api/appointments", "ana", booking(channels=["sms"]))
    assert status == 201
    await sms.dispatcher.run_once()  # the confirmation
    api.clock.now = SLOT - timedelta(hours=24)
    await sms.dispatcher.run_once()  # the 24-hour reminder
    reminder = sms.receiver.received[-1]
    status, target = await follow(api, links_in(reminder["body"]["text"])[-1])
    bearer = {"Authorization": f"Bearer {fragment_token(target)}"}
    status, offer = await api.call("GET", "/api/unsubscribe", headers=bearer)
    assert (status, offer) == (
        200,
        {"channel": "sms", "kind": "reminder_24h", "kinds": ["reminder_24h", "reminder_1h"]},
    )
    status, done = await unsubscribe_from(api, reminder["body"]["text"], "kind")
    assert (status, done) == (200, {"channel": "sms", "kinds": ["reminder_24h", "reminder_1h"]})

    api.clock.now = SLOT - timedelta(hours=1)
    assert await sms.dispatcher.run_once() == 0  # the 1-hour reminder is a reminder too
    await api.sign_in("ana")  # a week after the booking
    appointment_id = booked["appointment"]["appointment_id"]
    later = SLOT + timedelta(days=1)
    status, _ = await api.call(
        "PATCH", f"/api/appointments/{appointment_id}", "ana", {"start": later.isoformat()}
    )
    assert status == 200
    assert await sms.dispatcher.run_once() == 1  # "moved" is not a reminder: it still goes
    assert [r["key"].split(":")[1] for r in sms.receiver.received] == [
        "confirmation",
        "reminder_24h",
        "rescheduled",
    ]
    # The new slot's reminders were never even recorded.
    assert sorted((r.kind, r.generation, r.status) for r in await api.rows()) == [
        ("confirmation", 0, "sent"),
        ("reminder_1h", 0, "opted_out"),
        ("reminder_24h", 0, "sent"),
        ("rescheduled", 1, "sent"),
    ]


# -- atomic with the booking -------------------------------------------------------------------------


async def test_a_record_database_failure_books_nothing(api: Api) -> None:
    async with api.services.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE outbox_messages RENAME TO outbox_elsewhere"))
    status, body = await api.call("POST", "/api/appointments", "ana", booking())
    assert status == 503 and body["error"]["code"] == "database_unavailable"  # retryable
    assert await api.appointments() == 0
    assert await api.services.records.patient_id(NSS) is None
    status, slots = await api.call("GET", "/api/slots?unit=UMF-1&date=2026-03-30&zone=America/Mexico_City")
    assert SLOT.isoformat() in [s["start"] for s in slots["slots"]]


async def test_a_store_failure_records_no_message(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unavailable(*_: object) -> None:
        raise ConnectionError("store down")

    monkeypatch.setattr(api.services.scheduling.consults, "add", unavailable)
    status, _ = await api.call("POST", "/api/appointments", "ana", booking())
    assert status == 500
    async with api.services.engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(OutboxMessageRow)) == 0
    assert await api.services.records.patient_id(NSS) is None


async def test_a_channel_the_contact_cannot_reach_is_refused(api: Api) -> None:
    status, refused = await api.call(
        "POST", "/api/appointments", "ana", booking(phone=None, channels=["email", "sms"])
    )
    assert (status, refused["error"]["code"]) == (400, "invalid_patient")
    assert await api.appointments() == 0 and await api.rows() == []


# -- staff visibility ---------------------------------------------------------------------------------


async def test_without_channels_messages_stay_unsent_and_staff_of_the_unit_see_why(tmp_path: Path) -> None:
    async with serve(tmp_path, notify_interval_seconds=0.05) as api:  # no SMTP, no SMS provider
        status, _ = await api.call("POST", "/api/appointments", "ana", booking())
        assert status == 201
        await wait_for_status(api, "confirmation", "unsent", count=2)
        status, outbox = await api.call("GET", "/api/units/UMF-1/outbox", "ana")
        assert status == 200
        due = [m for m in outbox["messages"] if m["kind"] == "confirmation"]
        assert {(m["channel"], m["status"], m["last_error"]) for m in due} == {
            ("email", "unsent", "no_channel_configured"),
            ("sms", "unsent", "no_channel_configured"),
        }
        assert all("token" not in m and "+34612345678" not in str(m) for m in outbox["messages"])
        status, refused = await api.call("GET", "/api/units/UMF-1/outbox", "cruz")
        assert (status, refused["error"]["code"]) == (403, "wrong_unit")
        status, _ = await api.call("GET", "/api/units/UMF-1/outbox")
        assert status == 401
        async with aiohttp.ClientSession() as http:
            metrics = await (await http.get(f"{api.url}/metrics")).text()
        assert 'tc_notifications_total{channel="sms",kind="confirmation",outcome="unsent"} 1.0' in metrics


# -- admission and the summary ------------------------------------------------------------------------


async def test_a_patient_admitted_while_away_is_told_and_a_signed_note_sends_the_summary_link(
    api: Api, sms: Sms
) -> None:
    status, booked = await api.call("POST", "/api/appointments", "ana", booking(channels=["sms"]))
    consult_id = booked["appointment"]["appointment_id"]
    patient_token = urlsplit(booked["patient_link"]).fragment.removeprefix("t=")
    await sms.dispatcher.run_once()  # the confirmation
    api.clock.now = SLOT - timedelta(minutes=5)
    await api.sign_in("ana")
    patient, _ = await connect_client(api.url, token=patient_token)
    nurse, _ = await connect_client(api.url, cookie=api.cookies["ana"])
    try:
        assert (await patient.call("hello", {}, timeout=20))["ok"]
        assert (await patient.call("lobby:check_in", {"consent": True}, timeout=20))["ok"]
        await patient.disconnect()  # the phone locked its screen while waiting
        queues = api.services.scheduling.queues
        deadline = asyncio.get_running_loop().time() + 20
        while (place := await queues.position("UMF-1", consult_id, api.clock.now)) and place.connected:
            assert asyncio.get_running_loop().time() < deadline, "the drop was never noticed"
            await asyncio.sleep(0.05)
        assert (await nurse.call("hello", {}, timeout=20))["ok"]
        assert (await nurse.call("lobby:admit", {"consult_id": consult_id}, timeout=20))["ok"]
        await sms.dispatcher.run_once()  # the reminders, never sent (no dispatcher ran), are too late now
        assert [r["key"].split(":")[1] for r in sms.receiver.received] == ["confirmation", "nurse_ready"]
        ready = sms.receiver.received[-1]
        assert ready["key"] == f"{consult_id}/0:nurse_ready:sms"
        status, target = await follow(api, ready["body"]["text"].split("\n")[0].split()[-1])
        assert status == 302 and target.startswith("/paciente#t=")
        claims = join_tokens.verify(
            api.services.settings.secret_key, fragment_token(target), api.clock.now.timestamp()
        )
        assert claims.consult_id == consult_id  # the patient's own, still valid link

        async with aiohttp.ClientSession(cookies={"tc_session": api.cookies["ana"]}) as http:
            opened = await (
                await http.post(
                    f"{api.url}/api/consults/{consult_id}/note", json={"template": "first-consult"}
                )
            ).json()
            note = opened["note"]
            saved = await (
                await http.put(
                    f"{api.url}/api/notes/{note['note_id']}",
                    json={"base_version": note["version"], "content": NOTE},
                )
            ).json()
            signing = {"version": saved["note"]["version"], "request_id": "sign-1"}
            response = await http.post(f"{api.url}/api/notes/{note['note_id']}/sign", json=signing)
            assert response.status == 201, await response.text()
            again = await http.post(f"{api.url}/api/notes/{note['note_id']}/sign", json=signing)
            assert again.status == 200  # a replayed signing records nothing more
    finally:
        await nurse.disconnect()
    assert await sms.dispatcher.run_once() == 1
    summary = sms.receiver.received[-1]
    assert summary["key"] == f"{consult_id}/0:summary_ready:sms"
    text_line = summary["body"]["text"].split("\n")[0]
    assert text_line.startswith("Hola Maria: su resumen de la consulta esta listo: https://tc.example.org/l/")
    status, target = await follow(api, text_line.split()[-1])
    assert status == 302 and target.startswith("/resumen#t=s1.")
    summary_token = fragment_token(target)
    status, read = await api.call("GET", "/api/summary", headers={"Authorization": f"Bearer {summary_token}"})
    assert status == 200 and read["summary_link"]["url"].endswith(summary_token)
    assert NOTE_PHRASE not in summary["body"]["text"]


async def test_a_patient_admitted_while_connected_gets_no_join_now_message(api: Api) -> None:
    status, booked = await api.call("POST", "/api/appointments", "ana", booking(channels=["sms"]))
    assert status == 201
    consult_id = booked["appointment"]["appointment_id"]
    api.clock.now = SLOT - timedelta(minutes=5)
    await api.sign_in("ana")
    patient, _ = await connect_client(
        api.url, token=urlsplit(booked["patient_link"]).fragment.removeprefix("t=")
    )
    nurse, _ = await connect_client(api.url, cookie=api.cookies["ana"])
    try:
        assert (await patient.call("hello", {}, timeout=20))["ok"]
        assert (await patient.call("lobby:check_in", {"consent": True}, timeout=20))["ok"]
        assert (await nurse.call("hello", {}, timeout=20))["ok"]
        assert (await nurse.call("lobby:admit", {"consult_id": consult_id}, timeout=20))["ok"]
    finally:
        await nurse.disconnect()
        await patient.disconnect()
    assert "nurse_ready" not in {r.kind for r in await api.rows()}
