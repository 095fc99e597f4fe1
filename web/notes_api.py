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

from records.access import AccessContext
from records.errors import RecordError, StaleVersion
from records.facts import ConsentFacts, StaffFacts, UnitFacts
from records.notes import MAX_NOTE_BYTES, Note
from records.repository import RecordRepository, SignRequest, SignResult
from records.session_logs import SessionLogArchive
from records.templates import TEMPLATES, FieldSpec, Template, TemplateCode
from rooms.consult import Consult
from rooms.roles import STAFF_ROLES
from rooms.session_log import EventKind, SessionEvent
from rooms.staff import StaffMember
from rooms.store.base import Stores
from web.auth import Authenticator
from web.errors import ApiError, json_object

NOTE_BODY_LIMIT = MAX_NOTE_BYTES + 32 * 1024
"""A save request may carry a whole note plus JSON overhead; the store refuses notes over 64 KiB
(``413 note_too_large``) and bodies beyond this are refused before they are parsed."""
SMALL_BODY_LIMIT = 32 * 1024
EDITABLE_TEMPLATES = (TemplateCode.FIRST_CONSULT, TemplateCode.FOLLOW_UP, TemplateCode.INTER_UNIT)


def api_error(error: RecordError) -> ApiError:
    return ApiError(error.http_status, error.code, f"{error.message_es} / {error.message_en}")


def record_error_json(error: RecordError) -> dict[str, object]:
    """``{code, message, message_es, message_en, fields?}``: the project's error with both languages
    apart, and for content refusals (``invalid_note``, ``unsafe_text``, ``incomplete_note``) the form
    fields concerned (``section``, ``key``, ``index``, ``path``, ``label_es``, ``label_en``)."""
    body: dict[str, object] = {
        "code": error.code,
        "message": f"{error.message_es} / {error.message_en}",
        "message_es": error.message_es,
        "message_en": error.message_en,
    }
    if error.fields:
        body["fields"] = [f.to_json() for f in error.fields]
    return body


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answers_record_errors(handler: Handler) -> Handler:
    """A handler whose record-store refusals become the project's errors: about the note's content,
    answered here with :func:`record_error_json`; the others (access, conflicts) raised as
    :class:`ApiError` like every other route's, so the middlewares see them (refusals are logged)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RecordError as error:
            if not error.fields:
                raise api_error(error) from None
            return web.json_response({"error": record_error_json(error)}, status=error.http_status)

    return answer


async def staff_access(auth: Authenticator, request: web.Request) -> tuple[StaffMember, AccessContext]:
    """The signed-in staff member and the access context of their request (401 without a session)."""
    member = await auth.current_staff(request)
    if member is None or member.role not in STAFF_ROLES:
        raise ApiError(401, "auth_required", "Inicie sesión. / Please sign in.")
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


def field_json(spec: FieldSpec) -> dict[str, object]:
    return {
        "key": spec.key,
        "kind": spec.kind.value,
        "title_es": spec.title_es,
        "title_en": spec.title_en,
        "required": spec.required,
        "max_length": spec.max_length,
        "max_items": spec.max_items,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "unit": spec.unit,
        "choices": [{"code": c.code, "es": c.es, "en": c.en} for c in spec.choices],
    }


def template_json(tpl: Template) -> dict[str, object]:
    return {
        "code": tpl.code.value,
        "title_es": tpl.title_es,
        "title_en": tpl.title_en,
        "sections": [
            {
                "code": s.code,
                "title_es": s.title_es,
                "title_en": s.title_en,
                "fields": [field_json(f) for f in s.fields],
            }
            for s in tpl.sections
        ],
    }


def _sign_json(result: SignResult) -> dict[str, object]:
    return {
        "note": result.note.to_json(),
        "bundle_id": result.bundle_id,
        "composition_id": result.composition_id,
        "encounter_id": result.encounter_id,
        "replayed": result.replayed,
    }


def _int(data: dict[str, object], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise ApiError(400, "bad_payload", f"Falta «{name}» (número). / '{name}' (a number) is required.")
    return value


def _text(data: dict[str, object], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "bad_payload", f"Falta «{name}» (texto). / '{name}' (text) is required.")
    return value


class NotesApi:
    def __init__(
        self,
        *,
        records: RecordRepository,
        stores: Stores,
        archive: SessionLogArchive,
        auth: Authenticator,
        clock: Callable[[], datetime],
    ) -> None:
        self._records = records
        self._stores = stores
        self._archive = archive
        self._auth = auth
        self._clock = clock
        self._templates = [template_json(TEMPLATES[code]) for code in EDITABLE_TEMPLATES]

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
        return web.json_response({"templates": self._templates})

    async def current(self, request: web.Request) -> web.Response:
        """The note the host is writing for this consult (the latest draft, else the signed one)."""
        member, ctx = await staff_access(self._auth, request)
        consult = await self._hosted(request, member)
        notes = await self._records.consult_notes(consult.consult_id, ctx)
        main = [n for n in notes if n.amends is None]
        drafts = [n for n in main if not n.is_signed]
        chosen: Note | None = max(drafts or main, key=lambda n: n.updated_at, default=None)
        addenda = [n.to_json() for n in notes if chosen is not None and n.amends == chosen.note_id]
        return web.json_response(
            {
                "consult_id": consult.consult_id,
                "note": chosen.to_json() if chosen else None,
                "addenda": addenda,
            }
        )

    async def open(self, request: web.Request) -> web.Response:
        """Start (or return) the host's draft for this consult with the chosen template."""
        member, ctx = await staff_access(self._auth, request)
        consult = await self._hosted(request, member)
        data = await json_object(request, max_bytes=SMALL_BODY_LIMIT)
        template = _text(data, "template")
        note = await self._records.open_draft(
            consult_id=consult.consult_id, patient_nss=consult.record_nss, template=template, ctx=ctx
        )
        return web.json_response({"note": note.to_json()})

    async def get(self, request: web.Request) -> web.Response:
        _, ctx = await staff_access(self._auth, request)
        note = await self._records.get_note(request.match_info["note_id"], ctx)
        return web.json_response({"note": note.to_json()})

    async def save(self, request: web.Request) -> web.Response:
        """Autosave: compare-and-set on the version the browser last saw; 409 carries the newer note."""
        _, ctx = await staff_access(self._auth, request)
        note_id = request.match_info["note_id"]
        data = await json_object(request, max_bytes=NOTE_BODY_LIMIT)
        base_version = _int(data, "base_version")
        if "content" not in data:
            raise ApiError(400, "bad_payload", "Falta «content». / 'content' is required.")
        try:
            note = await self._records.save_draft(
                note_id, base_version=base_version, content=data["content"], ctx=ctx
            )
        except StaleVersion as error:
            current = await self._records.get_note(note_id, ctx)
            body = {"error": record_error_json(error), "note": current.to_json()}
            return web.json_response(body, status=409)
        return web.json_response({"note": note.to_json()})

    async def _archive_live_log(self, consult_id: str) -> list[SessionEvent]:
        """Make sure the record store holds the consult's session log, even while the call is live.

        The live log only grows, so a longer live log replaces the archived one; the log archived when
        the consult ended is never replaced by a shorter one.
        """
        archived = await self._archive.load(consult_id)
        live = await self._stores.consults.log(consult_id)
        if len(live) > len(archived):
            await self._archive.store(consult_id, live)
            return live
        return archived

    async def sign(self, request: web.Request) -> web.Response:
        member, ctx = await staff_access(self._auth, request)
        note_id = request.match_info["note_id"]
        data = await json_object(request, max_bytes=SMALL_BODY_LIMIT)
        version, request_id = _int(data, "version"), _text(data, "request_id")
        author = staff_facts(member)
        note = await self._records.get_note(note_id, ctx)
        events = await self._archive_live_log(note.consult_id)
        consent = consent_from_log(events)
        result = await self._records.sign(SignRequest(note_id, version, request_id, author, consent), ctx)
        return web.json_response(_sign_json(result), status=200 if result.replayed else 201)

    async def seal(self, request: web.Request) -> web.Response:
        """Whether a signed note still matches its seal, by the keys this server holds (records/seal.py)."""
        _, ctx = await staff_access(self._auth, request)
        note_id = request.match_info["note_id"]
        found = await self._records.check_seal(note_id, ctx)
        return web.json_response({"note_id": note_id, **found.to_json()})

    async def addendum(self, request: web.Request) -> web.Response:
        member, ctx = await staff_access(self._auth, request)
        data = await json_object(request, max_bytes=SMALL_BODY_LIMIT)
        text, request_id = _text(data, "text"), _text(data, "request_id")
        author = staff_facts(member)
        result = await self._records.add_addendum(
            request.match_info["note_id"], text=text, request_id=request_id, author=author, ctx=ctx
        )
        return web.json_response(_sign_json(result), status=200 if result.replayed else 201)


def _path_param(name: str, description: str) -> dict[str, object]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _body(required: list[str], properties: dict[str, object]) -> dict[str, object]:
    schema = {"type": "object", "required": required, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _answer(description: str) -> dict[str, object]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def _refused(description: str) -> dict[str, object]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_STAFF: list[dict[str, list[str]]] = [{"staffSession": []}]
_NOTE_ID = _path_param("note_id", "the note")
_CONSULT_ID = _path_param("consult_id", "the consult")
OPENAPI_PATHS: dict[str, object] = {
    "/api/notes/templates": {
        "get": {
            "summary": "The note templates the console draws its form from",
            "tags": ["notes"],
            "security": _STAFF,
            "responses": {"200": _answer("{templates: [...]}"), "401": _refused("auth_required")},
        }
    },
    "/api/consults/{consult_id}/note": {
        "get": {
            "summary": "The host's current note for the consult (latest draft, else the signed one)",
            "tags": ["notes"],
            "security": _STAFF,
            "parameters": [_CONSULT_ID],
            "responses": {
                "200": _answer("{consult_id, note: Note|null, addenda: [Note]}"),
                "401": _refused("auth_required"),
                "403": _refused("forbidden: not the consult's host"),
                "404": _refused("not_found"),
            },
        },
        "post": {
            "summary": "Open (or return) the host's draft with a template",
            "tags": ["notes"],
            "security": _STAFF,
            "parameters": [_CONSULT_ID],
            "requestBody": _body(
                ["template"], {"template": {"type": "string", "enum": [c.value for c in EDITABLE_TEMPLATES]}}
            ),
            "responses": {
                "200": _answer("{note: Note}"),
                "401": _refused("auth_required"),
                "403": _refused("forbidden"),
                "404": _refused("not_found, unknown_patient"),
                "409": _refused("note_signed"),
            },
        },
    },
    "/api/notes/{note_id}": {
        "get": {
            "summary": "A note: drafts to their author, signed notes to the care team",
            "tags": ["notes"],
            "security": _STAFF,
            "parameters": [_NOTE_ID],
            "responses": {
                "200": _answer("{note: Note}"),
                "401": _refused("auth_required"),
                "403": _refused("forbidden, not_note_author"),
                "404": _refused("not_found"),
            },
        },
        "put": {
            "summary": "Autosave: the next version of a draft, based on the version the page last saw",
            "tags": ["notes"],
            "security": _STAFF,
            "parameters": [_NOTE_ID],
            "requestBody": _body(
                ["base_version", "content"],
                {"base_version": {"type": "integer", "minimum": 1}, "content": {"type": "object"}},
            ),
            "responses": {
                "200": _answer("{note: Note}"),
                "400": _refused("bad_payload"),
                "401": _refused("auth_required"),
                "403": _refused("forbidden, not_note_author"),
                "409": _answer("stale_version (with the newer note: {error, note}) or note_signed"),
                "413": _refused("note_too_large, payload_too_large"),
                "422": _refused(
                    "invalid_note, unsafe_text (a control character or bidirectional override; the "
                    "error's fields name the form field, its message the character and position)"
                ),
            },
        },
    },
    "/api/notes/{note_id}/sign": {
        "post": {
            "summary": "Sign a draft into a FHIR transaction Bundle; idempotent by request_id",
            "tags": ["notes"],
            "security": _STAFF,
            "parameters": [_NOTE_ID],
            "requestBody": _body(
                ["version", "request_id"],
                {
                    "version": {"type": "integer", "minimum": 1},
                    "request_id": {"type": "string", "maxLength": 64},
                },
            ),
            "responses": {
                "200": _answer("already signed by this request_id (replayed)"),
                "201": _answer("{note, bundle_id, composition_id, encounter_id, replayed}"),
                "401": _refused("auth_required"),
                "403": _refused("forbidden, not_note_author"),
                "409": _refused("stale_version, note_signed, consent_missing, request_id_reused"),
                "422": _refused(
                    "incomplete_note (fields: the form fields to fill), staff_facts_missing, "
                    "invalid_record (a server fault: whatever a draft save accepts, signing accepts)"
                ),
            },
        }
    },
    "/api/notes/{note_id}/seal": {
        "get": {
            "summary": "Check a signed note against its seal with this server's current and old keys",
            "tags": ["notes"],
            "security": _STAFF,
            "parameters": [_NOTE_ID],
            "responses": {
                "200": _answer(
                    "{note_id, status: valid | invalid (changed after signing) | unverifiable "
                    "(sealed by a key this server does not hold), key_id (hex, null for old seals)}"
                ),
                "401": _refused("auth_required"),
                "403": _refused("forbidden"),
                "404": _refused("not_found (no such note, or a draft)"),
            },
        }
    },
    "/api/notes/{note_id}/addenda": {
        "post": {
            "summary": "Add a signed addendum to a signed note; idempotent by request_id",
            "tags": ["notes"],
            "security": _STAFF,
            "parameters": [_NOTE_ID],
            "requestBody": _body(
                ["text", "request_id"],
                {
                    "text": {"type": "string", "maxLength": 4000},
                    "request_id": {"type": "string", "maxLength": 64},
                },
            ),
            "responses": {
                "200": _answer("replayed"),
                "201": _answer("{note, bundle_id, composition_id, encounter_id, replayed}"),
                "401": _refused("auth_required"),
                "403": _refused("forbidden"),
                "409": _refused("note_not_signed"),
                "422": _refused("unsafe_text, invalid_note, staff_facts_missing"),
            },
        }
    },
}
