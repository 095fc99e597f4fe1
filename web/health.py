"""``GET /readyz``: whether this node should be sent traffic now.

``/healthz`` says the process answers (liveness: restart it if not). Readiness says more: the
database answers, Redis answers (when configured), the media worker processes are alive, and the
node is not draining (from the ``SIGTERM`` on, at once: ``services/lifecycle.py``). A load
balancer stops sending new users to a node that answers 503; the JSON body names what is not
ready, never why in detail (no addresses, no credentials).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from media.backend import MediaBackend
from media.workers import WorkerPool
from rooms.store.replies import replied
from services.lifecycle import NodeLifecycle

logger = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
"""A dependency slower than this to answer a trivial request is not ready."""


class Readiness:
    def __init__(
        self, engine: AsyncEngine, redis: Redis | None, media: MediaBackend, lifecycle: NodeLifecycle
    ) -> None:
        self._engine = engine
        self._redis = redis
        self._media = media
        self._lifecycle = lifecycle

    async def drain(self, _: web.Application | None = None) -> None:
        """Shutting down (``app.on_shutdown``) without a drain first: from now on, not ready."""
        self._lifecycle.drain()

    async def check(self) -> dict[str, bool]:
        """Each dependency, ready or not (``redis`` only when configured)."""
        checks: dict[str, Callable[[], Awaitable[bool]]] = {"database": self._database}
        if self._redis is not None:
            checks["redis"] = self._ping_redis
        checks["media"] = self._media_alive
        results = await asyncio.gather(*(_within(name, check()) for name, check in checks.items()))
        return dict(zip(checks, results, strict=True))

    async def _database(self) -> bool:
        async with self._engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    async def _ping_redis(self) -> bool:
        assert self._redis is not None
        return bool(await replied(self._redis.ping()))

    async def _media_alive(self) -> bool:
        if isinstance(self._media, WorkerPool):
            return self._media.alive() == self._media.size
        return True  # media runs in this process, which is answering

    async def handle(self, _: web.Request) -> web.Response:
        checks = await self.check()
        draining = ["draining"] if self._lifecycle.draining else []
        not_ready = [name for name, ok in checks.items() if not ok] + draining
        body: dict[str, object] = {"status": "not_ready" if not_ready else "ready", "checks": checks}
        if not_ready:
            body["not_ready"] = not_ready
        return web.json_response(body, status=503 if not_ready else 200)


async def _within(name: str, check: Awaitable[bool]) -> bool:
    """A check's answer, or False when it fails or takes longer than ``CHECK_SECONDS``."""
    try:
        return await asyncio.wait_for(check, CHECK_SECONDS)
    except Exception as error:  # the kind of failure only: its text may hold an address
        logger.warning("readiness: the %s check failed: %s", name, type(error).__name__)
        return False
