"""The one error answer: ``{"error": {"code", "message", …}}`` (docs/api.md, Error codes)."""

from __future__ import annotations

from pydantic import Field

from web.schemas.base import View


class FieldRef(View):
    """A form field a refusal about a clinical note's content is about, as the nurse sees it."""

    section: str
    key: str | None
    index: int | None = Field(description="the 0-based line of a list")
    path: str
    label_es: str
    label_en: str


class ErrorDetail(View):
    code: str = Field(description="stable, for programs (docs/api.md lists every one)")
    message: str = Field(description="for people: Spanish / English")
    message_es: str | None = Field(default=None, description="clinical notes: the message in Spanish")
    message_en: str | None = Field(default=None, description="clinical notes: the message in English")
    fields: list[FieldRef] | None = Field(
        default=None, description="clinical notes: the form fields a content refusal is about"
    )
    retry_after: int | None = Field(
        default=None,
        description="rate_limited, database_unavailable, store_unavailable: whole seconds to wait",
    )


class ErrorView(View):
    error: ErrorDetail
