"""The channels a message can go out on, behind one interface: :class:`Channel`.

* :class:`SmtpChannel`: e-mail over SMTP (``aiosmtplib``), with the calendar invite attached;
  its ``Message-ID`` is made from the message's idempotency key, so a copy sent again after a node
  died mid-send is the same message to the patient's mail client.
* :class:`HttpChannel`: SMS or WhatsApp through one provider's HTTP API: a URL, one auth header
  and a body template (``{to}``, ``{text}``, ``{channel}``, ``{key}``, each JSON-escaped); the
  idempotency key also goes in an ``Idempotency-Key`` header, which providers use to drop repeats.

A channel raises :class:`SendFailed` with a short reason (never the message, the address or a
token): ``permanent`` when trying again cannot help (the provider refused the request itself).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiohttp
import aiosmtplib

from notifications.texts import Text


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:200]
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message, ready for a channel."""

    key: str
    channel: str
    to: str
    text: Text
    opt_out_url: str
    calendar: str | None = None
    """An iCalendar invite (e-mail only), with its ``METHOD``."""
    calendar_method: str = "REQUEST"


class Channel(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Deliver ``message`` or raise :class:`SendFailed`."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str = ""
    password: str = ""
    security: str = "starttls"
    """``starttls`` (upgrade after connecting), ``tls`` (TLS from the start) or ``none``."""
    sender: str = ""
    timeout: float = 20.0


class SmtpChannel:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    def email(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._settings.sender
        email["To"] = message.to
        email["Subject"] = message.text.subject
        # The same key gives the same Message-ID: a repeated send is one message to mail clients.
        domain = self._settings.sender.partition("@")[2] or "teleconsulta"
        email["Message-ID"] = f"<{message.key.replace(':', '.').replace('/', '.')}@{domain}>"
        email["List-Unsubscribe"] = f"<{message.opt_out_url}>"
        email.set_content(message.text.body)
        if message.calendar is not None:
            email.add_attachment(
                message.calendar.encode(),
                maintype="text",
                subtype="calendar",
                filename="teleconsulta.ics",
                params={"method": message.calendar_method},
            )
        return email

    async def send(self, message: Outgoing) -> None:
        settings = self._settings
        try:
            await aiosmtplib.send(
                self.email(message),
                hostname=settings.host,
                port=settings.port,
                username=settings.username or None,
                password=settings.password or None,
                use_tls=settings.security == "tls",
                start_tls=settings.security == "starttls",
                timeout=settings.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise SendFailed("smtp_recipient_refused", permanent=True) from error
        except aiosmtplib.SMTPResponseException as error:
            raise SendFailed(f"smtp_{error.code}", permanent=500 <= error.code < 600) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise SendFailed(f"smtp_{type(error).__name__}") from error


@dataclass(frozen=True, slots=True)
class HttpSettings:
    url: str
    auth_header: str = ""
    """``Name: value`` (e.g. ``Authorization: Bearer …``); empty: none."""
    body_template: str = '{"to": "{to}", "channel": "{channel}", "text": "{text}"}'
    content_type: str = "application/json"
    timeout: float = 20.0


_PLACEHOLDER = re.compile(r"\{(to|text|channel|key)\}")


def _json_text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


class HttpChannel:
    def __init__(self, settings: HttpSettings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session

    def body(self, message: Outgoing) -> str:
        values = {"to": message.to, "text": message.text.body, "channel": message.channel, "key": message.key}
        # One pass: a value that happens to contain "{to}" is never filled in again.
        return _PLACEHOLDER.sub(lambda m: _json_text(values[m[1]]), self._settings.body_template)

    async def send(self, message: Outgoing) -> None:
        settings = self._settings
        headers = {"Content-Type": settings.content_type, "Idempotency-Key": message.key}
        if settings.auth_header:
            name, _, value = settings.auth_header.partition(":")
            headers[name.strip()] = value.strip()
        try:
            async with self._session.post(
                settings.url,
                data=self.body(message).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=settings.timeout),
            ) as response:
                if response.status < 300:
                    return
                # The request itself was refused (bad number, bad credentials): trying again cannot help.
                permanent = 400 <= response.status < 500 and response.status not in (408, 409, 425, 429)
                raise SendFailed(f"http_{response.status}", permanent=permanent)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SendFailed(f"http_{type(error).__name__}") from error
