"""The errors the record store raises, one small class per rule, all of them :class:`DomainError`.

A caller (the web layer) matches on ``code`` and may use ``http_status`` and ``fhir_code`` to answer
with the right HTTP status and FHIR ``OperationOutcome.issue.code`` without a mapping of its own.
Every one of them means *nothing was changed*: the store raises before it writes, or rolls back.
Messages never quote the clinical text that was refused, so they are safe to log.
"""

from __future__ import annotations

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


class InvalidNote(RecordError):
    CODE = "invalid_note"
    HTTP_STATUS = 422
    FHIR_CODE = "invalid"

    def __init__(self, path: str, reason_es: str, reason_en: str) -> None:
        super().__init__(
            f"Dato no válido en «{path}»: {reason_es}.", f"Invalid value at '{path}': {reason_en}."
        )
        self.path = path


class UnsafeText(InvalidNote):
    """Text with markup or control characters: it could run as script wherever it is shown."""

    CODE = "unsafe_text"

    def __init__(self, path: str) -> None:
        super().__init__(
            path,
            "no se permiten etiquetas (como «<script») ni caracteres de control; "
            "escriba «menor que» o deje un espacio después de «<»",
            "markup (such as '<script') and control characters are not allowed; "
            "write 'less than' or leave a space after '<'",
        )


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

    def __init__(self, missing: list[str]) -> None:
        joined = ", ".join(missing)
        super().__init__(f"Faltan datos obligatorios: {joined}.", f"Required fields are missing: {joined}.")
        self.missing = missing


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
    """The FHIR resources built from a note break a structural or business rule; nothing was stored."""

    CODE = "invalid_record"
    HTTP_STATUS = 422
    FHIR_CODE = "business-rule"

    def __init__(self, issues: list[str]) -> None:
        joined = "; ".join(issues[:5])
        super().__init__(
            f"El registro clínico no es válido: {joined}.", f"The clinical record is not valid: {joined}."
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
