"""Signing: a draft becomes a signed note and its FHIR transaction Bundle, in one transaction.

Signing is idempotent by ``request_id``: the note row is claimed first with a compare-and-set on
(version, draft), so of two identical requests racing, one signs and the other finds the signed
note with its own request id and returns the stored result. A signed note never changes again; a
correction is an addendum, a signed note of its own that references the one it amends.

The Bundle is sealed (:mod:`records.seal`) and validated before anything is stored; its resources
are stored with references resolved, and its ``AuditEvent``\\ s (the signing, the session's) are the
audit of the call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext, require_staff
from records.audit import Attempt, Audit
from records.bundle_parties import patient_facts
from records.bundle_refs import composition_id, encounter_id
from records.care import admit
from records.errors import (
    InvalidRecord,
    NoteNotSigned,
    NotFound,
    NotNoteAuthor,
    RequestIdReused,
    SessionLogMissing,
    UnknownPatient,
)
from records.facts import ConsentFacts, StaffFacts
from records.fhir_bundle import AmendedNote, SignedConsult, build_bundle, staff_ids
from records.note_rows import conflict, new_row, note_entity, note_in_care, to_note
from records.notes import Note, NoteStatus, content_digest, new_draft, revise, sign
from records.photos import kept_photos
from records.resource_store import put_resources, resolve
from records.seal import SealKeys, seal
from records.session_logs import events_of
from records.store import Resource, Store
from records.tables import BundleRow, NoteRow, ResourceRow
from records.templates import TemplateCode
from records.validation import validate_bundle
from rooms.chat import messages as chat_messages

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignRequest:
    note_id: str
    version: int
    """The draft version the author saw and is signing; a newer one is a conflict."""
    request_id: str
    """Chosen by the client once per sign action and reused on retries: it makes signing idempotent."""
    author: StaffFacts
    consent: ConsentFacts
    then: Callable[[AsyncSession, Note], Awaitable[None]] | None = None
    """More work in the signing's own transaction, given the signed note (the patient's "summary
    ready" message); not run when the request only replays an earlier signing."""
    keep_chat: bool = False
    """The author keeps the consult's chat transcript in the record (one ``Communication`` per message)."""


@dataclass(frozen=True, slots=True)
class SignResult:
    note: Note
    bundle_id: str
    composition_id: str
    encounter_id: str
    replayed: bool = False
    """True when this request id had already signed the note: nothing new was stored."""


def _replayed(row: NoteRow, bundle_id: str) -> SignResult:
    """What a request that already signed ``row`` stored, answered again."""
    note = to_note(row)
    return SignResult(note, bundle_id, composition_id(row.id), encounter_id(note.consult_id), replayed=True)


async def _replay(session: AsyncSession, request_id: str, note_id: str) -> SignResult | None:
    """The result of an earlier request with this id, if it signed this note; another note's is refused."""
    row = await session.scalar(select(NoteRow).where(NoteRow.sign_request_id == request_id))
    if row is None:
        return None
    if row.id != note_id or row.bundle_id is None:
        raise RequestIdReused()
    return _replayed(row, row.bundle_id)


class Signing:
    def __init__(self, store: Store, audit: Audit, keys: SealKeys) -> None:
        self._store = store
        self._audit = audit
        self._keys = keys

    async def sign(self, request: SignRequest, ctx: AccessContext) -> SignResult:
        """Sign a draft and store its FHIR Bundle in one transaction; idempotent by ``request_id``."""
        attempt = Attempt("transaction", "C", entities=[note_entity(request.note_id[:64])])

        async def body() -> SignResult:
            require_staff(ctx)
            if request.author.staff_id != ctx.subject_id:
                raise NotNoteAuthor()
            try:
                return await self._sign_once(request, ctx, attempt)
            except IntegrityError:
                # A concurrent identical request won the race; answer with what it stored.
                async with self._store.read() as session:
                    replay = await _replay(session, request.request_id, request.note_id)
                if replay is None:
                    raise
                return replay

        return await self._audit.guard(ctx, attempt, body)

    def _audited_replay(
        self, session: AsyncSession, ctx: AccessContext, attempt: Attempt, replay: SignResult
    ) -> SignResult:
        """A request that already signed answers with what it stored; its audit says it was a replay."""
        attempt.patient_id = replay.note.patient_id
        session.add(self._audit.row(ctx, attempt, desc="replay"))
        return replay

    async def _sign_once(self, request: SignRequest, ctx: AccessContext, attempt: Attempt) -> SignResult:
        async with self._store.write.begin() as session:
            replay = await _replay(session, request.request_id, request.note_id)
            if replay is not None:
                return self._audited_replay(session, ctx, attempt, replay)
            row = await session.get(NoteRow, request.note_id, with_for_update=True)
            if row is None:
                raise NotFound("nota / note")
            attempt.patient_id = row.patient_id
            if row.sign_request_id == request.request_id and row.bundle_id is not None:
                # An identical request committed while this one waited for the row lock.
                return self._audited_replay(session, ctx, attempt, _replayed(row, row.bundle_id))
            await admit(session, ctx, attempt, row.patient_id)
            note = sign(
                to_note(row),
                signer_id=ctx.subject_id,
                version=request.version,
                request_id=request.request_id,
                at=self._store.clock(),
            )
            events = await events_of(session, note.consult_id)
            if not events:
                raise SessionLogMissing()
            patient_row = await session.get(ResourceRow, note.patient_id)
            if patient_row is None:
                raise UnknownPatient()
            consult = SignedConsult(
                note=note,
                events=events,
                patient=patient_facts(patient_row.content),
                author=request.author,
                ids=staff_ids(request.author, note.patient_id),
                seal="",
                source_address=ctx.address,
                consent=request.consent,
                photos=await kept_photos(session, note.consult_id),
                chat=chat_messages(events) if request.keep_chat else (),
            )
            result = await self._store_signed(
                session, ctx, note, consult, claim=(request.note_id, request.version)
            )
            if request.then is not None:
                await request.then(session, result.note)
            return result

    async def add_addendum(
        self, original_note_id: str, *, text: str, request_id: str, author: StaffFacts, ctx: AccessContext
    ) -> SignResult:
        """A signed correction that references a signed note (which itself never changes)."""
        attempt = Attempt("transaction", "C", entities=[note_entity(original_note_id[:64])])

        async def body() -> SignResult:
            require_staff(ctx)
            if author.staff_id != ctx.subject_id:
                raise NotNoteAuthor()
            async with self._store.write.begin() as session:
                original = await note_in_care(session, ctx, attempt, original_note_id)
                existing = await session.scalar(select(NoteRow).where(NoteRow.sign_request_id == request_id))
                if existing is not None:
                    if existing.amends_id != original_note_id or existing.bundle_id is None:
                        raise RequestIdReused()
                    return self._audited_replay(
                        session, ctx, attempt, _replayed(existing, existing.bundle_id)
                    )
                if original.status != NoteStatus.SIGNED.value:
                    raise NoteNotSigned()
                note = self._addendum(original, text, request_id, author, ctx)
                patient_row = await session.get(ResourceRow, original.patient_id)
                assert patient_row is not None
                consult = SignedConsult(
                    note=note,
                    events=(),
                    patient=patient_facts(patient_row.content),
                    author=author,
                    ids=staff_ids(author, original.patient_id),
                    seal="",
                    source_address=ctx.address,
                    amended=AmendedNote(
                        composition_id(original.id),
                        encounter_id(original.consult_id),
                        TemplateCode(original.template),
                    ),
                )
                return await self._store_signed(session, ctx, note, consult, claim=None)

        return await self._audit.guard(ctx, attempt, body)

    def _addendum(
        self, original: NoteRow, text: str, request_id: str, author: StaffFacts, ctx: AccessContext
    ) -> Note:
        """The addendum to ``original``, drafted, written and signed at one moment."""
        now = self._store.clock()
        draft = new_draft(
            note_id=self._store.new_id(),
            consult_id=original.consult_id,
            patient_id=original.patient_id,
            template_code=TemplateCode.ADDENDUM,
            author_id=ctx.subject_id,
            author_name=author.full_name,
            at=now,
            amends=original.id,
        )
        draft = revise(
            draft, editor_id=ctx.subject_id, base_version=1, content={"addendum": {"text": text}}, at=now
        )
        return sign(draft, signer_id=ctx.subject_id, version=draft.version, request_id=request_id, at=now)

    async def _store_signed(
        self,
        session: AsyncSession,
        ctx: AccessContext,
        note: Note,
        consult: SignedConsult,
        claim: tuple[str, int] | None,
    ) -> SignResult:
        """Seal, build, validate and store the signed note's Bundle.

        ``claim`` is the draft (id, version) being signed: its row is claimed with a compare-and-set.
        An addendum has none: its row is new.
        """
        consult = replace(consult, seal=seal(note, self._keys))
        bundle = build_bundle(consult)
        issues = validate_bundle(bundle)
        if issues:
            log.warning("signed note %s built an invalid bundle: %s", note.note_id, issues[:3])
            raise InvalidRecord(issues)
        bundle_id = str(bundle["id"])
        signed = {
            "status": NoteStatus.SIGNED.value,
            "signed_at": note.signed_at,
            "updated_at": note.updated_at,
            "sign_request_id": note.sign_request_id,
            "bundle_id": bundle_id,
            "content_sha256": content_digest(note),
        }
        if claim is None:
            session.add(new_row(note, **signed))
            await session.flush()
        else:
            raced = await self._claim(session, note, claim, signed)
            if raced is not None:
                return raced
        await self._store_bundle(session, ctx, note, bundle)
        encounter = consult.amended.encounter_id if consult.amended else encounter_id(note.consult_id)
        return SignResult(note, bundle_id, composition_id(note.note_id), encounter)

    async def _claim(
        self, session: AsyncSession, note: Note, claim: tuple[str, int], signed: dict[str, Any]
    ) -> SignResult | None:
        """Mark the draft signed if it is still the version being signed.

        If it is not, an identical request signed it first (answer with its result) or the draft
        changed or was signed by another request (refused, saying which).
        """
        claimed = await session.execute(
            update(NoteRow)
            .where(NoteRow.id == claim[0], NoteRow.version == claim[1], NoteRow.status == "draft")
            .values(**signed)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return None
        replay = await _replay(session, str(note.sign_request_id), note.note_id)
        if replay is not None:
            return replay
        raise await conflict(session, note.note_id)

    async def _store_bundle(
        self, session: AsyncSession, ctx: AccessContext, note: Note, bundle: Resource
    ) -> None:
        """The Bundle as validated, its resources with references resolved, and its ``AuditEvent``\\ s."""
        now = self._store.clock()
        bundle_id = str(bundle["id"])
        entries = cast(list[Resource], bundle["entry"])
        local_types = {e["fullUrl"]: e["resource"]["resourceType"] for e in entries}
        resources = [resolve(e["resource"], local_types) for e in entries]
        session.add(
            BundleRow(
                id=bundle_id, note_id=note.note_id, patient_id=note.patient_id, stored_at=now, content=bundle
            )
        )
        await put_resources(
            self._store,
            session,
            [r for r in resources if r["resourceType"] != "AuditEvent"],
            patient_id=note.patient_id,
            bundle_id=bundle_id,
            now=now,
        )
        await self._audit.add_events(
            session,
            [r for r in resources if r["resourceType"] == "AuditEvent"],
            patient_id=note.patient_id,
            agent=lambda event: ctx.subject_id[:64] if event["action"] == "C" else "session",
        )
        log.info("note %s signed; bundle %s stored (%d entries)", note.note_id, bundle_id, len(resources))
