"""A media node SIGKILLed mid-call: two server processes share a real Redis, the patient's socket
on one and the nurse's on the other; the consult's media moves to the surviving node and flows
again both ways, with no new admission and the gap in the session log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import aioice.ice
import pytest
import socketio
from redis.asyncio import Redis

from bench.node_process import NodeProcess, start_node
from cluster.placements import Placement, placement_key
from media.ice import restrict_host_addresses
from rooms.store.redis import RedisConsultStore
from tests.support.clients import MediaClient, connect_client, join_call
from tests.support.redis_server import redis_server
from web.demo import DEMO_UNIT

SECRET = "failover-test-secret-key-0123456789-abcdef"
RED = (220, 30, 30)
BLUE = (30, 30, 220)

pytestmark = pytest.mark.redis


def _shows(media: MediaClient, rgb: tuple[int, int, int]) -> bool:
    seen = media.received.last_rgb
    return seen is not None and all(abs(a - b) < 40 for a, b in zip(seen, rgb, strict=True))


@pytest.fixture
def loopback_ice() -> Iterator[None]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    yield
    aioice.ice.get_host_addresses = original


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[str, dict[str, NodeProcess]]]:
    """Node A runs the demo (the nurse's account and the patient's appointment, in Redis); each
    node offers its media on its own loopback address."""
    with redis_server(tmp_path) as url:
        started: dict[str, NodeProcess] = {}
        try:
            for name, address in (("node-a", "127.0.0.2"), ("node-b", "127.0.0.3")):
                started[name] = start_node(
                    name,
                    redis_url=url,
                    data_dir=tmp_path,
                    secret_key=SECRET,
                    media_address=address,
                    demo=name == "node-a",
                )
            yield url, started
        finally:
            for node in started.values():
                node.stop()


async def _sign_in(url: str, username: str, password: str) -> str:
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{url}/api/session", json={"username": username, "password": password})
        assert response.status == 200, await response.text()
        return response.cookies["tc_session"].value


async def test_media_comes_back_on_the_other_node_after_a_sigkill(
    two_nodes: tuple[str, dict[str, NodeProcess]], loopback_ice: None
) -> None:
    redis_url, nodes = two_nodes
    node_a, node_b = nodes["node-a"], nodes["node-b"]
    token = parse_qs(urlsplit(node_a.demo["patient_link"]).fragment)["t"][0]
    consult_id = await _consult_of(redis_url)
    cookie = await _sign_in(node_b.url, node_a.demo["username"], node_a.demo["password"])
    nurse, nurse_events = await connect_client(node_b.url, cookie=cookie)
    patient, patient_events = await connect_client(node_a.url, token=token)
    redis = Redis.from_url(redis_url)
    media = [MediaClient(RED), MediaClient(BLUE)]
    sockets = [patient, nurse]
    try:
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        await nurse_events.wait_for(
            "queue:diff", lambda d: [c["state"] for c in d["consults"]] == ["waiting"]
        )
        assert (await nurse.call("lobby:admit", {"consult_id": consult_id}))["ok"]
        await patient_events.wait_for("consult:state", lambda d: d["consult"]["state"] == "live")
        assert (await join_call(patient, media[0]))["ok"]
        assert (await join_call(nurse, media[1]))["ok"]
        # Generous waits: two server processes and four peers share a busy machine.
        await media[1].wait_for_media(timeout=90)
        await media[0].wait_for_media(timeout=90)
        assert _shows(media[1], RED) and _shows(media[0], BLUE)

        first = Placement.from_json(consult_id, await redis.get(placement_key(consult_id)))
        dead, alive = (node_a, node_b) if first.node_id == "node-a" else (node_b, node_a)
        dead.kill()

        # The page whose socket was on the dead node reconnects (through the load balancer) to
        # the other node and starts its media again; the other page hears media:restart.
        if dead is node_a:
            patient, patient_events = await connect_client(alive.url, token=token)
            sockets.append(patient)
            staying, staying_events, moving = nurse, nurse_events, patient
        else:
            nurse, nurse_events = await connect_client(alive.url, cookie=cookie)
            sockets.append(nurse)
            staying, staying_events, moving = patient, patient_events, nurse
        hello = await moving.call("hello", {})
        assert hello["consult"]["state"] == "live"  # still in the call: no lobby, no queue
        patient_again, nurse_again = MediaClient(RED), MediaClient(BLUE)
        media += [patient_again, nurse_again]
        moving_media, staying_media = (
            (patient_again, nurse_again) if moving is patient else (nurse_again, patient_again)
        )
        assert (await join_call(moving, moving_media))["ok"]
        await staying_events.wait_for("media:restart", timeout=30)
        assert (await join_call(staying, staying_media))["ok"]
        await nurse_again.wait_for_media(timeout=90)
        await patient_again.wait_for_media(timeout=90)
        assert _shows(nurse_again, RED) and _shows(patient_again, BLUE)

        moved = Placement.from_json(consult_id, await redis.get(placement_key(consult_id)))
        assert (moved.node_id, moved.epoch) == (alive.node_id, 2)
        log = await RedisConsultStore(redis).log(consult_id)
        kinds = [entry.kind.value for entry in log]
        assert kinds.count("checked_in") == 1 and kinds.count("admitted") == 1
        assert "sent_back" not in kinds and "left" not in kinds
        (gap,) = [entry for entry in log if entry.kind.value == "media_moved"]
        assert dict(gap.detail) == {"from": dead.node_id, "to": alive.node_id, "epoch": "2"}
    finally:
        for client in media:
            await client.close()
        for sio in sockets:
            await _quietly_disconnect(sio)
        await redis.aclose()


async def _consult_of(redis_url: str) -> str:
    """The demo's one consult, read from Redis (node A created it)."""
    redis = Redis.from_url(redis_url)
    try:
        (consult,) = await RedisConsultStore(redis).open_in_unit(DEMO_UNIT)
        return consult.consult_id
    finally:
        await redis.aclose()


async def _quietly_disconnect(sio: socketio.AsyncClient) -> None:
    try:
        await asyncio.wait_for(sio.disconnect(), 5)
    except (TimeoutError, socketio.exceptions.SocketIOError):
        pass
