"""Photos patients share in a consult (records/photos.py), kept in the database, not on disk.

Revision ID: 0002_photos
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_photos"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("photos"):
        return  # made by create_schema before this migration ran
    op.create_table(
        "photos",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("consult_id", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=False),
        sa.Column("uploaded_at", _TS, nullable=False),
        sa.Column("content_type", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("kept_at", _TS, nullable=True),
        sa.Column("kept_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_photos_consult_id", "photos", ["consult_id"])


def downgrade() -> None:
    op.drop_table("photos")
