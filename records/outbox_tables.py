"""The outbox's tables: messages to patients, every attempt to send one, and their channel choices.

* ``outbox_messages``: one row per message to one address on one channel, written in the same
  transaction as the change that causes it (:mod:`records.outbox`). ``idempotency_key`` (unique) is
  ``<appointment>/<link generation>:<kind>:<channel>``: the same change recorded twice (a retried
  booking) is one row, and a dispatcher that lost its lease sends under the same key (the provider's
  ``Idempotency-Key``, the e-mail's ``Message-ID``). ``due_at`` is the next moment it may be sent
  (a reminder's time, then each retry's); ``lease_until`` is how long the node that claimed it owns
  it, so a node that dies mid-send lets another take it over. ``token`` is the link the message
  carries (join or summary token): never shown to staff, never logged.
* ``outbox_attempts``: every send, sent or failed and why, for staff and for the audit.
* ``notification_choices``: append-only, each a patient's choice of one channel (at booking, or an
  unsubscribe link), for every kind of message or for one (``kind``: reminders only, say); the
  newest row that applies to a message is in force.
* ``short_links``: the short ``/l/<code>`` links an SMS carries instead of a long token link, one
  per message and purpose, each lasting as long as the token it stands for.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from records.db import Base, UtcDateTime

ID = String(36)


class OutboxMessageRow(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "due_at"),
        Index("ix_outbox_messages_unit", "unit", "created_at"),
        Index("ix_outbox_messages_appointment", "appointment_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    unit: Mapped[str] = mapped_column(String(64))
    appointment_id: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(254))
    patient_nss: Mapped[str] = mapped_column(String(16))
    first_name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(2))
    time_zone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    token: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class OutboxAttemptRow(Base):
    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ID, ForeignKey("outbox_messages.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    node: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class NotificationChoiceRow(Base):
    __tablename__ = "notification_choices"
    __table_args__ = (Index("ix_notification_choices_patient", "patient_nss", "channel", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_nss: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The one kind of message the choice is about (``reminder_24h``…); ``None``: every kind."""
    enabled: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(100))
    """``booking:<staff id>`` or ``unsubscribe:<message id>``: who made the choice, and where."""


class ShortLinkRow(Base):
    __tablename__ = "short_links"
    __table_args__ = (UniqueConstraint("message_id", "purpose", name="uq_short_links_message_purpose"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    """Random and URL-safe (72 bits): unguessable, so the code itself is the permission to follow it."""
    message_id: Mapped[str] = mapped_column(ID, ForeignKey("outbox_messages.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    """``link`` (the join or summary link) or ``opt_out`` (the unsubscribe link)."""
    target: Mapped[str] = mapped_column(Text)
    """The real link's path and fragment (``/paciente#t=…``): a token, never shown or logged."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """When the token it stands for expires; ``None``: never (an unsubscribe link)."""
