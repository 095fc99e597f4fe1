"""The record store's tables (besides ``session_log_entries``, in :mod:`records.session_logs`).

* ``notes``: drafts and signed notes; ``version`` is the compare-and-set counter of drafts and
  ``sign_request_id`` (unique) makes signing idempotent.
* ``bundles``: each signed note's transaction Bundle exactly as validated and stored.
* ``fhir_resources``: the current version of every resource, references resolved to ``Type/id``,
  with the columns searches need: ``patient_id`` (the patient compartment, for ``$everything``),
  ``encounter_id`` (``Composition?encounter=``) and the resource's date range (``Encounter?date=``).
* ``fhir_identifiers``: ``(type, system, value) → id``, for ``Patient?identifier=`` and for finding
  a patient, practitioner or unit again by NSS, cédula or CLUES.
* ``care_relations``: which staff member has a role in which patient's care (who may read).
* ``audit_events``: every ``AuditEvent``, append-only, indexed by patient and time.
* ``units`` and ``staff_accounts``: who may sign in, with which role, in which unit (CLUES, time zone);
  provisioned by ``web/admin.py`` and ``/api/admin``, every change audited.

Indexes are chosen for the searches at 100,000+ encounters; see ``docs/records.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from records.db import Base, UtcDateTime

ID = String(36)


class NoteRow(Base):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_consult", "consult_id", "template", "author_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    consult_id: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(32))
    patient_id: Mapped[str] = mapped_column(ID, ForeignKey("fhir_resources.id"), index=True)
    author_id: Mapped[str] = mapped_column(String(64))
    author_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    amends_id: Mapped[str | None] = mapped_column(ID, ForeignKey("notes.id"), nullable=True, index=True)
    sign_request_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    bundle_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    content_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class BundleRow(Base):
    __tablename__ = "bundles"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    note_id: Mapped[str] = mapped_column(ID, ForeignKey("notes.id"), unique=True)
    patient_id: Mapped[str] = mapped_column(ID, index=True)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)


class ResourceRow(Base):
    __tablename__ = "fhir_resources"
    __table_args__ = (
        Index("ix_fhir_resources_patient", "patient_id", "resource_type", "date_start"),
        Index("ix_fhir_resources_encounter", "encounter_id", "resource_type"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime)
    patient_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    encounter_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    date_start: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    date_end: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    bundle_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)


class IdentifierRow(Base):
    __tablename__ = "fhir_identifiers"

    resource_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    system: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(100), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ID, ForeignKey("fhir_resources.id"), index=True)


class CareRelationRow(Base):
    __tablename__ = "care_relations"

    patient_id: Mapped[str] = mapped_column(ID, ForeignKey("fhir_resources.id"), primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    consult_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_patient", "patient_id", "recorded"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    recorded: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    patient_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(1))
    outcome: Mapped[str] = mapped_column(String(2))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)


class UnitRow(Base):
    """A unit (a clinic or hospital service): its code, CLUES, name and the time zone its staff work in."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    clues: Mapped[str] = mapped_column(String(11))
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StaffRow(Base):
    """A staff account: the source of truth for signing in (Redis holds only sessions and a cache).

    ``password_hash`` is empty until the person sets a password through their one-time link, whose
    SHA-256 (never the link itself) is ``setup_sha256``; ``disabled_at`` set: the account cannot sign in.
    """

    __tablename__ = "staff_accounts"
    __table_args__ = (Index("ix_staff_accounts_unit", "unit_id", "username"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[str] = mapped_column(String(64), ForeignKey("units.id"))
    licence: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(200))
    setup_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    setup_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
