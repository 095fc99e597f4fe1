"""Initial schema: session log archive, notes, bundles, FHIR resources and identifiers, care, audit.

Each table is created only if it is missing, because databases made before migrations existed
(by ``create_schema``) already have ``session_log_entries``; upgrading them must keep its rows.

Revision ID: 0001
Revises:
Create Date: 2026-03-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.String(36)


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("session_log_entries"):
        op.create_table(
            "session_log_entries",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("consult_id", sa.String(64), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("at", _TS, nullable=False),
            sa.Column("actor_id", sa.String(64), nullable=False),
            sa.Column("actor_role", sa.String(32), nullable=True),
            sa.Column("connection_id", sa.String(64), nullable=True),
            sa.Column("detail", sa.JSON(), nullable=False),
            sa.UniqueConstraint("consult_id", "seq"),
        )
        op.create_index("ix_session_log_entries_consult_id", "session_log_entries", ["consult_id"])
    if _missing("fhir_resources"):
        op.create_table(
            "fhir_resources",
            sa.Column("id", _ID, primary_key=True),
            sa.Column("resource_type", sa.String(40), nullable=False),
            sa.Column("version_id", sa.Integer(), nullable=False),
            sa.Column("last_updated", _TS, nullable=False),
            sa.Column("patient_id", _ID, nullable=True),
            sa.Column("encounter_id", _ID, nullable=True),
            sa.Column("date_start", _TS, nullable=True),
            sa.Column("date_end", _TS, nullable=True),
            sa.Column("bundle_id", _ID, nullable=True),
            sa.Column("content", sa.JSON(), nullable=False),
        )
        op.create_index(
            "ix_fhir_resources_patient", "fhir_resources", ["patient_id", "resource_type", "date_start"]
        )
        op.create_index("ix_fhir_resources_encounter", "fhir_resources", ["encounter_id", "resource_type"])
    if _missing("fhir_identifiers"):
        op.create_table(
            "fhir_identifiers",
            sa.Column("resource_type", sa.String(40), primary_key=True),
            sa.Column("system", sa.String(200), primary_key=True),
            sa.Column("value", sa.String(100), primary_key=True),
            sa.Column("resource_id", _ID, sa.ForeignKey("fhir_resources.id"), nullable=False),
        )
        op.create_index("ix_fhir_identifiers_resource_id", "fhir_identifiers", ["resource_id"])
    if _missing("notes"):
        op.create_table(
            "notes",
            sa.Column("id", _ID, primary_key=True),
            sa.Column("consult_id", sa.String(64), nullable=False),
            sa.Column("template", sa.String(32), nullable=False),
            sa.Column("patient_id", _ID, sa.ForeignKey("fhir_resources.id"), nullable=False),
            sa.Column("author_id", sa.String(64), nullable=False),
            sa.Column("author_name", sa.String(200), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("content", sa.JSON(), nullable=False),
            sa.Column("created_at", _TS, nullable=False),
            sa.Column("updated_at", _TS, nullable=False),
            sa.Column("signed_at", _TS, nullable=True),
            sa.Column("amends_id", _ID, sa.ForeignKey("notes.id"), nullable=True),
            sa.Column("sign_request_id", sa.String(64), nullable=True, unique=True),
            sa.Column("bundle_id", _ID, nullable=True),
            sa.Column("content_sha256", sa.String(64), nullable=True),
        )
        op.create_index("ix_notes_consult", "notes", ["consult_id", "template", "author_id"])
        op.create_index("ix_notes_patient_id", "notes", ["patient_id"])
        op.create_index("ix_notes_amends_id", "notes", ["amends_id"])
    if _missing("bundles"):
        op.create_table(
            "bundles",
            sa.Column("id", _ID, primary_key=True),
            sa.Column("note_id", _ID, sa.ForeignKey("notes.id"), nullable=False, unique=True),
            sa.Column("patient_id", _ID, nullable=False),
            sa.Column("stored_at", _TS, nullable=False),
            sa.Column("content", sa.JSON(), nullable=False),
        )
        op.create_index("ix_bundles_patient_id", "bundles", ["patient_id"])
    if _missing("care_relations"):
        op.create_table(
            "care_relations",
            sa.Column("patient_id", _ID, sa.ForeignKey("fhir_resources.id"), primary_key=True),
            sa.Column("staff_id", sa.String(64), primary_key=True),
            sa.Column("consult_id", sa.String(64), nullable=True),
            sa.Column("since", _TS, nullable=False),
        )
    if _missing("audit_events"):
        op.create_table(
            "audit_events",
            sa.Column("id", _ID, primary_key=True),
            sa.Column("recorded", _TS, nullable=False),
            sa.Column("patient_id", _ID, nullable=True),
            sa.Column("agent_id", sa.String(64), nullable=False),
            sa.Column("action", sa.String(1), nullable=False),
            sa.Column("outcome", sa.String(2), nullable=False),
            sa.Column("content", sa.JSON(), nullable=False),
        )
        op.create_index("ix_audit_events_recorded", "audit_events", ["recorded"])
        op.create_index("ix_audit_events_patient", "audit_events", ["patient_id", "recorded"])


def downgrade() -> None:
    for table in ("audit_events", "care_relations", "bundles", "notes", "fhir_identifiers", "fhir_resources"):
        op.drop_table(table)
    # session_log_entries predates migrations and holds the lead's archive: it is kept.
