"""Clinical notes and their rules: drafts with versions, signing, addenda. Pure: values in, values out.

A draft is saved continuously; every save names the version it was based on and a save based on an
older version is refused (:class:`StaleVersion`) so newer text is never silently overwritten. Signing
freezes the note: a signed note never changes again (NOM-004 5.11, no *enmendaduras*); a correction is
an addendum, a new note that references the signed one. Every note carries date and time (``created_at``,
``signed_at``), the author's full name and, once signed, a seal over its content (see :mod:`records.seal`).

Content is ``{section_code: {field_key: value}}`` checked against the note's :class:`Template`: unknown
sections or fields, wrong types, values out of range, text over its limit, identifiers that are not
well formed, control characters and bidirectional overrides are refused at every save, so an invalid
note cannot even be stored as a draft. Ordinary characters (``<``, ``>``, ``=``, ``&``, quotes) are
text and are stored as written; whoever shows them escapes them (see :mod:`records.safe_text`).
Required fields are only demanded at signing, because a draft is work in progress. The rule that
binds the two: whatever a draft save accepts, signing accepts; the FHIR record refuses nothing a
save let through. Every refusal names the form field as the nurse sees it (:class:`NoteField`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType

from records.errors import (
    IncompleteNote,
    InvalidFacts,
    InvalidNote,
    NoteAlreadySigned,
    NoteField,
    NoteTooLarge,
    NotNoteAuthor,
    StaleVersion,
    UnsafeText,
)
from records.identifiers import clean_clues
from records.safe_text import forbidden_character, normalize
from records.templates import (
    REFERRAL_REQUIRED_WHEN_NEEDED,
    FieldKind,
    FieldSpec,
    SectionSpec,
    Template,
    TemplateCode,
    template,
)
from rooms.names import InvalidName
from rooms.names import clean_name as clean_person_name

FieldValue = str | int | float | bool | tuple[str, ...]
Content = Mapping[str, Mapping[str, FieldValue]]

MAX_NOTE_BYTES = 64 * 1024
"""A whole note as UTF-8 JSON; far above a real consult's note and far below a denial of service."""

_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class NoteStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"


def _freeze(content: Mapping[str, Mapping[str, FieldValue]]) -> Content:
    return MappingProxyType({s: MappingProxyType(dict(f)) for s, f in content.items()})


@dataclass(frozen=True, slots=True)
class Note:
    note_id: str
    consult_id: str
    patient_id: str
    """The FHIR ``Patient`` id in the record store (not the NSS)."""
    template: TemplateCode
    author_id: str
    author_name: str
    status: NoteStatus
    version: int
    created_at: datetime
    updated_at: datetime
    content: Content = field(default_factory=lambda: MappingProxyType({}))
    signed_at: datetime | None = None
    amends: str | None = None
    """For an addendum: the id of the signed note it amends."""
    sign_request_id: str | None = None
    bundle_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "content", _freeze(self.content))

    @property
    def is_signed(self) -> bool:
        return self.status is NoteStatus.SIGNED

    def to_json(self) -> dict[str, object]:
        return {
            "note_id": self.note_id,
            "consult_id": self.consult_id,
            "patient_id": self.patient_id,
            "template": self.template.value,
            "author_id": self.author_id,
            "author_name": self.author_name,
            "status": self.status.value,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "amends": self.amends,
            "bundle_id": self.bundle_id,
            "content": content_to_json(self.content),
        }


def content_to_json(content: Content) -> dict[str, dict[str, object]]:
    return {
        section: {key: list(value) if isinstance(value, tuple) else value for key, value in fields.items()}
        for section, fields in content.items()
    }


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidNote(
            what, "use de 1 a 64 letras, dígitos o . _ : -", "use 1 to 64 letters, digits or . _ : -"
        )
    return value


def note_field(section: SectionSpec, key: str | None = None, index: int | None = None) -> NoteField:
    """The form field at ``section.key[index]`` with the labels the nurse sees."""
    es, en = section.labels(key, index)
    return NoteField(section.code, key, index, es, en)


def _field_at(tpl: Template, path: str) -> NoteField | str:
    section_code, _, key = path.partition(".")
    section = tpl.section(section_code)
    return note_field(section, key or None) if section is not None else path


def _clean_text(at: NoteField, spec: FieldSpec, raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidNote(at, "debe ser texto", "it must be text")
    bad = forbidden_character(raw)
    if bad is not None:
        raise UnsafeText(at, bad.codepoint, bad.position)
    text = normalize(raw)
    if len(text) > spec.max_length:
        raise InvalidNote(at, f"máximo {spec.max_length} caracteres", f"at most {spec.max_length} characters")
    if spec.identifier == "clues" and text:
        try:
            text = clean_clues(text)
        except InvalidFacts:
            raise InvalidNote(
                at,
                "una CLUES es de 5 letras y 6 dígitos, p. ej. DFIMS000652",
                "a CLUES is 5 letters and 6 digits, e.g. DFIMS000652",
            ) from None
    return text


def _clean_number(at: NoteField, spec: FieldSpec, raw: object) -> int | float:
    integer = spec.kind is FieldKind.INTEGER
    if isinstance(raw, bool) or not isinstance(raw, int | float) or (integer and not isinstance(raw, int)):
        kind_es, kind_en = ("un número entero", "a whole number") if integer else ("un número", "a number")
        raise InvalidNote(at, f"debe ser {kind_es}", f"it must be {kind_en}")
    if raw != raw or raw in (float("inf"), float("-inf")):
        raise InvalidNote(at, "debe ser un número", "it must be a number")
    low, high = spec.minimum, spec.maximum
    if (low is not None and raw < low) or (high is not None and raw > high):
        unit = f" {spec.unit}" if spec.unit else ""
        raise InvalidNote(
            at, f"fuera de rango ({low} a {high}{unit})", f"out of range ({low} to {high}{unit})"
        )
    return raw if integer else round(float(raw), 1)


def _text_value(section: SectionSpec, spec: FieldSpec, raw: object) -> str:
    return _clean_text(note_field(section, spec.key), spec, raw)


def _text_list_value(section: SectionSpec, spec: FieldSpec, raw: object) -> tuple[str, ...]:
    """Each item is checked as a text of its own (naming its place in the list); empty items drop out."""
    at = note_field(section, spec.key)
    if not isinstance(raw, list | tuple):
        raise InvalidNote(at, "debe ser una lista de textos", "it must be a list of texts")
    if len(raw) > spec.max_items:
        raise InvalidNote(at, f"máximo {spec.max_items} elementos", f"at most {spec.max_items} items")
    items = tuple(_clean_text(note_field(section, spec.key, i), spec, item) for i, item in enumerate(raw))
    return tuple(item for item in items if item)


def _number_value(section: SectionSpec, spec: FieldSpec, raw: object) -> int | float:
    return _clean_number(note_field(section, spec.key), spec, raw)


def _boolean_value(section: SectionSpec, spec: FieldSpec, raw: object) -> bool:
    if not isinstance(raw, bool):
        raise InvalidNote(note_field(section, spec.key), "debe ser sí o no", "it must be true or false")
    return raw


def _choice_value(section: SectionSpec, spec: FieldSpec, raw: object) -> str:
    """A choice is stored by its code; the refusal lists the choices in the nurse's words."""
    if not isinstance(raw, str) or spec.choice(raw) is None:
        es = ", ".join(c.es for c in spec.choices)
        en = ", ".join(c.en for c in spec.choices)
        raise InvalidNote(
            note_field(section, spec.key),
            f"elija una opción de la lista ({es})",
            f"choose one from the list ({en})",
        )
    return raw


def _date_value(section: SectionSpec, spec: FieldSpec, raw: object) -> str:
    """A calendar date as ``YYYY-MM-DD`` in this century's working range (a typo like 0226 is refused)."""
    try:
        parsed = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        parsed = None
    if parsed is None or not 2000 <= parsed.year <= 2100:
        raise InvalidNote(
            note_field(section, spec.key),
            "use una fecha AAAA-MM-DD entre 2000 y 2100",
            "use a date YYYY-MM-DD between 2000 and 2100",
        )
    return parsed.isoformat()


_CLEANERS: Mapping[FieldKind, Callable[[SectionSpec, FieldSpec, object], FieldValue]] = MappingProxyType(
    {
        FieldKind.TEXT: _text_value,
        FieldKind.TEXT_LIST: _text_list_value,
        FieldKind.NUMBER: _number_value,
        FieldKind.INTEGER: _number_value,
        FieldKind.BOOLEAN: _boolean_value,
        FieldKind.CHOICE: _choice_value,
        FieldKind.DATE: _date_value,
    }
)
"""How a value of each kind of field is checked and normalized; a new kind of field adds a line here."""


def _clean_value(section: SectionSpec, spec: FieldSpec, raw: object) -> FieldValue:
    return _CLEANERS[spec.kind](section, spec, raw)


def _is_empty(raw: object) -> bool:
    return raw is None or raw == "" or (isinstance(raw, list | tuple) and len(raw) == 0)


def clean_content(tpl: Template, raw: object) -> dict[str, dict[str, FieldValue]]:
    """Validate and normalize a draft's content, or raise the first problem found (nothing is stored).

    Empty values are dropped, so clearing a field and never filling it look the same.
    """
    try:
        # surrogatepass: a lone surrogate is counted here and refused below, naming its field.
        size = len(json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        raise InvalidNote("content", "no es JSON válido", "it is not valid JSON") from None
    if size > MAX_NOTE_BYTES:
        raise NoteTooLarge(MAX_NOTE_BYTES)
    if not isinstance(raw, Mapping):
        raise InvalidNote("content", "debe ser un objeto por sección", "it must be an object of sections")
    cleaned: dict[str, dict[str, FieldValue]] = {}
    for section_code, fields in raw.items():
        section = tpl.section(section_code) if isinstance(section_code, str) else None
        if section is None:
            raise InvalidNote(str(section_code)[:40], "sección desconocida", "unknown section")
        if not isinstance(fields, Mapping):
            raise InvalidNote(
                note_field(section), "debe ser un objeto de campos", "it must be an object of fields"
            )
        out: dict[str, FieldValue] = {}
        for key, value in fields.items():
            spec = section.field(key) if isinstance(key, str) else None
            if spec is None:
                raise InvalidNote(f"{section_code}.{str(key)[:40]}", "campo desconocido", "unknown field")
            if _is_empty(value):
                continue
            clean = _clean_value(section, spec, value)
            if not _is_empty(clean):
                out[key] = clean
        if out:
            cleaned[section_code] = out
    _check_consistency(tpl, cleaned)
    return cleaned


def _check_consistency(tpl: Template, content: Mapping[str, Mapping[str, FieldValue]]) -> None:
    vitals = content.get("vitals", {})
    systolic, diastolic = vitals.get("systolic_mmhg"), vitals.get("diastolic_mmhg")
    if isinstance(systolic, int) and isinstance(diastolic, int) and diastolic >= systolic:
        raise InvalidNote(
            _field_at(tpl, "vitals.diastolic_mmhg"),
            "la diastólica debe ser menor que la sistólica",
            "diastolic must be below systolic",
        )
    allergies = content.get("allergies", {})
    if allergies.get("none_known") is True and allergies.get("allergies"):
        raise InvalidNote(
            _field_at(tpl, "allergies.none_known"),
            "no puede haber alergias y «sin alergias conocidas»",
            "allergies listed and 'none known'",
        )


def missing_fields(tpl: Template, content: Content) -> list[str]:
    """Paths (``section.field``) a note must fill before it can be signed."""
    missing = [
        f"{section.code}.{spec.key}"
        for section in tpl.sections
        for spec in section.fields
        if spec.required and spec.key not in content.get(section.code, {})
    ]
    vitals = content.get("vitals", {})
    if ("systolic_mmhg" in vitals) != ("diastolic_mmhg" in vitals):
        missing.append("vitals.diastolic_mmhg" if "systolic_mmhg" in vitals else "vitals.systolic_mmhg")
    screening = content.get("risk-screening", {})
    if ("phq2_interest" in screening) != ("phq2_mood" in screening):  # PHQ-2 scores only as a pair
        missing.append(
            "risk-screening.phq2_mood" if "phq2_interest" in screening else "risk-screening.phq2_interest"
        )
    referral = content.get("referral", {})
    if referral.get("needed") is True:
        missing.extend(f"referral.{key}" for key in REFERRAL_REQUIRED_WHEN_NEEDED if key not in referral)
    return missing


def new_draft(
    *,
    note_id: str,
    consult_id: str,
    patient_id: str,
    template_code: TemplateCode,
    author_id: str,
    author_name: str,
    at: datetime,
    amends: str | None = None,
) -> Note:
    try:
        name = clean_person_name(author_name)  # the one name rule (rooms/names.py)
    except InvalidName as error:
        raise InvalidNote("author_name", error.reason_es, error.reason_en) from None
    if (template_code is TemplateCode.ADDENDUM) != (amends is not None):
        raise InvalidNote(
            "template", "una adenda debe referir a una nota firmada", "an addendum must amend a signed note"
        )
    return Note(
        note_id=note_id,
        consult_id=check_id(consult_id, "consult_id"),
        patient_id=patient_id,
        template=template_code,
        author_id=author_id,
        author_name=name,
        status=NoteStatus.DRAFT,
        version=1,
        created_at=at,
        updated_at=at,
        amends=amends,
    )


def _check_editable(note: Note, editor_id: str, base_version: int) -> None:
    if note.is_signed:
        raise NoteAlreadySigned()
    if editor_id != note.author_id:
        raise NotNoteAuthor()
    if base_version != note.version:
        raise StaleVersion(note.version)


def revise(note: Note, *, editor_id: str, base_version: int, content: object, at: datetime) -> Note:
    """The draft with new content and the next version; refused if signed, not the author's, or stale."""
    _check_editable(note, editor_id, base_version)
    cleaned = clean_content(template(note.template), content)
    return replace(note, content=cleaned, version=note.version + 1, updated_at=max(at, note.updated_at))


def sign(note: Note, *, signer_id: str, version: int, request_id: str, at: datetime) -> Note:
    """The note signed at ``at``: immutable from now on. Only complete notes of their author sign."""
    _check_editable(note, signer_id, version)
    tpl = template(note.template)
    missing = missing_fields(tpl, note.content)
    if missing:
        raise IncompleteNote([f for f in (_field_at(tpl, p) for p in missing) if isinstance(f, NoteField)])
    return replace(
        note,
        status=NoteStatus.SIGNED,
        signed_at=max(at, note.updated_at),
        updated_at=max(at, note.updated_at),
        sign_request_id=check_id(request_id, "request_id"),
    )


def content_digest(note: Note) -> str:
    """SHA-256 over the canonical JSON of what was signed: who, when, which note, and its content."""
    canonical = json.dumps(
        {
            "note_id": note.note_id,
            "consult_id": note.consult_id,
            "patient_id": note.patient_id,
            "template": note.template.value,
            "author_id": note.author_id,
            "author_name": note.author_name,
            "signed_at": note.signed_at.isoformat() if note.signed_at else None,
            "amends": note.amends,
            "content": content_to_json(note.content),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
