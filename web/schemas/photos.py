"""Photos a patient shares in a consult: what the upload answers and what keeping one takes."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from web.schemas.base import Body, View


class ConsentView(View):
    """The patient's consent to keep the photo, as the host noted it."""

    noted_by: str = Field(description="the staff id of the host who noted it")
    noted_at: str = Field(json_schema_extra={"format": "date-time"})
    statement: str = Field(description="what the patient agreed to, Spanish / English")


class PhotoView(View):
    photo_id: str
    consult_id: str
    uploaded_at: str = Field(json_schema_extra={"format": "date-time"})
    content_type: Literal["image/jpeg", "image/png", "image/webp"]
    width: int
    height: int
    byte_size: int
    kept: bool
    consent: ConsentView | None


class SenderView(View):
    participant_id: str
    role: str
    name: str


class ChatMessageView(View):
    """A chat message as ``chat:message`` carries it (docs/protocol.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True, validate_by_name=True)
    consult_id: str
    seq: int
    at: str = Field(json_schema_extra={"format": "date-time"})
    sender: SenderView = Field(alias="from")
    text: str
    photo_id: str | None


class SharedPhoto(View):
    """The stored photo, and the chat message that told the consult about it."""

    photo: PhotoView
    message: ChatMessageView


class KeepPhotoRequest(Body):
    """The host keeps the photo in the record; ``consent: true`` notes that the patient agreed
    (``false`` is refused with ``409 consent_missing``: nothing is kept without it)."""

    consent: bool


class KeptPhoto(View):
    photo: PhotoView
