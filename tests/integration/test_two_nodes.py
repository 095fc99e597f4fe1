"""Two server nodes sharing one Redis: a patient on one node, the nurse on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support.clients import connect_client
from tests.support.redis_server import redis_server
from web.app import SERVICES, create_app
from web.config import Settings
from web.demo import seed_demo


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
async def nodes(tmp_path: Path, redis_url: str) -> AsyncIterator[list[tuple[str, web.Application]]]:
    running = []
    for _ in range(2):
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
            secret_key=b"two-nodes-share-this-secret-key-0123456789",
            secret_key_is_ephemeral=False,
            redis_url=redis_url,
            media_workers=0,
        )
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        running.append((server, app))
    try:
        yield [(str(server.make_url("")).rstrip("/"), app) for server, app in running]
    finally:
        for server, _ in running:
            await server.close()


async def test_admission_crosses_nodes_through_redis(nodes: list[tuple[str, web.Application]]) -> None:
    (node_a, app_a), (node_b, _) = nodes
    demo = await seed_demo(app_a[SERVICES], node_a, password="two-nodes-password")
    token = parse_qs(urlsplit(demo.patient_link).fragment)["t"][0]

    # The nurse signs in on node B: the account and the session come from Redis.
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{node_b}/api/session", json={"username": demo.username, "password": demo.password}
        )
        assert response.status == 200
        cookie = response.cookies["tc_session"].value
    nurse, nurse_events = await connect_client(node_b, cookie=cookie)
    patient, patient_events = await connect_client(node_a, token=token)
    try:
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        await nurse_events.wait_for(
            "queue:diff", lambda d: [c["state"] for c in d["consults"]] == ["waiting"]
        )
        admitted = await nurse.call("lobby:admit", {"consult_id": demo.consult_id})
        assert admitted["ok"]
        # Node A's patient hears of the admission made on node B.
        await patient_events.wait_for("consult:state", lambda d: d["consult"]["state"] == "live")
        # A second admission on the other node is refused: the consult is no longer waiting.
        other, _ = await connect_client(node_a, cookie=cookie)
        again = await other.call("lobby:admit", {"consult_id": demo.consult_id})
        assert again["error"]["code"] == "invalid_state"
        await other.disconnect()
    finally:
        await nurse.disconnect()
        await patient.disconnect()
