"""REST errors: one exception type, rendered by a middleware as ``{"error": {code, message}}``."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from web.logs import logged_path
from web.schemas.errors import ErrorDetail, ErrorView

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        """Whole seconds to wait before trying again, for ``429``: the body's ``retry_after`` and
        the ``Retry-After`` header."""


def rate_limited(wait: float, message_es: str, message_en: str) -> ApiError:
    """``429 rate_limited`` with the wait rounded up to whole seconds (``{s}`` in the messages)."""
    seconds = max(1, math.ceil(wait))
    message = f"{message_es.format(s=seconds)} / {message_en.format(s=seconds)}"
    return ApiError(429, "rate_limited", message, retry_after=seconds)


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> web.Response:
    if retry_after is None:
        detail, headers = ErrorDetail(code=code, message=message), {}
    else:
        detail = ErrorDetail(code=code, message=message, retry_after=retry_after)
        headers = {"Retry-After": str(retry_after)}
    view = ErrorView(error=detail)
    return web.json_response(view.model_dump(mode="json", exclude_unset=True), status=status, headers=headers)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.code, error.message, error.retry_after)
    except web.HTTPException as error:
        if not request.path.startswith("/api/") or error.status < 400:
            raise
        return error_response(error.status, "http_error", error.reason)
    except Exception as error:
        path = logged_path(request.path)
        logger.error("%s %s failed: %s", request.method, path, type(error).__name__, exc_info=error)
        return error_response(500, "internal", "Error interno. / Internal error.")
