"""The outbox's dispatcher as configured (docs/operations.md, "Messages to patients").

E-mail when ``TC_SMTP_HOST`` is set; SMS and/or WhatsApp (``TC_SMS_CHANNELS``) when ``TC_SMS_URL``
is. A channel left unset leaves its messages ``unsent`` with the reason, so ``serve --demo`` runs
with neither. ``TC_NOTIFICATIONS=off`` stops this node's dispatcher (messages are still recorded,
and another node's dispatcher sends them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

import aiohttp

from notifications import unsubscribe
from notifications.channels import Channel, HttpChannel, HttpSettings, SmtpChannel, SmtpSettings
from notifications.dispatcher import Dispatcher, Links, Observer
from records.outbox import OutboxStore
from records.short_links import ShortLinkStore
from web.config import Settings


def unsubscribe_key(settings: Settings) -> bytes:
    return unsubscribe.derive_key(settings.secret_key)


def dispatcher_lifecycle(
    settings: Settings,
    store: OutboxStore,
    short_links: ShortLinkStore,
    observer: Observer,
    clock: Callable[[], datetime],
) -> Callable[[object], AsyncIterator[None]]:
    """For ``app.cleanup_ctx``: the channels (an HTTP client session for the SMS provider) and the
    dispatcher running while the app runs; nothing when ``TC_NOTIFICATIONS=off``."""

    async def lifecycle(app: object) -> AsyncIterator[None]:
        if not settings.notifications:
            yield
            return
        async with aiohttp.ClientSession() as session:
            channels: dict[str, Channel] = {}
            if settings.smtp_host:
                channels["email"] = SmtpChannel(
                    SmtpSettings(
                        host=settings.smtp_host,
                        port=settings.smtp_port,
                        username=settings.smtp_user,
                        password=settings.smtp_password,
                        security=settings.smtp_security,
                        sender=settings.smtp_from,
                    )
                )
            if settings.sms_url:
                provider = HttpChannel(
                    HttpSettings(
                        url=settings.sms_url,
                        auth_header=settings.sms_auth_header,
                        body_template=settings.sms_body_template,
                    ),
                    session,
                )
                channels.update(dict.fromkeys(settings.sms_channels, provider))
            links = Links(settings.base_url, unsubscribe_key(settings), settings.smtp_from)
            dispatcher = Dispatcher(
                store,
                channels,
                links,
                short_links,
                node=settings.node_id,
                clock=clock,
                observer=observer,
                interval=settings.notify_interval_seconds,
            )
            async with dispatcher.running():
                yield

    return lifecycle
