"""The messaging channels as an operator configures them: the real app built from ``TC_*`` variables
(``Settings.from_env`` → ``web/notifying.py``), a real SMTP server (aiosmtpd) and a local SMS provider.

* A booking over REST reaches both: the e-mail through SMTP, the SMS with the configured auth
  header and the operator's own body template.
* An SMTP server that refuses (``451``) is tried again after the backoff, and the patient gets the
  e-mail exactly once when it recovers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from notifications import gsm7
from tests.integration.test_notifications import (
    Api,
    booking,
    follow,
    links_in,
    serving,
    wait_for_status,
)
from tests.support.receivers import http_receiver, smtp_receiver
from web.config import Settings

BODY_TEMPLATE = '{"destination": "{to}", "message": "{text}", "reference": "{key}", "via": "{channel}"}'


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "TC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        "TC_SECRET_KEY": "wiring-test-secret-key-0123456789abcdef",
        "TC_MEDIA_WORKERS": "0",
        "TC_PUBLIC_URL": "https://tc.example.org",
        "TC_NOTIFY_INTERVAL_SECONDS": "0.05",
        "TC_SMTP_TLS": "none",
        "TC_SMTP_FROM": "avisos@tc.example.org",
        **extra,
    }


async def test_a_booking_reaches_the_configured_smtp_server_and_sms_provider(tmp_path: Path) -> None:
    async with smtp_receiver() as smtp, http_receiver() as provider:
        env = environment(
            tmp_path,
            TC_SMTP_HOST=smtp.host,
            TC_SMTP_PORT=str(smtp.port),
            TC_SMS_URL=provider.url,
            TC_SMS_AUTH_HEADER="X-Api-Key: k-123",
            TC_SMS_BODY_TEMPLATE=BODY_TEMPLATE,
            TC_SMS_CHANNELS="sms",
        )
        async with serving(Settings.from_env(env)) as api:
            status, booked = await api.call(
                "POST", "/api/appointments", "ana", booking(channels=["email", "sms"])
            )
            assert status == 201, booked
            await wait_for_status(api, "confirmation", "sent", count=2)
            appointment_id = booked["appointment"]["appointment_id"]

            (email,) = smtp.messages
            assert email["To"] == "maria@example.org" and email["From"] == "avisos@tc.example.org"
            assert email["Message-ID"] == f"<{appointment_id}.0.confirmation.email@tc.example.org>"

            (got,) = provider.received
            assert got["headers"]["X-Api-Key"] == "k-123" and got["auth"] is None
            assert got["key"] == f"{appointment_id}/0:confirmation:sms"
            body = got["body"]
            assert set(body) == {"destination", "message", "reference", "via"}
            assert (body["destination"], body["reference"], body["via"]) == (
                "+34612345678",
                f"{appointment_id}/0:confirmation:sms",
                "sms",
            )
            text = body["message"]
            assert text.startswith("Hola Maria: su teleconsulta es el 30/03/2026 18:00 CEST. Entre: ")
            assert gsm7.is_gsm7(text) and gsm7.parts(text) == 1
            join, _ = links_in(text)
            status, target = await follow(api, join)
            assert status == 302 and target == booked["patient_link"].removeprefix("https://tc.example.org")


async def test_a_refusing_smtp_server_is_retried_with_backoff_and_the_email_arrives_once(
    tmp_path: Path,
) -> None:
    async with smtp_receiver() as smtp:
        env = environment(tmp_path, TC_SMTP_HOST=smtp.host, TC_SMTP_PORT=str(smtp.port))
        async with serving(Settings.from_env(env)) as api:
            smtp.handler.failures = 2
            status, _ = await api.call("POST", "/api/appointments", "ana", booking(channels=["email"]))
            assert status == 201
            booked_at = api.clock.now
            await until(lambda: smtp.handler.refused == 1)
            await attempts_recorded(api, 1)  # its time is the clock's when recorded: move it after
            # Due again 30 s after the first failure, then 60 s after the second: not a moment before.
            api.clock.now = booked_at + timedelta(seconds=29)
            await asyncio.sleep(0.5)  # ten dispatcher rounds
            assert smtp.handler.refused == 1 and smtp.messages == []
            api.clock.now = booked_at + timedelta(seconds=30)
            await until(lambda: smtp.handler.refused == 2)
            await attempts_recorded(api, 2)
            api.clock.now += timedelta(seconds=59)
            await asyncio.sleep(0.5)
            assert smtp.handler.refused == 2 and smtp.messages == []
            api.clock.now += timedelta(seconds=1)
            await wait_for_status(api, "confirmation", "sent")
            api.clock.now += timedelta(hours=1)
            await asyncio.sleep(0.5)
            assert len(smtp.messages) == 1  # exactly once

            status, outbox = await api.call("GET", "/api/units/UMF-1/outbox", "ana")
            sent = next(m for m in outbox["messages"] if m["kind"] == "confirmation")
            assert [(a["outcome"], a["error"]) for a in sent["attempts"]] == [
                ("failed", "smtp_451"),
                ("failed", "smtp_451"),
                ("sent", None),
            ]
            assert "maria@example.org" not in json.dumps(outbox)  # staff see a masked address


async def attempts_recorded(api: Api, count: int) -> None:
    """Wait until the confirmation's ``count``-th attempt is in the outbox (an SMTP refusal is
    recorded a moment after the server answers; a clock moved before that dates it later)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        _, outbox = await api.call("GET", "/api/units/UMF-1/outbox", "ana")
        message = next((m for m in outbox["messages"] if m["kind"] == "confirmation"), None)
        if message is not None and len(message["attempts"]) >= count:
            return
        assert asyncio.get_running_loop().time() < deadline, "the attempt was never recorded"
        await asyncio.sleep(0.05)


async def until(condition: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.05)
