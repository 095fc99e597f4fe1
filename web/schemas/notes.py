"""Clinical notes over REST: the templates, a note, autosave, signing, addenda and the seal.

What a note may hold is the record store's rule (``records``); a body here is only the envelope
(its version, its request id), and the note's ``content`` is checked by the store, which answers
with its own codes (``invalid_note``, ``unsafe_text``, ``note_too_large``, …).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field

from records.notes import MAX_NOTE_BYTES, Note, NoteStatus
from records.repository import SignResult
from records.seal import SealStatus
from records.templates import FieldKind, FieldSpec, Template, TemplateCode
from web.schemas.base import Body, DateTimeText, NonEmpty, View
from web.schemas.errors import ErrorDetail

Version = Annotated[int, Field(gt=0, lt=2**31)]
SMALL_BODY = 32 * 1024


class ChoiceView(View):
    code: str
    es: str
    en: str


class FieldView(View):
    key: str
    kind: FieldKind
    title_es: str
    title_en: str
    required: bool
    max_length: int
    max_items: int
    minimum: int | float | None
    maximum: int | float | None
    unit: str | None
    choices: list[ChoiceView]

    @classmethod
    def of(cls, spec: FieldSpec) -> FieldView:
        return cls(
            key=spec.key,
            kind=spec.kind,
            title_es=spec.title_es,
            title_en=spec.title_en,
            required=spec.required,
            max_length=spec.max_length,
            max_items=spec.max_items,
            minimum=spec.minimum,
            maximum=spec.maximum,
            unit=spec.unit,
            choices=[ChoiceView(code=c.code, es=c.es, en=c.en) for c in spec.choices],
        )


class SectionView(View):
    code: str
    title_es: str
    title_en: str
    fields: list[FieldView]


class TemplateView(View):
    code: TemplateCode
    title_es: str
    title_en: str
    sections: list[SectionView]

    @classmethod
    def of(cls, template: Template) -> TemplateView:
        sections = [
            SectionView(
                code=s.code,
                title_es=s.title_es,
                title_en=s.title_en,
                fields=[FieldView.of(f) for f in s.fields],
            )
            for s in template.sections
        ]
        return cls(
            code=template.code, title_es=template.title_es, title_en=template.title_en, sections=sections
        )


class TemplatesView(View):
    templates: list[TemplateView] = Field(description="the templates the console draws its form from")


class NoteView(View):
    note_id: str
    consult_id: str
    patient_id: str = Field(description="the record's Patient id, not the NSS")
    template: TemplateCode
    author_id: str
    author_name: str
    status: NoteStatus
    version: int
    created_at: DateTimeText
    updated_at: DateTimeText
    signed_at: DateTimeText | None
    amends: str | None = Field(description="for an addendum: the signed note it amends")
    bundle_id: str | None
    content: dict[str, dict[str, Any]] = Field(description="{section: {field: value}}")

    @classmethod
    def of(cls, note: Note) -> NoteView:
        return cls.model_validate(note.to_json())


class NoteAnswer(View):
    note: NoteView


class ConsultNote(View):
    """The host's latest draft for the consult, else its signed note, with that note's addenda."""

    consult_id: str
    note: NoteView | None
    addenda: list[NoteView]


class OpenNoteRequest(Body):
    model_config = ConfigDict(extra="ignore")
    MAX_BYTES: ClassVar[int] = SMALL_BODY
    template: NonEmpty = Field(description="first-consult, follow-up or inter-unit")


class SaveNoteRequest(Body):
    """Autosave: the next version of a draft, based on the version the page last saw."""

    model_config = ConfigDict(extra="ignore")
    MAX_BYTES: ClassVar[int] = MAX_NOTE_BYTES + 32 * 1024
    """A whole note plus JSON overhead; the store refuses notes over 64 KiB (``note_too_large``)."""
    base_version: Version
    content: Any = Field(description="{section: {field: value}}, checked by the record store")


class SignNoteRequest(Body):
    model_config = ConfigDict(extra="ignore")
    MAX_BYTES: ClassVar[int] = SMALL_BODY
    version: Version
    request_id: NonEmpty = Field(description="makes signing idempotent: the same id signs once")
    keep_chat: bool = Field(default=False, description="keep the consult's chat transcript in the record")


class AddendumRequest(Body):
    model_config = ConfigDict(extra="ignore")
    MAX_BYTES: ClassVar[int] = SMALL_BODY
    text: NonEmpty
    request_id: NonEmpty = Field(description="makes adding idempotent: the same id adds once")


class Signed(View):
    note: NoteView
    bundle_id: str
    composition_id: str
    encounter_id: str
    replayed: bool = Field(description="true when this request id had already signed: nothing new stored")

    @classmethod
    def of(cls, result: SignResult) -> Signed:
        return cls(
            note=NoteView.of(result.note),
            bundle_id=result.bundle_id,
            composition_id=result.composition_id,
            encounter_id=result.encounter_id,
            replayed=result.replayed,
        )


class SealView(View):
    note_id: str
    status: SealStatus = Field(
        description="valid; invalid (changed after signing); unverifiable (sealed by a key this server lacks)"
    )
    key_id: str | None = Field(description="hex; null for seals made before key ids")


class StaleNote(View):
    """stale_version: nothing was overwritten; here is the newer note."""

    error: ErrorDetail
    note: NoteView
