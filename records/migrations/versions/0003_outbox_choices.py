"""Messages to patients: a choice may be about one kind of message, and SMS carry short links.

Revision ID: 0003_outbox_choices
Revises: 0002_outbox
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_outbox_choices"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Only what is missing: a database made by ``create_schema`` (tests, tools) has it all."""
    inspector = sa.inspect(op.get_bind())
    if "kind" not in {column["name"] for column in inspector.get_columns("notification_choices")}:
        op.add_column("notification_choices", sa.Column("kind", sa.String(32), nullable=True))
    if not inspector.has_table("short_links"):
        op.create_table(
            "short_links",
            sa.Column("code", sa.String(32), primary_key=True),
            sa.Column("message_id", sa.String(36), sa.ForeignKey("outbox_messages.id"), nullable=False),
            sa.Column("purpose", sa.String(16), nullable=False),
            sa.Column("target", sa.Text(), nullable=False),
            sa.Column("created_at", _TS, nullable=False),
            sa.Column("expires_at", _TS, nullable=True),
            sa.UniqueConstraint("message_id", "purpose", name="uq_short_links_message_purpose"),
        )


def downgrade() -> None:
    op.drop_table("short_links")
    with op.batch_alter_table("notification_choices") as batch:
        batch.drop_column("kind")
