"""How the server feeds :class:`web.metrics.Metrics`: timers around HTTP, the database and Redis,
an event-loop lag ticker, the unit queues read at scrape time, and ``GET /metrics`` itself.

Each piece wraps something from the outside (a middleware, SQLAlchemy's cursor events, a Redis
client subclass), so the code it measures does not change to be measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from rooms.consult import ConsultState
from services.scheduling import Scheduling
from web.config import Settings
from web.errors import ApiError, Handler
from web.metrics import MAX_UNITS, Metrics
from web.redis_connection import redis_client

LOOP_TICK_SECONDS = 0.5
QUEUE_REFRESH_SECONDS = 5.0
"""Queues are read at most this often, however often ``/metrics`` is scraped."""
SQL_OPERATIONS = ("select", "insert", "update", "delete", "begin", "commit", "rollback", "pragma")


def http_metrics(metrics: Metrics) -> Middleware:
    """Count each request by route template (never its path, which holds ids) and status.

    Placed inside ``api_errors``, so it sees the code of an :class:`ApiError` refusal before the
    error becomes a response.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except ApiError as error:
            status = error.status
            metrics.refused(error.code, channel="http")
            raise
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            metrics.http_request(request.method, route, status, time.perf_counter() - started)

    return middleware


def time_database(engine: AsyncEngine, metrics: Metrics) -> None:
    """Time every SQL statement (never its text or parameters) by its first word."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def started(*args: Any) -> None:
        context = args[4]
        context.tc_started = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def finished(*args: Any) -> None:
        statement, context = str(args[2]), args[4]
        began = getattr(context, "tc_started", None)
        if began is None:
            return
        word = statement.lstrip().split(" ", 1)[0].lower()
        metrics.database_query(word if word in SQL_OPERATIONS else "other", time.perf_counter() - began)


class RedisTimer(Protocol):
    def redis_command(self, command: str, seconds: float) -> None: ...


class TimedRedis(Redis):
    """A Redis client that times each command (scripts included; pipelines as they are sent)."""

    timer: RedisTimer | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        finally:
            if self.timer is not None and args:
                name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
                self.timer.redis_command(name.split(" ", 1)[0].lower(), time.perf_counter() - started)


def timed_redis(settings: Settings, timer: RedisTimer) -> Redis:
    """The stores' Redis client (web/redis_connection.py), timing each command for ``timer``."""
    client = redis_client(
        settings.redis_url,
        pool_size=settings.redis_pool_size,
        pool_timeout=settings.redis_pool_timeout_seconds,
        redis_class=TimedRedis,
    )
    assert isinstance(client, TimedRedis)
    client.timer = timer
    return client


def loop_lag(metrics: Metrics) -> Callable[[web.Application], AsyncIterator[None]]:
    """For ``app.cleanup_ctx``: a ticker that records how late the event loop wakes up."""

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LOOP_TICK_SECONDS
            await asyncio.sleep(LOOP_TICK_SECONDS)
            metrics.loop_lag(max(0.0, loop.time() - due))

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(tick())
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    return lifecycle


class QueueGauges:
    """The unit queues' lengths and longest waits, read when scraped (at most every few seconds).

    The units are those of the open consults plus every unit reported before (so an emptied queue
    shows 0 rather than vanishing).
    """

    def __init__(
        self,
        scheduling: Scheduling,
        metrics: Metrics,
        clock: Callable[[], datetime],
        every: float = QUEUE_REFRESH_SECONDS,
    ) -> None:
        self._scheduling = scheduling
        self._metrics = metrics
        self._clock = clock
        self._every = every
        self._last = float("-inf")
        self._lock = asyncio.Lock()
        self._units: set[str] = set()

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._last < self._every:
                return
            self._last = time.monotonic()
            open_consults = await self._scheduling.consults.open_consults()
            for consult in open_consults:
                if consult.unit and consult.state is not ConsultState.ENDED and len(self._units) < MAX_UNITS:
                    self._units.add(consult.unit)
            now = self._clock()
            for unit in sorted(self._units):
                state = await self._scheduling.queues.snapshot(unit)
                waits = [now - max(entry.checked_in_at, entry.appointment_start) for entry in state.waiting]
                longest = max(waits, default=timedelta(0))
                self._metrics.queue(unit, len(state.waiting), max(0.0, longest.total_seconds()))


def metrics_route(metrics: Metrics, queues: QueueGauges) -> web.RouteDef:
    """``GET /metrics`` in Prometheus' text format."""

    async def scrape(_: web.Request) -> web.Response:
        await queues.refresh()
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return web.get("/metrics", scrape)
