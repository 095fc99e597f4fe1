"""REST refusals on a consult leave a trace in its session log, as socket refusals do.

A staff member of another unit trying to invite into, read or change a consult (or its
appointment) is refused by the handler (401/403, see ``web/access.py``); this middleware then
appends a ``refused`` event to that consult's log naming who tried what, so the unit can see the
attempt. Each (actor, consult, route) is logged once per process, so retrying in a loop cannot
grow the log.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Middleware

from rooms.session_log import EventKind, SessionEvent
from rooms.staff import StaffMember
from rooms.store.base import ConsultStore
from web.errors import ApiError, Handler

AUTHORIZATION_STATUSES = frozenset({401, 403})
REMEMBERED = 10_000
"""How many (actor, consult, route) triples are remembered to log each once."""
CONSULT_PARAMETERS = ("consult_id", "appointment_id", "session_id")
"""Path parameters that name a consult (an appointment's or inter-unit session's id is its consult's id)."""


def refusal_log(
    consults: ConsultStore,
    staff_of: Callable[[web.Request], Awaitable[StaffMember | None]],
    clock: Callable[[], datetime],
) -> Middleware:
    logged: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            if error.status in AUTHORIZATION_STATUSES:
                await _record(request, error)
            raise

    async def _record(request: web.Request, error: ApiError) -> None:
        consult_id = next(
            (request.match_info[name] for name in CONSULT_PARAMETERS if name in request.match_info), None
        )
        if consult_id is None or len(consult_id) > 64:
            return
        member = await staff_of(request)
        actor = member.staff_id if member is not None else "anonymous"
        route = request.match_info.route.resource
        template = route.canonical if route is not None else request.path
        action = f"{request.method} {template}"[:128]
        key = (actor, consult_id, action)
        if key in logged:
            return
        logged[key] = None
        if len(logged) > REMEMBERED:
            logged.popitem(last=False)
        event = SessionEvent(
            consult_id,
            EventKind.REFUSED,
            clock(),
            actor,
            member.role if member is not None else None,
            f"http:{request.remote or 'unknown'}",
            {"action": action, "code": error.code},
        )
        await consults.append_log(consult_id, [event])

    return middleware
