"""A node admits new connections at a bounded rate; the excess is refused before any store is
read, with ``server_busy`` and a retry time (a reconnection storm after another node died)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.support.clients import ConnectionRefused, connect_client
from web.app import SERVICES, create_app
from web.config import Settings
from web.demo import seed_demo


@pytest.fixture
async def slow_node(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"admission-test-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_workers=0,
        connections_per_second=0.01,  # one at once, then one every 100 s
    )
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    demo = await seed_demo(app[SERVICES], url, password="admission-password")
    try:
        yield url, demo.patient_link.split("#t=")[1]
    finally:
        await server.close()


async def test_connections_beyond_the_rate_are_refused_with_a_retry_time(slow_node: tuple[str, str]) -> None:
    url, token = slow_node
    first, _ = await connect_client(url, token=token)
    with pytest.raises(ConnectionRefused) as refused:
        await connect_client(url, token=token)
    data = refused.value.errors[0]["data"]
    assert data["code"] == "server_busy" and data["retry_after_s"] == 2
    assert (await first.call("hello", {}))["ok"]  # the admitted connection is not disturbed
    await first.disconnect()


async def test_no_limit_when_the_rate_is_zero(tmp_path: Path) -> None:
    app = create_app(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", connections_per_second=0)
    )
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        demo = await seed_demo(app[SERVICES], url, password="admission-password")
        token = demo.patient_link.split("#t=")[1]
        clients = [(await connect_client(url, token=token))[0] for _ in range(5)]
        for client in clients:
            await client.disconnect()
    finally:
        await server.close()
