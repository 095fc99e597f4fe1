"""The three kinds of REST message and the field types they share.

* :class:`Body`: a JSON request body. Types are strict (``"5"`` is not a number, ``true`` is not
  ``1``), strings are bounded, and unknown fields are refused unless a model says otherwise
  (the scheduling, notes and sign-in bodies have always ignored them, and still do).
  ``MAX_BYTES`` bounds the body before it is parsed.
* :class:`Query`: a query string; its values arrive as text, so numbers are converted.
* :class:`View`: an answer. A view refuses fields it does not declare, so an answer cannot carry
  anything its schema does not say; it is sent with the fields it was given
  (:func:`web.payloads.answer` drops unset ones), so a field with a default is one that may be
  absent, and the schema says so.

Times in answers are text, written by the code that knows their zone (``isoformat``), and
described as ``date-time``; times in requests are parsed into aware datetimes here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema

from services.scheduling import UNIT_PATTERN

DEFAULT_MAX_BYTES = 16 * 1024
MAX_INSTANT_LENGTH = 64


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    MAX_BYTES: ClassVar[int] = DEFAULT_MAX_BYTES
    """Larger bodies are refused (``413 payload_too_large``) before they are read."""


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _instant(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > MAX_INSTANT_LENGTH:
        raise ValueError("an ISO 8601 date-time with an offset")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("the offset is missing (e.g. Z or -06:00)")
    return parsed


def _day(value: object) -> date:
    if not isinstance(value, str):
        raise ValueError("a YYYY-MM-DD date")
    return date.fromisoformat(value)


Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "maxLength": MAX_INSTANT_LENGTH,
            "description": "ISO 8601 with an offset, e.g. 2026-03-02T10:00:00-06:00",
        }
    ),
]
"""A moment sent by a client: ISO 8601 with its offset (a time without one is refused)."""

Day = Annotated[
    date, BeforeValidator(_day), WithJsonSchema({"type": "string", "format": "date", "maxLength": 10})
]
"""A calendar date sent by a client, ``YYYY-MM-DD``."""

UnitId = Annotated[str, StringConstraints(pattern=f"^{UNIT_PATTERN.pattern}$")]
"""A unit's id: 1 to 64 letters, digits, ``-`` or ``_``."""

DateTimeText = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""A moment in an answer, ISO 8601 with its offset."""

DateText = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
"""A calendar date in an answer, ``YYYY-MM-DD``."""

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Text8 = Annotated[str, StringConstraints(min_length=1, max_length=8)]
Text32 = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text254 = Annotated[str, StringConstraints(min_length=1, max_length=254)]
"""Strings of 1 to so many characters (254: the longest e-mail address)."""
