"""The dispatcher: sends the outbox's due messages, at least once, with retries and backoff.

Every ``interval`` seconds it claims a batch of due messages (:meth:`records.outbox.OutboxStore.claim`:
no message is held by two nodes, a lease that runs out frees a message whose node died) and sends
each on its channel. A failure that may pass is tried again after ``base · 2^(attempt-1)`` seconds
(capped), up to ``max_attempts``; one that cannot (the provider refused the request) fails at once.
Never twice to the person: a message is marked sent by the node holding its lease, and the rare
resend after a node died mid-send carries the same idempotency key (``Idempotency-Key``,
``Message-ID``), which the provider and mail clients use to drop the copy.

An SMS or WhatsApp message is the texts' short form with short links (``/l/<code>``,
:mod:`records.short_links`) instead of the long token links an e-mail carries, and an SMS is
written in the GSM-7 alphabet (:mod:`notifications.gsm7`), so it fits one 160-character part.

A channel that is not configured leaves its messages ``unsent`` with the reason, visible to staff
(``serve --demo`` with no SMTP or SMS provider). A reminder whose appointment already began is
withdrawn once half its lead has passed (a backlog after an outage sends no "tomorrow" minutes
before the slot). The clock is injected: tests drive reminders through time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from notifications import gsm7, invites, texts, unsubscribe
from notifications.channels import Channel, Outgoing, SendFailed
from records.outbox import Claimed, OutboxStore, Status
from records.short_links import ShortLinkStore
from rooms.tokens import stated_expiry
from services.notifications import REMINDERS, MessageKind
from services.notifications import Channel as ChannelName

logger = logging.getLogger(__name__)

_REMINDER_LEAD = {kind.value: lead for kind, lead in REMINDERS}
_CALENDAR = frozenset(
    {MessageKind.CONFIRMATION.value, MessageKind.RESCHEDULED.value, MessageKind.CANCELLED.value}
)
_SHORT = frozenset({ChannelName.SMS.value, ChannelName.WHATSAPP.value})
"""Channels whose messages are the short form with short links (billed by length, read on a phone)."""
SHORT_PATH = "/l/"
"""Where short links live (``web/short_links.py`` follows them)."""


class Observer(Protocol):
    def notification(self, channel: str, kind: str, outcome: str) -> None:
        """One attempt's outcome: ``sent``, ``retried``, ``failed``, ``unsent``, ``withdrawn``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    max_attempts: int = 8
    lease_seconds: float = 120.0
    """How long a claim lasts: longer than any send (each channel has a shorter timeout)."""
    batch: int = 20

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number ``attempt`` (1, 2, …): doubling, capped."""
        return timedelta(seconds=min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class Links:
    """Where the links in messages point (``TC_PUBLIC_URL``), and the unsubscribe key.

    A link's target is its path and fragment (``/paciente#t=…``): what an e-mail shows after the
    base URL, and what a short link leads to.
    """

    base_url: str
    unsubscribe_key: bytes
    sender: str = ""

    def for_message(self, kind: str, token: str | None) -> str:
        """The target of the message's own link (join or summary); ``""`` for a message without one."""
        if token is None:
            return ""
        page = "resumen" if kind == MessageKind.SUMMARY_READY.value else "paciente"
        return f"/{page}#t={token}"

    def opt_out(self, message_id: str) -> str:
        """The target of the message's unsubscribe link."""
        return f"/baja#t={unsubscribe.issue(self.unsubscribe_key, message_id)}"

    def full(self, target: str) -> str:
        return f"{self.base_url}{target}" if target else ""

    def short(self, code: str) -> str:
        return f"{self.base_url}{SHORT_PATH}{code}"


class Dispatcher:
    def __init__(
        self,
        store: OutboxStore,
        channels: Mapping[str, Channel],
        links: Links,
        short_links: ShortLinkStore,
        *,
        node: str,
        clock: Callable[[], datetime],
        observer: Observer,
        policy: RetryPolicy = RetryPolicy(),
        interval: float = 15.0,
    ) -> None:
        self._store = store
        self._channels = channels
        self._links = links
        self._short_links = short_links
        self._node = node
        self._clock = clock
        self._observer = observer
        self._policy = policy
        self._interval = interval

    async def outgoing(self, claimed: Claimed, now: datetime) -> Outgoing:
        """The message as its channel sends it: text in the patient's language, links, the invite."""
        entry = claimed.entry
        short = entry.channel in _SHORT
        link = self._links.for_message(entry.kind, entry.token)
        opt_out = self._links.opt_out(claimed.message_id)
        if short:
            link = await self._shorten(claimed.message_id, "link", link, entry.token, now)
            opt_out = await self._shorten(claimed.message_id, "opt_out", opt_out, None, now)
        else:
            link, opt_out = self._links.full(link), self._links.full(opt_out)
        text = texts.render(
            entry.kind,
            entry.language,
            first_name=entry.first_name,
            starts_at=entry.starts_at,
            zone=entry.time_zone,
            link=link,
            opt_out=opt_out,
            short=short,
        )
        if entry.channel == ChannelName.SMS.value:
            text = texts.Text(text.subject, gsm7.transliterate(text.body))
        calendar = None
        cancelled = entry.kind == MessageKind.CANCELLED.value
        if entry.channel == ChannelName.EMAIL.value and entry.kind in _CALENDAR:
            calendar = invites.invite(
                appointment_id=entry.appointment_id,
                sequence=entry.generation,
                start=entry.starts_at,
                end=entry.ends_at,
                now=now,
                organizer=self._links.sender or "teleconsulta@localhost",
                attendee=entry.address,
                summary="Teleconsulta",
                link=link or None,
                cancelled=cancelled,
            )
        return Outgoing(
            key=entry.idempotency_key,
            channel=entry.channel,
            to=entry.address,
            text=text,
            opt_out_url=opt_out,
            calendar=calendar,
            calendar_method="CANCEL" if cancelled else "REQUEST",
        )

    async def _shorten(
        self, message_id: str, purpose: str, target: str, token: str | None, now: datetime
    ) -> str:
        """A short link to ``target``, lasting as long as ``token`` does (``None``: for good)."""
        if not target:
            return ""
        expiry = stated_expiry(token) if token is not None else None
        code = await self._short_links.shorten(
            message_id,
            purpose,
            target,
            expires_at=datetime.fromtimestamp(expiry, UTC) if expiry is not None else None,
            now=now,
        )
        return self._links.short(code)

    async def run_once(self) -> int:
        """Claim and send one batch of due messages; how many were claimed."""
        claimed = await self._store.claim(
            node=self._node,
            now=self._clock(),
            lease=timedelta(seconds=self._policy.lease_seconds),
            limit=self._policy.batch,
        )
        for message in claimed:
            await self._deliver(message)
        return len(claimed)

    async def _finish(
        self,
        message: Claimed,
        status: Status,
        outcome: str,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        await self._store.finish(
            message.message_id,
            node=self._node,
            now=self._clock(),
            status=status,
            error=error,
            retry_at=retry_at,
        )
        self._observer.notification(message.entry.channel, message.entry.kind, outcome)

    async def _deliver(self, message: Claimed) -> None:
        entry = message.entry
        now = self._clock()
        lead = _REMINDER_LEAD.get(entry.kind)
        if lead is not None and now >= entry.starts_at - lead / 2:
            # Sent this late ("tomorrow" minutes before), a reminder would mislead: it is withdrawn.
            await self._finish(message, Status.WITHDRAWN, "withdrawn", error="too_late")
            return
        channel = self._channels.get(entry.channel)
        if channel is None:
            await self._finish(message, Status.UNSENT, "unsent", error="no_channel_configured")
            return
        try:
            await channel.send(await self.outgoing(message, now))
        except SendFailed as error:
            logger.info(
                "notification %s on %s failed (attempt %d): %s",
                entry.kind,
                entry.channel,
                message.attempt,
                error.reason,
                extra={"consult_id": entry.appointment_id},
            )
            if error.permanent or message.attempt >= self._policy.max_attempts:
                await self._finish(message, Status.FAILED, "failed", error=error.reason)
            else:
                retry_at = self._clock() + self._policy.delay(message.attempt)
                await self._finish(message, Status.FAILED, "retried", error=error.reason, retry_at=retry_at)
            return
        await self._finish(message, Status.SENT, "sent")

    async def _loop(self) -> None:
        while True:
            try:
                while await self.run_once() >= self._policy.batch:
                    pass  # a full batch: more may be due
            except Exception as error:  # the next round tries again
                logger.error("notification dispatch failed: %s", type(error).__name__, exc_info=error)
            await asyncio.sleep(self._interval)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Dispatch in the background while the block runs."""
        task = asyncio.get_running_loop().create_task(self._loop())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
