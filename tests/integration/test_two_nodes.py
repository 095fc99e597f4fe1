"""Two server nodes sharing one Redis: a patient on one node, the nurse on the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import aioice.ice
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from cluster.placements import Placement, placement_key
from media.ice import restrict_host_addresses
from tests.support.clients import EventLog, MediaClient, connect_client, join_call
from tests.support.redis_server import redis_server
from web.app import CLUSTER, SERVICES, create_app
from web.config import Settings
from web.demo import DemoAccess, seed_demo

RED = (220, 30, 30)
BLUE = (30, 30, 220)


def shows(media: MediaClient, rgb: tuple[int, int, int]) -> bool:
    seen = media.received.last_rgb
    return seen is not None and all(abs(a - b) < 40 for a, b in zip(seen, rgb, strict=True))


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
async def nodes(tmp_path: Path, redis_url: str) -> AsyncIterator[list[tuple[str, web.Application]]]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    running = []
    for name in ("node-a", "node-b"):
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
            secret_key=b"two-nodes-share-this-secret-key-0123456789",
            secret_key_is_ephemeral=False,
            redis_url=redis_url,
            media_workers=0,
            node_id=name,
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
        aioice.ice.get_host_addresses = original


def _one_waiting(update: dict[str, list[dict[str, str]]]) -> bool:
    return [c["state"] for c in update["consults"]] == ["waiting"]


async def _quality_of_two(events: EventLog) -> None:
    while len({d["participant_id"] for d in events.named("media:quality")}) < 2:
        await asyncio.sleep(0.1)


async def _disconnected(client: socketio.AsyncClient) -> None:
    while client.connected:
        await asyncio.sleep(0.05)


async def _sign_in(url: str, demo: DemoAccess) -> str:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{url}/api/session", json={"username": demo.username, "password": demo.password}
        )
        assert response.status == 200
        return response.cookies["tc_session"].value


async def test_admission_crosses_nodes_through_redis(nodes: list[tuple[str, web.Application]]) -> None:
    (node_a, app_a), (node_b, _) = nodes
    demo = await seed_demo(app_a[SERVICES], node_a, password="two-nodes-password")
    token = parse_qs(urlsplit(demo.patient_link).fragment)["t"][0]

    # The nurse signs in on node B: the account and the session come from Redis.
    cookie = await _sign_in(node_b, demo)
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


async def test_media_crosses_nodes_and_moves_when_its_node_leaves(
    nodes: list[tuple[str, web.Application]], redis_url: str
) -> None:
    """The patient's socket is on node A and the nurse's on node B: the consult's media lives on
    one node (placed at the first offer) and flows both ways. When that node leaves the registry
    and its media closes, the consult is placed on the other node and both pages, told
    ``media:restart``, connect there: no new admission, the gap in the session log."""
    (node_a, app_a), (node_b, app_b) = nodes
    demo = await seed_demo(app_a[SERVICES], node_a, password="two-nodes-password")
    token = parse_qs(urlsplit(demo.patient_link).fragment)["t"][0]
    nurse, nurse_events = await connect_client(node_b, cookie=await _sign_in(node_b, demo))
    patient, patient_events = await connect_client(node_a, token=token)
    redis = Redis.from_url(redis_url)
    clients = [MediaClient(RED), MediaClient(BLUE)]
    try:
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        await nurse_events.wait_for(
            "queue:diff", lambda d: [c["state"] for c in d["consults"]] == ["waiting"]
        )
        assert (await nurse.call("lobby:admit", {"consult_id": demo.consult_id}))["ok"]
        await patient_events.wait_for("consult:state", lambda d: d["consult"]["state"] == "live")
        patient_media, nurse_media = clients
        assert (await join_call(patient, patient_media))["ok"]
        assert (await join_call(nurse, nurse_media))["ok"]
        await nurse_media.wait_for_media(timeout=90)
        await patient_media.wait_for_media(timeout=90)
        assert shows(nurse_media, RED) and shows(patient_media, BLUE)
        # Each page's link report reaches the media node, one of them through Redis.
        for client in (patient, nurse):
            report = {"audio_received": 50, "audio_lost": 0, "queue_ms": 12}
            assert (await client.call("media:link_report", report))["ok"]

        first = Placement.from_json(demo.consult_id, await redis.get(placement_key(demo.consult_id)))
        assert first.node_id in ("node-a", "node-b") and first.epoch == 1
        media_app, other = (app_a, "node-b") if first.node_id == "node-a" else (app_b, "node-a")

        # The media node leaves: out of the registry, its media closed (its sockets stay up).
        await media_app[CLUSTER].registry.stop()
        await media_app[CLUSTER].media.local.close()
        await patient_events.wait_for("media:restart", timeout=60)
        await nurse_events.wait_for("media:restart", timeout=60)

        moved = Placement.from_json(demo.consult_id, await redis.get(placement_key(demo.consult_id)))
        assert (moved.node_id, moved.epoch) == (other, 2)
        patient_again, nurse_again = MediaClient(RED), MediaClient(BLUE)
        clients += [patient_again, nurse_again]
        assert (await join_call(patient, patient_again))["ok"]
        assert (await join_call(nurse, nurse_again))["ok"]
        await nurse_again.wait_for_media(timeout=90)
        await patient_again.wait_for_media(timeout=90)
        assert shows(nurse_again, RED) and shows(patient_again, BLUE)
    finally:
        for client in clients:
            await client.close()
        await nurse.disconnect()
        await patient.disconnect()
        await redis.aclose()
    log = await app_b[SERVICES].stores.consults.log(demo.consult_id)
    kinds = [e.kind.value for e in log]
    assert kinds.count("admitted") == 1 and "checked_in" in kinds
    assert kinds.index("checked_in") < kinds.index("admitted") < kinds.index("media_moved")
    (entry,) = [e for e in log if e.kind.value == "media_moved"]
    assert dict(entry.detail) == {"from": first.node_id, "to": other, "epoch": "2"}
    consult = await app_b[SERVICES].stores.consults.get(demo.consult_id)
    assert consult is not None and consult.state.value == "live"


async def test_a_cancellation_on_one_node_closes_the_patients_socket_on_the_other(
    nodes: list[tuple[str, web.Application]],
) -> None:
    """socket.io carries ``consult:ended`` everywhere, but only the node holding a socket closes it:
    the node that cancelled tells the others, and node A closes the patient's connection."""
    (node_a, app_a), (node_b, _) = nodes
    demo = await seed_demo(app_a[SERVICES], node_a, password="two-nodes-password")
    token = parse_qs(urlsplit(demo.patient_link).fragment)["t"][0]
    patient, patient_events = await connect_client(node_a, token=token)
    cookie = await _sign_in(node_b, demo)
    try:
        async with aiohttp.ClientSession(cookies={"tc_session": cookie}) as http:
            response = await http.delete(f"{node_b}/api/appointments/{demo.consult_id}")
            assert response.status == 200, await response.text()
        await patient_events.wait_for("consult:ended", lambda d: d["reason"] == "appointment_cancelled")
        await asyncio.wait_for(_disconnected(patient), 10)
    finally:
        await patient.disconnect()


async def test_a_consult_ended_on_another_node_keeps_the_media_nodes_quality_windows(
    nodes: list[tuple[str, web.Application]], redis_url: str
) -> None:
    """Quality samples are scored where the media lives; when the host ends the consult from the
    other node, the media node logs its open windows before the log is archived."""
    (node_a, app_a), (node_b, app_b) = nodes
    demo = await seed_demo(app_a[SERVICES], node_a, password="two-nodes-password")
    token = parse_qs(urlsplit(demo.patient_link).fragment)["t"][0]
    cookie = await _sign_in(node_b, demo)
    nurse, nurse_events = await connect_client(node_b, cookie=cookie)
    patient, patient_events = await connect_client(node_a, token=token)
    redis = Redis.from_url(redis_url)
    clients = [MediaClient(RED), MediaClient(BLUE)]
    sockets = [nurse, patient]
    try:
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        await nurse_events.wait_for("queue:diff", _one_waiting)
        assert (await nurse.call("lobby:admit", {"consult_id": demo.consult_id}))["ok"]
        await patient_events.wait_for("consult:state", lambda d: d["consult"]["state"] == "live")
        assert (await join_call(patient, clients[0]))["ok"]
        assert (await join_call(nurse, clients[1]))["ok"]
        await asyncio.wait_for(_quality_of_two(nurse_events), 30)
        placed = Placement.from_json(demo.consult_id, await redis.get(placement_key(demo.consult_id)))
        # The host ends the consult from the node that does not hold its media.
        ending_url = node_b if placed.node_id == "node-a" else node_a
        host, _ = await connect_client(ending_url, cookie=cookie)
        sockets.append(host)
        assert (await host.call("consult:end", {"consult_id": demo.consult_id}))["ok"]
    finally:
        for client in clients:
            await client.close()
        for sio in sockets:
            await sio.disconnect()
        await redis.aclose()
    archived = await app_b[SERVICES].archive.load(demo.consult_id)
    logged = {e.actor_id for e in archived if e.kind.value == "media_quality"}
    assert len(logged) == 2
    assert "call_summary" in [e.kind.value for e in archived]
