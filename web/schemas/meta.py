"""The OpenAPI document itself (``GET /api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from web.schemas.base import View


class OpenApiDocument(View):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
