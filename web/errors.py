"""REST errors: one exception type, rendered by a middleware as ``{"error": {code, message}}``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from web.logs import logged_path
from web.schemas.errors import ErrorDetail, ErrorView

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> web.Response:
    view = ErrorView(error=ErrorDetail(code=code, message=message))
    return web.json_response(view.model_dump(mode="json", exclude_unset=True), status=status)


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
        path = logged_path(request.path)
        logger.error("%s %s failed: %s", request.method, path, type(error).__name__, exc_info=error)
        return error_response(500, "internal", "Error interno. / Internal error.")
