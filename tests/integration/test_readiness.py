"""``GET /readyz``: 200 only while the database, Redis (when configured) and the media workers
answer and the node is not shutting down; otherwise 503 naming what is not ready."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.support.redis_server import redis_server
from web.app import SERVICES, create_app
from web.config import Settings


@asynccontextmanager
async def serving(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[str, web.Application]]:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}", **settings))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), app
    finally:
        await server.close()


async def readiness(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as response:
        return response.status, await response.json()


async def test_ready_until_the_media_workers_stop(tmp_path: Path) -> None:
    async with serving(tmp_path, media_workers=1) as (url, app):
        assert await readiness(url) == (200, {"status": "ready", "checks": {"database": True, "media": True}})
        await app[SERVICES].media.close()
        status, body = await readiness(url)
        assert status == 503
        assert body["not_ready"] == ["media"] and body["checks"]["database"] is True


async def test_not_ready_while_draining_at_shutdown(tmp_path: Path) -> None:
    async with serving(tmp_path, media_workers=0) as (url, app):
        assert (await readiness(url))[0] == 200
        await app.shutdown()  # what SIGTERM runs first (on_shutdown): clients are told, the node drains
        status, body = await readiness(url)
        assert status == 503 and body["not_ready"] == ["draining"]
        async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as response:
            assert response.status == 200  # still alive: liveness is another question


async def test_not_ready_without_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis_url:
        async with serving(tmp_path, media_workers=0, redis_url=redis_url) as (url, _):
            status, body = await readiness(url)
            assert (status, body["checks"]) == (200, {"database": True, "redis": True, "media": True})
            admin = Redis.from_url(redis_url)
            with suppress(RedisConnectionError):  # Redis closes the connection as it stops
                await admin.shutdown(nosave=True)
            await admin.aclose()
            status, body = await readiness(url)
            assert status == 503 and body["not_ready"] == ["redis"]
            assert body["checks"] == {"database": True, "redis": False, "media": True}
