"""Clinical notes over REST: templates, the host's draft for a consult, autosave, signing, addenda.

The rules live in :class:`records.repository.RecordRepository`; this module authenticates the
staff member (login cookie), checks that they host the consult, turns the request into repository
calls and every :class:`RecordError` into the project's JSON error (Spanish / English message) plus,
for a refusal about the note's content, the form fields it is about (``fields``: codes and the labels
the nurse sees, in Spanish and English), so the console can point at them.
Nothing here logs clinical content: errors are logged by code only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from notifications.recording import SummaryReady
from records.access import AccessContext
from records.errors import RecordError, StaleVersion
from records.facts import ConsentFacts, StaffFacts, UnitFacts
from records.notes import Note
from records.repository import RecordRepository, SignRequest
from records.session_logs import SessionLogArchive, replaces_archive
from records.templates import TEMPLATES, TemplateCode
from rooms.consult import Consult
from rooms.session_log import EventKind, SessionEvent
from rooms.staff import StaffMember
from rooms.store.base import Stores
from web.auth import Authenticator
from web.errors import ApiError
from web.payloads import answer, read_body
from web.schemas.errors import ErrorDetail, ErrorView, FieldRef
from web.schemas.notes import (
    AddendumRequest,
    ConsultNote,
    NoteAnswer,
    NoteView,
    OpenNoteRequest,
    SaveNoteRequest,
    SealView,
    Signed,
    SignNoteRequest,
    StaleNote,
    TemplatesView,
    TemplateView,
)

EDITABLE_TEMPLATES = (TemplateCode.FIRST_CONSULT, TemplateCode.FOLLOW_UP, TemplateCode.INTER_UNIT)


def api_error(error: RecordError) -> ApiError:
    return ApiError(error.http_status, error.code, f"{error.message_es} / {error.message_en}")


def record_error(error: RecordError) -> ErrorDetail:
    """The project's error with both languages apart, and for content refusals (``invalid_note``,
    ``unsafe_text``, ``incomplete_note``) the form fields concerned."""
    detail = ErrorDetail(
        code=error.code,
        message=f"{error.message_es} / {error.message_en}",
        message_es=error.message_es,
        message_en=error.message_en,
    )
    if not error.fields:
        return detail
    fields = [FieldRef.model_validate(f.to_json()) for f in error.fields]
    return detail.model_copy(update={"fields": fields})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answers_record_errors(handler: Handler) -> Handler:
    """A handler whose record-store refusals become the project's errors: about the note's content,
    answered here with :func:`record_error`; the others (access, conflicts) raised as
    :class:`ApiError` like every other route's, so the middlewares see them (refusals are logged)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RecordError as error:
            if not error.fields:
                raise api_error(error) from None
            return answer(ErrorView(error=record_error(error)), error.http_status)

    return handle


async def staff_access(auth: Authenticator, request: web.Request) -> tuple[StaffMember, AccessContext]:
    """The signed-in staff member and the access context of their request (401 without a session)."""
    member = await auth.require_staff(request)
    ctx = AccessContext.staff(member.staff_id, member.full_name, member.role, request.remote or "unknown")
    return member, ctx


def staff_facts(member: StaffMember) -> StaffFacts:
    """Who signs, as the record needs it: cédula profesional and the unit's CLUES must be on file."""
    if not member.licence or not member.unit_clues:
        raise ApiError(
            422,
            "staff_facts_missing",
            "Su cuenta no tiene cédula profesional o CLUES de su unidad; pida que se registren. / "
            "Your account has no professional licence or unit CLUES on file; ask for them to be added.",
        )
    return StaffFacts(
        member.staff_id,
        member.full_name,
        member.role,
        member.licence,
        UnitFacts(member.unit_clues, member.unit or member.unit_clues),
    )


def consent_from_log(events: list[SessionEvent]) -> ConsentFacts:
    """The patient consents on the pre-join page, then checks in: the check-in time is the consent."""
    checked_in = next((e.at for e in events if e.kind is EventKind.CHECKED_IN), None)
    if checked_in is None:
        raise ApiError(
            409,
            "consent_missing",
            "No consta el consentimiento del paciente (no entró a la sala de espera). / "
            "The patient's consent is not on record (they never checked in).",
        )
    return ConsentFacts(teleconsult_at=checked_in)


class NotesApi:
    def __init__(
        self,
        *,
        records: RecordRepository,
        stores: Stores,
        archive: SessionLogArchive,
        auth: Authenticator,
        clock: Callable[[], datetime],
        summary_ready: SummaryReady | None = None,
    ) -> None:
        self._records = records
        self._stores = stores
        self._archive = archive
        self._auth = auth
        self._clock = clock
        self._summary_ready = summary_ready
        """Records "your summary is ready" for the patient in the signing's transaction."""
        self._templates = TemplatesView(
            templates=[TemplateView.of(TEMPLATES[code]) for code in EDITABLE_TEMPLATES]
        )

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/notes/templates", _answers_record_errors(self.templates)),
            web.get("/api/consults/{consult_id}/note", _answers_record_errors(self.current)),
            web.post("/api/consults/{consult_id}/note", _answers_record_errors(self.open)),
            web.get("/api/notes/{note_id}", _answers_record_errors(self.get)),
            web.put("/api/notes/{note_id}", _answers_record_errors(self.save)),
            web.post("/api/notes/{note_id}/sign", _answers_record_errors(self.sign)),
            web.post("/api/notes/{note_id}/addenda", _answers_record_errors(self.addendum)),
            web.get("/api/notes/{note_id}/seal", _answers_record_errors(self.seal)),
        ]

    async def _hosted(self, request: web.Request, member: StaffMember) -> Consult:
        consult = await self._stores.consults.get(request.match_info["consult_id"])
        if consult is None:
            raise ApiError(404, "not_found", "Consulta no encontrada. / Consult not found.")
        if consult.host_id != member.staff_id:
            raise ApiError(403, "forbidden", "No es su consulta. / Not your consult.")
        return consult

    async def templates(self, request: web.Request) -> web.Response:
        await staff_access(self._auth, request)
        return answer(self._templates)

    async def current(self, request: web.Request) -> web.Response:
        """The note the host is writing for this consult (the latest draft, else the signed one)."""
        member, ctx = await staff_access(self._auth, request)
        consult = await self._hosted(request, member)
        notes = await self._records.consult_notes(consult.consult_id, ctx)
        main = [n for n in notes if n.amends is None]
        drafts = [n for n in main if not n.is_signed]
        chosen: Note | None = max(drafts or main, key=lambda n: n.updated_at, default=None)
        addenda = [NoteView.of(n) for n in notes if chosen is not None and n.amends == chosen.note_id]
        return answer(
            ConsultNote(
                consult_id=consult.consult_id,
                note=NoteView.of(chosen) if chosen else None,
                addenda=addenda,
            )
        )

    async def open(self, request: web.Request) -> web.Response:
        """Start (or return) the host's draft for this consult with the chosen template."""
        member, ctx = await staff_access(self._auth, request)
        consult = await self._hosted(request, member)
        body = await read_body(request, OpenNoteRequest)
        note = await self._records.open_draft(
            consult_id=consult.consult_id, patient_nss=consult.record_nss, template=body.template, ctx=ctx
        )
        return answer(NoteAnswer(note=NoteView.of(note)))

    async def get(self, request: web.Request) -> web.Response:
        _, ctx = await staff_access(self._auth, request)
        note = await self._records.get_note(request.match_info["note_id"], ctx)
        return answer(NoteAnswer(note=NoteView.of(note)))

    async def save(self, request: web.Request) -> web.Response:
        """Autosave: compare-and-set on the version the browser last saw; 409 carries the newer note."""
        _, ctx = await staff_access(self._auth, request)
        note_id = request.match_info["note_id"]
        body = await read_body(request, SaveNoteRequest)
        try:
            note = await self._records.save_draft(
                note_id, base_version=body.base_version, content=body.content, ctx=ctx
            )
        except StaleVersion as error:
            current = await self._records.get_note(note_id, ctx)
            return answer(StaleNote(error=record_error(error), note=NoteView.of(current)), 409)
        return answer(NoteAnswer(note=NoteView.of(note)))

    async def _archive_live_log(self, consult_id: str) -> list[SessionEvent]:
        """Make sure the record store holds the consult's session log, even while the call is live.

        A live log replaces the archived one while the consult runs (:func:`replaces_archive`).
        """
        archived = await self._archive.load(consult_id)
        live = await self._stores.consults.log(consult_id)
        if replaces_archive(archived, live):
            await self._archive.store(consult_id, live)
            return live
        return archived

    async def sign(self, request: web.Request) -> web.Response:
        member, ctx = await staff_access(self._auth, request)
        note_id = request.match_info["note_id"]
        body = await read_body(request, SignNoteRequest)
        author = staff_facts(member)
        note = await self._records.get_note(note_id, ctx)
        events = await self._archive_live_log(note.consult_id)
        consent = consent_from_log(events)
        then = await self._summary_ready.for_consult(note.consult_id) if self._summary_ready else None
        result = await self._records.sign(
            SignRequest(
                note_id, body.version, body.request_id, author, consent, then, keep_chat=body.keep_chat
            ),
            ctx,
        )
        return answer(Signed.of(result), 200 if result.replayed else 201)

    async def seal(self, request: web.Request) -> web.Response:
        """Whether a signed note still matches its seal, by the keys this server holds (records/seal.py)."""
        _, ctx = await staff_access(self._auth, request)
        note_id = request.match_info["note_id"]
        found = await self._records.check_seal(note_id, ctx)
        return answer(SealView(note_id=note_id, status=found.status, key_id=found.key_id))

    async def addendum(self, request: web.Request) -> web.Response:
        member, ctx = await staff_access(self._auth, request)
        body = await read_body(request, AddendumRequest)
        author = staff_facts(member)
        result = await self._records.add_addendum(
            request.match_info["note_id"], text=body.text, request_id=body.request_id, author=author, ctx=ctx
        )
        return answer(Signed.of(result), 200 if result.replayed else 201)
