"""The patient's consent to keep a photo, stored with the photo: who noted it, when, and what it said.

Photos kept before this revision were kept only with ``{"consent": true}`` (the API refused
anything else), by the host who kept them, at that moment, in the words of the fixed note the
record then carried: they get those values, so every kept photo holds its consent.

Revision ID: 0003_photo_consent
Revises: 0002_photos
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_photo_consent"
down_revision = "0002_photos"
branch_labels = None
depends_on = None

_STATEMENT = (
    "Guardada en el expediente con el consentimiento del paciente. / "
    "Kept in the record with the patient's consent."
)
"""The consent's words the record carried for every kept photo before this revision."""


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("photos")}
    if "consent_by" in columns:
        return  # made by create_schema before this migration ran
    with op.batch_alter_table("photos") as batch:
        batch.add_column(sa.Column("consent_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("consent_statement", sa.String(500), nullable=True))
    photos = sa.table(
        "photos",
        sa.column("kept_by", sa.String),
        sa.column("kept_at", sa.DateTime(timezone=True)),
        sa.column("consent_by", sa.String),
        sa.column("consent_at", sa.DateTime(timezone=True)),
        sa.column("consent_statement", sa.String),
    )
    op.execute(
        photos.update()
        .where(photos.c.kept_at.is_not(None))
        .values(consent_by=photos.c.kept_by, consent_at=photos.c.kept_at, consent_statement=_STATEMENT)
    )


def downgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.drop_column("consent_statement")
        batch.drop_column("consent_at")
        batch.drop_column("consent_by")
