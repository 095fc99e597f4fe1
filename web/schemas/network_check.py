"""The pre-join network check's probes (``/api/network-check/…``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from web.schemas.base import Query, View

MAX_TRANSFER = 512 * 1024
"""The largest download or upload a check makes, in bytes: patients may pay for every byte."""


class DownloadQuery(Query):
    bytes: int = Field(default=256 * 1024, ge=1, le=MAX_TRANSFER, description="how many random bytes")


class Pong(View):
    ok: Literal[True]


class Uploaded(View):
    bytes: int = Field(description="how many bytes arrived")
