"""The outbox: messages to patients, their send attempts, and the patients' channel choices.

Revision ID: 0002_outbox
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_outbox"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.String(36)


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    """Each table only if missing: a database made by ``create_schema`` (tests, tools) has them."""
    if _missing("outbox_messages"):
        _messages()
    if _missing("outbox_attempts"):
        _attempts()
    if _missing("notification_choices"):
        _choices()


def _messages() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("patient_nss", sa.String(16), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", _TS, nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
    )
    op.create_index("ix_outbox_messages_due", "outbox_messages", ["status", "due_at"])
    op.create_index("ix_outbox_messages_unit", "outbox_messages", ["unit", "created_at"])
    op.create_index("ix_outbox_messages_appointment", "outbox_messages", ["appointment_id"])


def _attempts() -> None:
    op.create_table(
        "outbox_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", _ID, sa.ForeignKey("outbox_messages.id"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.String(200), nullable=True),
    )
    op.create_index("ix_outbox_attempts_message_id", "outbox_attempts", ["message_id"])


def _choices() -> None:
    op.create_table(
        "notification_choices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("patient_nss", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
    )
    op.create_index(
        "ix_notification_choices_patient", "notification_choices", ["patient_nss", "channel", "id"]
    )


def downgrade() -> None:
    op.drop_table("notification_choices")
    op.drop_table("outbox_attempts")
    op.drop_table("outbox_messages")
