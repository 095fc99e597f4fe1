"""Photos a patient shares in a consult: what one is, how big it may be, and who may see or keep it.

The patient sends a photo from the phone's camera while waiting or in the call (the same moments
the chat allows, ``rooms/chat.py``); the staff who may answer the chat may see it (before
admission the unit's staff, afterwards the host); only the host keeps it in the record, and only
with the patient's consent noted. The bytes are checked and re-encoded by ``records/photo_images.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rooms.consult import Actor, Consult, RuleViolation, ViolationCode
from rooms.errors import DomainError
from rooms.roles import STAFF_ROLES

MAX_PHOTO_BYTES = 8 * 1024 * 1024
"""Largest upload accepted (a phone camera's JPEG is 2 to 5 MB); larger ones get 413."""
CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
"""The only types a photo is stored and served as."""
MAX_PHOTOS_PER_CONSULT = 20
"""Photos one consult stores: a few views of what the nurse should see, never an album. Re-encoded
photos are at most 2048 px a side (a few MB at worst), so a consult's photos stay bounded."""


class PhotosFull(DomainError):
    """The consult holds :data:`MAX_PHOTOS_PER_CONSULT` photos; no wait makes room (unlike
    ``rate_limited``), so it is refused like a full chat."""

    CODE = "photos_full"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            f"Esta consulta ya tiene {MAX_PHOTOS_PER_CONSULT} fotos y no admite más.",
            f"This consult already holds {MAX_PHOTOS_PER_CONSULT} photos and takes no more.",
        )


@dataclass(frozen=True, slots=True)
class Photo:
    """A stored photo's facts (its bytes travel apart)."""

    photo_id: str
    consult_id: str
    uploaded_by: str
    uploaded_at: datetime
    content_type: str
    width: int
    height: int
    byte_size: int
    kept_at: datetime | None = None
    kept_by: str | None = None
    """The host who kept it in the record, with the patient's consent noted."""
    consent: PhotoConsent | None = None
    """The patient's consent to keep it, as noted (every kept photo has one)."""

    def to_json(self) -> dict[str, object]:
        return {
            "photo_id": self.photo_id,
            "consult_id": self.consult_id,
            "uploaded_at": self.uploaded_at.isoformat(),
            "content_type": self.content_type,
            "width": self.width,
            "height": self.height,
            "byte_size": self.byte_size,
            "kept": self.kept_at is not None,
            "consent": self.consent.to_json() if self.consent is not None else None,
        }


@dataclass(frozen=True, slots=True)
class PhotoConsent:
    """The patient agreed to keep the photo in the record: who noted it, when, and in which words
    (the record's proof of consent is the consent itself, not a note that there was one)."""

    noted_by: str
    noted_at: datetime
    statement: str

    def to_json(self) -> dict[str, object]:
        return {"noted_by": self.noted_by, "noted_at": self.noted_at.isoformat(), "statement": self.statement}


CONSENT_STATEMENT = (
    "El paciente aceptó que esta foto se guarde en su expediente clínico. / "
    "The patient agreed to keep this photo in their clinical record."
)
"""What the host confirms the patient agreed to when keeping a photo; stored with each consent, so
a later change of these words never changes what an earlier patient agreed to."""


class PhotoConsentMissing(DomainError):
    """Keeping a photo without the patient's consent noted; nothing was changed."""

    CODE = "consent_missing"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Para guardar la foto en el expediente, anote que el paciente dio su consentimiento.",
            "To keep the photo in the record, note that the patient gave their consent.",
        )


def note_consent(consent: bool, host: Actor, at: datetime) -> PhotoConsent:
    """The consent the host notes in keeping a photo; refused when the patient did not give it."""
    if not consent:
        raise PhotoConsentMissing()
    return PhotoConsent(host.participant_id, at, CONSENT_STATEMENT)


def require_patient(consult: Consult, actor: Actor) -> None:
    """Only the consult's own patient sends photos (an invitee's link is refused)."""
    if not actor.via_link or actor.participant_id != consult.patient_id:
        raise RuleViolation(
            ViolationCode.FORBIDDEN,
            "Solo el paciente de la consulta envía fotos.",
            "Only the consult's patient sends photos.",
        )


def require_viewer(consult: Consult, actor: Actor) -> None:
    """Who sees a consult's photos: signed-in staff of its unit until someone hosts it, then the
    host only (also after the end, while writing the note). A link sees none: the patient's page
    shows its own photo from the phone."""
    if actor.via_link or actor.role not in STAFF_ROLES:
        raise RuleViolation(
            ViolationCode.FORBIDDEN,
            "Solo el personal de la consulta ve sus fotos.",
            "Only the consult's staff see its photos.",
        )
    if consult.host_id is not None:
        if actor.participant_id != consult.host_id:
            raise RuleViolation(
                ViolationCode.NOT_YOUR_CONSULT,
                "Solo quien dirige la consulta ve sus fotos.",
                "Only the consult's host sees its photos.",
            )
    elif consult.unit and actor.unit != consult.unit:
        raise RuleViolation(
            ViolationCode.WRONG_UNIT,
            "Esta consulta pertenece a otra unidad.",
            "This consult belongs to another unit.",
        )


def require_host(consult: Consult, actor: Actor) -> None:
    """Keeping a photo in the record is the host's decision (after admission)."""
    if consult.host_id is None or actor.participant_id != consult.host_id or actor.via_link:
        raise RuleViolation(
            ViolationCode.NOT_YOUR_CONSULT,
            "Solo quien dirige la consulta guarda fotos en el expediente.",
            "Only the consult's host keeps photos in the record.",
        )
