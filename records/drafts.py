"""Drafts: the author's note while the consult runs, opened once, saved continuously, never overwritten.

A save names the version it was based on and is stored with a compare-and-set on that version, so
of two tabs or two nurses saving at once one wins and the other is told (:class:`StaleVersion`)
rather than silently losing text. Drafts are read only by their author; signed notes by anyone in
the patient's care.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext, require_staff
from records.audit import Attempt, Audit
from records.care import admit
from records.errors import InvalidNote, NoteAlreadySigned, NotNoteAuthor
from records.note_rows import conflict, new_row, note_entity, note_in_care, to_note
from records.notes import Note, NoteStatus, content_to_json, new_draft, revise
from records.patients import registered
from records.store import Store
from records.tables import NoteRow
from records.templates import TemplateCode


def _draft_template(template: TemplateCode | str) -> TemplateCode:
    """A template a draft may be opened with: a known one, and not an addendum (those amend signed notes)."""
    try:
        code = TemplateCode(template)
    except ValueError:
        raise InvalidNote("template", "plantilla desconocida", "unknown template") from None
    if code is TemplateCode.ADDENDUM:
        raise InvalidNote("template", "las adendas se agregan a notas firmadas", "addenda amend signed notes")
    return code


class Drafts:
    def __init__(self, store: Store, audit: Audit) -> None:
        self._store = store
        self._audit = audit

    async def open(
        self, *, consult_id: str, patient_nss: str, template: TemplateCode | str, ctx: AccessContext
    ) -> Note:
        """The author's draft for this consult and template, created (version 1) if there is none."""
        attempt = Attempt("create", "C")

        async def work(session: AsyncSession) -> Note:
            require_staff(ctx)
            code = _draft_template(template)
            patient_id = await registered(session, patient_nss)
            await admit(session, ctx, attempt, patient_id)
            row = await session.scalar(
                select(NoteRow).where(
                    NoteRow.consult_id == consult_id,
                    NoteRow.template == code.value,
                    NoteRow.author_id == ctx.subject_id,
                    NoteRow.amends_id.is_(None),
                )
            )
            if row is not None:
                attempt.interaction, attempt.action = "read", "R"
                attempt.entities.append(note_entity(row.id))
                if row.patient_id != patient_id:
                    raise InvalidNote(
                        "patient", "la consulta es de otro paciente", "the consult is another patient's"
                    )
                if row.status == NoteStatus.SIGNED.value:
                    raise NoteAlreadySigned()
                return to_note(row)
            note = new_draft(
                note_id=self._store.new_id(),
                consult_id=consult_id,
                patient_id=patient_id,
                template_code=code,
                author_id=ctx.subject_id,
                author_name=ctx.display,
                at=self._store.clock(),
            )
            attempt.entities.append(note_entity(note.note_id))
            session.add(new_row(note))
            return note

        return await self._audit.write(ctx, attempt, work)

    async def get(self, note_id: str, ctx: AccessContext) -> Note:
        """A note: drafts only to their author, signed notes to the patient's care team."""
        attempt = Attempt("read", "R", entities=[note_entity(note_id[:64])])

        async def work(session: AsyncSession) -> Note:
            require_staff(ctx)
            row = await note_in_care(session, ctx, attempt, note_id)
            if row.status == NoteStatus.DRAFT.value and row.author_id != ctx.subject_id:
                raise NotNoteAuthor()
            return to_note(row)

        return await self._audit.read(ctx, attempt, work)

    async def of_consult(self, consult_id: str, ctx: AccessContext) -> list[Note]:
        """The caller's own notes for a consult (drafts, signed notes and addenda), oldest first.

        The console calls it when it is reopened, to find the draft it was writing.
        """
        attempt = Attempt("search-type", "E", query=f"Composition?consult={consult_id[:64]}")

        async def work(session: AsyncSession) -> list[Note]:
            require_staff(ctx)
            rows = await session.scalars(
                select(NoteRow)
                .where(NoteRow.consult_id == consult_id, NoteRow.author_id == ctx.subject_id)
                .order_by(NoteRow.created_at)
                .limit(100)
            )
            notes = [to_note(row) for row in rows]
            if notes:
                await admit(session, ctx, attempt, notes[0].patient_id)
            attempt.entities.extend(note_entity(n.note_id) for n in notes)
            return notes

        return await self._audit.read(ctx, attempt, work)

    async def save(self, note_id: str, *, base_version: int, content: object, ctx: AccessContext) -> Note:
        """Store new draft content based on ``base_version``; a stale version raises :class:`StaleVersion`."""
        attempt = Attempt("update", "U", entities=[note_entity(note_id[:64])])

        async def work(session: AsyncSession) -> Note:
            require_staff(ctx)
            row = await note_in_care(session, ctx, attempt, note_id)
            note = revise(
                to_note(row),
                editor_id=ctx.subject_id,
                base_version=base_version,
                content=content,
                at=self._store.clock(),
            )
            result = await session.execute(
                update(NoteRow)
                .where(NoteRow.id == note_id, NoteRow.version == base_version, NoteRow.status == "draft")
                .values(
                    content=content_to_json(note.content),
                    version=note.version,
                    updated_at=note.updated_at,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise await conflict(session, note_id)
            return note

        return await self._audit.write(ctx, attempt, work)
