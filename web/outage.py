"""A dependency down answers ``503`` with a stable code and ``Retry-After``, not ``500 internal``.

``database_unavailable`` or ``store_unavailable`` (see :mod:`services.outages` for what counts), with
the wait in ``Retry-After`` and in the body's ``retry_after``. The request changed nothing the
client must undo (a booking writes the database before Redis, a signing is one transaction), so
the client may simply send it again, with the same idempotency key or request id. One log line per
refusal: the route's template and the error's kind, no traceback, no request content.
"""

from __future__ import annotations

import logging

from aiohttp import web

from services.outages import RETRY_AFTER_SECONDS, Outage, outage_of
from web.errors import Handler
from web.schemas.errors import ErrorDetail, ErrorView

logger = logging.getLogger(__name__)


def unavailable(outage: Outage) -> web.Response:
    detail = ErrorDetail(
        code=outage.value,
        message=f"{outage.message_es} / {outage.message_en}",
        retry_after=RETRY_AFTER_SECONDS,
    )
    body = ErrorView(error=detail).model_dump(mode="json", exclude_unset=True)
    return web.json_response(body, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@web.middleware
async def outage_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as error:
        outage = outage_of(error)
        if outage is None:
            raise
        route = request.match_info.route.resource
        logger.warning(
            "%s %s answered %s (%s)",
            request.method,
            route.canonical if route is not None else "-",
            outage.value,
            type(error).__name__,
        )
        return unavailable(outage)
