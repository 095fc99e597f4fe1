"""REST errors: one exception type, rendered by a middleware as ``{"error": {code, message}}``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.code, error.message)
    except web.HTTPException as error:
        if not request.path.startswith("/api/") or error.status < 400:
            raise
        return error_response(error.status, "http_error", error.reason)
    except Exception as error:
        logger.error("%s %s failed: %s", request.method, request.path, type(error).__name__, exc_info=error)
        return error_response(500, "internal", "Error interno. / Internal error.")


async def json_object(request: web.Request, max_bytes: int = 16 * 1024) -> dict[str, object]:
    """Read a bounded JSON object body, or raise a clear 4xx."""
    if request.content_type != "application/json":
        raise ApiError(415, "bad_payload", "Se espera JSON. / JSON expected.")
    if request.content_length is None or request.content_length > max_bytes:
        raise ApiError(413, "payload_too_large", "Solicitud demasiado grande. / Request too large.")
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(400, "bad_payload", "JSON no válido. / Invalid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_payload", "Se espera un objeto JSON. / A JSON object is expected.")
    return data
