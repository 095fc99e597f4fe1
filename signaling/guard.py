"""What every client event passes before a handler sees it, and the trace a refusal leaves.

Kept apart from the router (``server.py``) so each check reads on its own: the node's load (an
overloaded node refuses with ``busy`` before doing anything else), the rate limit, the payload's
size and schema, the ``refused`` entry an authorization refusal leaves in the consult's session
log, and the retryable refusal when the database or Redis is down. A refusal must cost less than
the work it refuses, or overload feeds on itself: no store, no announcement through Redis, and no
traceback but for a few unexpected errors a second.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from rooms.session_log import EventKind, SessionEvent
from rooms.store.base import ConsultStore
from services.outages import RETRY_AFTER_SECONDS, outage_of
from signaling.connections import Connection
from signaling.errors import ErrorCode, SignalingError

logger = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)

AUTHORIZATION_CODES = frozenset(
    {
        ErrorCode.FORBIDDEN.value,
        ErrorCode.NOT_YOUR_CONSULT.value,
        ErrorCode.WRONG_UNIT.value,
        ErrorCode.DENIED.value,
    }
)
"""Refusals that say who may act on a consult (not what state it is in): logged in its session log."""
MAX_REFUSALS_LOGGED = 5
OUTAGE_CODES = frozenset({ErrorCode.DATABASE_UNAVAILABLE, ErrorCode.STORE_UNAVAILABLE})
"""A dependency is down (services/outages.py): retryable, logged in one line without a traceback."""

BUSY_RETRY_AFTER_S = 2
"""What a ``busy`` refusal tells the client to wait before it tries again."""


class Overload(Protocol):
    """Whether the node is too far behind to take new work (web/backpressure.py measures it)."""

    def refuse_connection(self) -> bool: ...

    def refuse_event(self) -> bool: ...


class NoOverload:
    def refuse_connection(self) -> bool:
        return False

    def refuse_event(self) -> bool:
        return False


def busy() -> SignalingError:
    return SignalingError(
        ErrorCode.BUSY,
        "The server is busy; try again in a moment.",
        {"retry_after_s": str(BUSY_RETRY_AFTER_S)},
        message_es="El servidor está ocupado; intente de nuevo en un momento.",
    )


def check_capacity(overload: Overload) -> None:
    if overload.refuse_event():
        raise busy()


class LogThrottle:
    """At most ``per_window`` log lines per ``window`` seconds; the rest are counted and the count
    rides on the next line, so a flood of one failure cannot spend the node on formatting logs."""

    def __init__(self, per_window: int = 5, window: float = 1.0) -> None:
        self._per_window = per_window
        self._window = window
        self._window_start = 0.0
        self._lines = 0
        self.suppressed = 0

    def allow(self, now: float) -> bool:
        if now - self._window_start >= self._window:
            self._window_start, self._lines = now, 0
        if self._lines < self._per_window:
            self._lines += 1
            return True
        self.suppressed += 1
        return False

    def take_suppressed(self) -> int:
        count, self.suppressed = self.suppressed, 0
        return count


def check_rate(connection: Connection) -> None:
    if not connection.bucket.take(time.monotonic()):
        raise SignalingError(ErrorCode.RATE_LIMITED, "Too many messages; slow down.")


def validate(schema: type[P], args: tuple[object, ...], max_bytes: int) -> P:
    """The one payload object of an event, bounded and typed, or ``bad_payload``/``payload_too_large``."""
    if len(args) > 1:
        raise SignalingError(ErrorCode.BAD_PAYLOAD, "Send one payload object per event.")
    data = args[0] if args else {}
    try:
        size = len(json.dumps(data, separators=(",", ":")).encode())
    except (TypeError, ValueError):
        raise SignalingError(ErrorCode.BAD_PAYLOAD, "The payload must be JSON.") from None
    if size > max_bytes:
        raise SignalingError(ErrorCode.PAYLOAD_TOO_LARGE, f"The payload exceeds {max_bytes} bytes.")
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        # Name the fields and the problem, never echo the values (they may be clinical).
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'payload'}: {issue['type']}"
            for issue in error.errors()[:5]
        )
        raise SignalingError(ErrorCode.BAD_PAYLOAD, f"Invalid payload ({problems}).") from None


def outage_refusal(error: BaseException) -> SignalingError | None:
    """``database_unavailable``/``store_unavailable`` with ``retry_after`` (seconds), if ``error`` says
    a dependency is down; cheap, as every event takes this path while it is."""
    outage = outage_of(error)
    if outage is None:
        return None
    detail = {"retry_after": str(RETRY_AFTER_SECONDS)}
    return SignalingError(ErrorCode(outage.value), outage.message_en, detail, message_es=outage.message_es)


class RefusalLog:
    """An attempt on a consult that the actor's role, unit or relation does not allow leaves a
    ``refused`` entry in that consult's log (at most a few per connection and consult, so a flood
    cannot grow the log)."""

    def __init__(self, consults: ConsultStore, clock: Callable[[], datetime]) -> None:
        self._consults = consults
        self._clock = clock

    async def record(self, connection: Connection, consult_id: str, event: str, code: str) -> None:
        if code not in AUTHORIZATION_CODES:
            return
        key = consult_id[:64]
        count = connection.refusals_logged.get(key, 0)
        if count >= MAX_REFUSALS_LOGGED:
            return
        connection.refusals_logged[key] = count + 1
        entry = SessionEvent(
            key,
            EventKind.REFUSED,
            self._clock(),
            connection.participant_id,
            connection.role,
            connection.sid,
            {"action": event[:64], "code": code},
        )
        try:
            await self._consults.append_log(key, [entry])
        except Exception as error:  # the refusal stands; only its trace is lost (and logged)
            logger.error("logging a refusal failed: %s", type(error).__name__)
