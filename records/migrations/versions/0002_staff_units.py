"""Units and staff accounts: the record database becomes the source of truth for who may sign in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _missing(name: str) -> bool:
    """A database made by ``create_schema`` (tests, tools) already has the tables: keep them."""
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if not _missing("units"):
        return
    op.create_table(
        "units",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("clues", sa.String(11), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("licence", sa.String(8), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("setup_sha256", sa.String(64), nullable=True, unique=True),
        sa.Column("setup_expires_at", _TS, nullable=True),
        sa.Column("disabled_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_staff_accounts_unit", "staff_accounts", ["unit_id", "username"])


def downgrade() -> None:
    op.drop_index("ix_staff_accounts_unit", "staff_accounts")
    op.drop_table("staff_accounts")
    op.drop_table("units")
