"""A note as the ``notes`` table holds it: row and value both ways, the audit entity naming it, its owner.

Drafts and signing both read note rows under the same rules, so they are here once: a note is
reached only through its patient's care (:func:`note_in_care`), and a compare-and-set on a note
that matched nothing is explained the same way whoever lost the race (:func:`conflict`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext
from records.audit import Attempt
from records.care import admit
from records.errors import NoteAlreadySigned, NotFound, RecordError, StaleVersion
from records.identifiers import NOTE_SYSTEM
from records.notes import Note, NoteStatus, content_to_json
from records.store import Resource
from records.tables import NoteRow
from records.templates import TemplateCode


def to_note(row: NoteRow) -> Note:
    return Note(
        note_id=row.id,
        consult_id=row.consult_id,
        patient_id=row.patient_id,
        template=TemplateCode(row.template),
        author_id=row.author_id,
        author_name=row.author_name,
        status=NoteStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        content={
            s: {k: tuple(v) if isinstance(v, list) else v for k, v in f.items()}
            for s, f in row.content.items()
        },
        signed_at=row.signed_at,
        amends=row.amends_id,
        sign_request_id=row.sign_request_id,
        bundle_id=row.bundle_id,
    )


def new_row(note: Note, **values: Any) -> NoteRow:
    """The row of a note not stored yet; ``values`` add or replace columns (a signed addendum's)."""
    columns: dict[str, Any] = {
        "id": note.note_id,
        "consult_id": note.consult_id,
        "template": note.template.value,
        "patient_id": note.patient_id,
        "author_id": note.author_id,
        "author_name": note.author_name,
        "status": note.status.value,
        "version": note.version,
        "content": content_to_json(note.content),
        "created_at": note.created_at,
        "updated_at": note.updated_at,
        "amends_id": note.amends,
    }
    return NoteRow(**(columns | values))


def note_entity(note_id: str) -> tuple[str, Resource]:
    """The audit's entity for a note: its ``Composition`` by the note's identifier (it may be a draft)."""
    return ("Composition", {"type": "Composition", "identifier": {"system": NOTE_SYSTEM, "value": note_id}})


async def note_in_care(session: AsyncSession, ctx: AccessContext, attempt: Attempt, note_id: str) -> NoteRow:
    """The note's row, for staff with a role in its patient's care."""
    row = await session.get(NoteRow, note_id)
    if row is None:
        raise NotFound("nota / note")
    await admit(session, ctx, attempt, row.patient_id)
    return row


async def conflict(session: AsyncSession, note_id: str) -> RecordError:
    """Why a compare-and-set on a note found nothing to update (another writer got there first)."""
    session.expire_all()
    current = await session.get(NoteRow, note_id, populate_existing=True)
    if current is None:
        return NotFound("nota / note")
    if current.status == NoteStatus.SIGNED.value:
        return NoteAlreadySigned()
    return StaleVersion(current.version)
