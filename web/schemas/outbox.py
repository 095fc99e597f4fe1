"""The outbox as staff see it (``GET /api/units/{unit}/outbox``) and a message's unsubscribe link.

No message text, link or full address: staff see what was sent, on which channel, when, and why
an attempt failed; the address is masked to tell which one it was.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from records.outbox import MessageView
from web.schemas.base import Body, DateTimeText, View

KINDS = "confirmation, reminder_24h, reminder_1h, rescheduled, cancelled, nurse_ready, summary_ready"


class AttemptView(View):
    at: DateTimeText
    node: str
    outcome: str = Field(description="sent, failed, unsent, opted_out or withdrawn")
    error: str | None = Field(description="why it failed (e.g. http_503, smtp_550, no_channel_configured)")


class OutboxMessageView(View):
    message_id: str
    appointment_id: str
    kind: str = Field(description=KINDS)
    channel: str = Field(description="email, sms or whatsapp")
    address: str = Field(description="masked (e.g. +52…78, j…@example.org)")
    status: str = Field(description="pending, sending, sent, failed, unsent, opted_out, withdrawn")
    due_at: DateTimeText
    created_at: DateTimeText
    sent_at: DateTimeText | None
    last_error: str | None
    attempts: list[AttemptView]

    @classmethod
    def of(cls, message: MessageView) -> OutboxMessageView:
        return cls(
            message_id=message.message_id,
            appointment_id=message.appointment_id,
            kind=message.kind,
            channel=message.channel,
            address=message.address,
            status=message.status,
            due_at=message.due_at.isoformat(),
            created_at=message.created_at.isoformat(),
            sent_at=message.sent_at.isoformat() if message.sent_at else None,
            last_error=message.last_error,
            attempts=[
                AttemptView(at=a.at.isoformat(), node=a.node, outcome=a.outcome, error=a.error)
                for a in message.attempts
            ],
        )


class OutboxView(View):
    unit: str
    messages: list[OutboxMessageView] = Field(description="newest first, at most 200")


class UnsubscribeOffer(View):
    """What a message's unsubscribe link can stop, for the page to ask before it does."""

    channel: str = Field(description="the message's channel: email, sms or whatsapp")
    kind: str = Field(description=f"the message's kind: {KINDS}")
    kinds: list[str] = Field(description="the kinds that stopping this kind stops (both reminders)")


class UnsubscribeRequest(Body):
    stop: Literal["kind", "channel"] = Field(
        "channel",
        description="kind: only messages of this kind (every reminder, for a reminder) on this channel; "
        "channel: every message on this channel",
    )


class Unsubscribed(View):
    channel: str = Field(description="the channel: email, sms or whatsapp")
    kinds: list[str] | None = Field(
        description="the kinds no further message on that channel will be; null: every kind"
    )
