"""The errors the record store raises, one small class per rule, all of them :class:`DomainError`.

A caller (the web layer) matches on ``code`` and may use ``http_status`` and ``fhir_code`` to answer
with the right HTTP status and FHIR ``OperationOutcome.issue.code`` without a mapping of its own.
Every one of them means *nothing was changed*: the store raises before it writes, or rolls back.
Messages never quote the clinical text that was refused, so they are safe to log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rooms.errors import DomainError


class RecordError(DomainError):
    CODE: ClassVar[str] = "record_error"
    HTTP_STATUS: ClassVar[int] = 400
    FHIR_CODE: ClassVar[str] = "invalid"

    def __init__(self, message_es: str, message_en: str) -> None:
        super().__init__(self.CODE, message_es, message_en)

    @property
    def http_status(self) -> int:
        return self.HTTP_STATUS

    @property
    def fhir_code(self) -> str:
        return self.FHIR_CODE

    @property
    def fields(self) -> list[NoteField]:
        """The note's form fields the refusal is about (none for refusals that are not about content)."""
        return []


class NotFound(RecordError):
    CODE = "not_found"
    HTTP_STATUS = 404
    FHIR_CODE = "not-found"

    def __init__(self, what: str) -> None:
        super().__init__(f"No existe: {what}.", f"Not found: {what}.")


class UnknownPatient(RecordError):
    CODE = "unknown_patient"
    HTTP_STATUS = 404
    FHIR_CODE = "not-found"

    def __init__(self) -> None:
        super().__init__(
            "El paciente no está registrado en el expediente.", "The patient is not registered in the record."
        )


class AccessDenied(RecordError):
    CODE = "forbidden"
    HTTP_STATUS = 403
    FHIR_CODE = "forbidden"

    def __init__(self) -> None:
        super().__init__(
            "No tiene un papel en la atención de este paciente.", "You have no role in this patient's care."
        )


class NotNoteAuthor(RecordError):
    CODE = "not_note_author"
    HTTP_STATUS = 403
    FHIR_CODE = "forbidden"

    def __init__(self) -> None:
        super().__init__(
            "Solo quien elabora la nota puede modificarla o firmarla.",
            "Only the note's author may change or sign it.",
        )


class NoteAlreadySigned(RecordError):
    CODE = "note_signed"
    HTTP_STATUS = 409
    FHIR_CODE = "conflict"

    def __init__(self) -> None:
        super().__init__(
            "La nota ya está firmada y no puede cambiar; agregue una nota aclaratoria (adenda).",
            "The note is signed and cannot change; add an addendum instead.",
        )


class NoteNotSigned(RecordError):
    CODE = "note_not_signed"
    HTTP_STATUS = 409
    FHIR_CODE = "conflict"

    def __init__(self) -> None:
        super().__init__(
            "Solo se agregan adendas a notas firmadas; el borrador se corrige directamente.",
            "Addenda are for signed notes; correct the draft itself.",
        )


class StaleVersion(RecordError):
    """The draft changed since the caller read it; the caller must reload and merge, never overwrite."""

    CODE = "stale_version"
    HTTP_STATUS = 409
    FHIR_CODE = "conflict"

    def __init__(self, current_version: int) -> None:
        super().__init__(
            f"La nota cambió (versión actual {current_version}); recárguela antes de guardar.",
            f"The note changed (current version {current_version}); reload it before saving.",
        )
        self.current_version = current_version


@dataclass(frozen=True, slots=True)
class NoteField:
    """Where in the note's form a problem is: codes for programs, the form's own labels for people.

    ``label_es``/``label_en`` are what the nurse sees on screen: the section's title, the field's
    title and, for a list, which line (see :meth:`records.templates.SectionSpec.labels`).
    """

    section: str
    key: str | None
    index: int | None
    label_es: str
    label_en: str

    @property
    def path(self) -> str:
        """``section.key[index]``: the stable location in ``content``."""
        path = self.section if self.key is None else f"{self.section}.{self.key}"
        return path if self.index is None else f"{path}[{self.index}]"

    def to_json(self) -> dict[str, object]:
        return {
            "section": self.section,
            "key": self.key,
            "index": self.index,
            "path": self.path,
            "label_es": self.label_es,
            "label_en": self.label_en,
        }


def _where(at: NoteField | str) -> tuple[str, str]:
    return (at.label_es, at.label_en) if isinstance(at, NoteField) else (at, at)


class InvalidNote(RecordError):
    """A value the note's form cannot hold. ``at`` is the form field (or, for what is not a form
    field, such as an unknown section or the request's ids, the name as sent)."""

    CODE = "invalid_note"
    HTTP_STATUS = 422
    FHIR_CODE = "invalid"

    def __init__(self, at: NoteField | str, reason_es: str, reason_en: str) -> None:
        es, en = _where(at)
        super().__init__(f"Dato no válido en «{es}»: {reason_es}.", f"Invalid value in '{en}': {reason_en}.")
        self.field = at if isinstance(at, NoteField) else None
        self.path = at.path if isinstance(at, NoteField) else at

    @property
    def fields(self) -> list[NoteField]:
        return [self.field] if self.field else []


class UnsafeText(InvalidNote):
    """Text with a character that is not text: a control character or a bidirectional override,
    which would change how the note reads. The message names the character by code point and
    position (never the text itself) so the nurse can delete exactly that one."""

    CODE = "unsafe_text"

    def __init__(self, at: NoteField | str, codepoint: str, position: int) -> None:
        super().__init__(
            at,
            f"tiene un carácter invisible de control ({codepoint}) en la posición {position}, que "
            "puede cambiar cómo se lee el texto; bórrelo (suele llegar al copiar y pegar: si no lo "
            "encuentra, escriba de nuevo esa parte en vez de pegarla)",
            f"it holds an invisible control character ({codepoint}) at position {position}, which can "
            "change how the text reads; delete it (it usually comes with pasted text: if you cannot "
            "find it, type that part again instead of pasting it)",
        )
        self.codepoint = codepoint
        self.position = position


class NoteTooLarge(RecordError):
    CODE = "note_too_large"
    HTTP_STATUS = 413
    FHIR_CODE = "too-costly"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"La nota excede el tamaño máximo ({limit_bytes // 1024} KiB).",
            f"The note exceeds the maximum size ({limit_bytes // 1024} KiB).",
        )


class IncompleteNote(RecordError):
    CODE = "incomplete_note"
    HTTP_STATUS = 422
    FHIR_CODE = "required"

    def __init__(self, missing: list[NoteField]) -> None:
        es = "; ".join(f.label_es for f in missing)
        en = "; ".join(f.label_en for f in missing)
        super().__init__(f"Faltan datos obligatorios: {es}.", f"Required fields are missing: {en}.")
        self._fields = missing
        self.missing = [f.path for f in missing]

    @property
    def fields(self) -> list[NoteField]:
        return list(self._fields)


class InvalidFacts(RecordError):
    """A patient, staff or unit fact (NSS, CURP, cédula, CLUES, name) that is not well formed."""

    CODE = "invalid_identifier"
    HTTP_STATUS = 422
    FHIR_CODE = "value"

    def __init__(self, what: str, reason_es: str, reason_en: str) -> None:
        super().__init__(f"{what} no es válido: {reason_es}.", f"{what} is not valid: {reason_en}.")
        self.what = what


class SessionLogMissing(RecordError):
    CODE = "session_log_missing"
    HTTP_STATUS = 409
    FHIR_CODE = "business-rule"

    def __init__(self) -> None:
        super().__init__(
            "No hay bitácora de la sesión para esta consulta; termine la llamada antes de firmar.",
            "There is no session log for this consult; end the call before signing.",
        )


class InvalidRecord(RecordError):
    """The FHIR resources built from a note break a structural or business rule; nothing was stored.

    Whatever a draft save accepts signs (the note rules refuse, at save, everything the record would
    refuse), so this is the server's fault, never the nurse's: the message says so and keeps the note
    a draft; the FHIR locations are in ``issues`` (logged) rather than in front of the nurse.
    """

    CODE = "invalid_record"
    HTTP_STATUS = 422
    FHIR_CODE = "business-rule"

    def __init__(self, issues: list[str]) -> None:
        super().__init__(
            "El servidor no pudo generar el registro clínico de esta nota; no es un error de lo escrito. "
            "La nota sigue guardada como borrador: avise a soporte técnico.",
            "The server could not build the clinical record of this note; it is not a mistake in the "
            "text. The note is still saved as a draft: tell technical support.",
        )
        self.issues = issues


class RequestIdReused(RecordError):
    CODE = "request_id_reused"
    HTTP_STATUS = 409
    FHIR_CODE = "duplicate"

    def __init__(self) -> None:
        super().__init__(
            "El identificador de la solicitud de firma ya se usó para otra nota.",
            "The sign request id was already used for another note.",
        )


class InvalidSearch(RecordError):
    CODE = "invalid_search"
    HTTP_STATUS = 400
    FHIR_CODE = "invalid"

    def __init__(self, reason_es: str, reason_en: str) -> None:
        super().__init__(f"Búsqueda no válida: {reason_es}.", f"Invalid search: {reason_en}.")
