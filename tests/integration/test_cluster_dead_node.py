"""A node killed with ``SIGKILL`` leaves nobody "connected": another node sweeps its participants
into ``dropped`` (reason ``node_lost``), and their return on another node is logged too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import pytest

from media.ice import restrict_host_addresses
from tests.support.clients import MediaClient, connect_client, join_call
from tests.support.cluster import Cluster, Node, link_token, running_cluster, sign_in


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as cluster:
        yield cluster


@pytest.fixture
async def loopback_peers() -> AsyncIterator[None]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    yield
    aioice.ice.get_host_addresses = original


async def get(node: Node, cookie: str, path: str) -> Any:
    async with (
        aiohttp.ClientSession(cookies={"tc_session": cookie}) as http,
        http.get(node.url + path) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def until(check: Callable[[], Awaitable[bool | None]], timeout: float = 40) -> None:
    async def wait() -> None:
        while not await check():
            await asyncio.sleep(0.2)

    await asyncio.wait_for(wait(), timeout)


def lost_and_back(log: dict[str, Any], participant_id: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (event["kind"], event["detail"])
        for event in log["events"]
        if event["actor_id"] == participant_id and event["kind"] in ("dropped", "returned")
    ]


async def test_a_waiting_patient_of_a_dead_node_shows_disconnected_until_back_elsewhere(
    nodes: Cluster,
) -> None:
    cookie = await sign_in(nodes[2], nodes.demo["username"], nodes.demo["password"])
    token = link_token(nodes.demo["patient_link"])
    patient, _ = await connect_client(nodes[1].url, token=token)
    hello = await patient.call("hello", {})
    consult_id, patient_id = hello["consult"]["consult_id"], hello["participant_id"]
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]

    async def connected() -> bool | None:
        entries = (await get(nodes[2], cookie, "/api/units/UMF-1/queue"))["entries"]
        return next((e["connected"] for e in entries if e["consult_id"] == consult_id), None)

    async def disconnected() -> bool:
        return await connected() is False

    assert await connected() is True
    nodes[1].kill()
    await until(disconnected)
    back, _ = await connect_client(nodes[3].url, token=token)
    await until(connected)

    # The nurse admits her (from node 2): as host she reads the log, drop and return both in it.
    nurse, _ = await connect_client(nodes[2].url, cookie=cookie)
    assert (await nurse.call("lobby:admit", {"consult_id": consult_id}))["ok"]
    log = await get(nodes[2], cookie, f"/api/consults/{consult_id}/log")
    kinds = lost_and_back(log, patient_id)
    assert [kind for kind, _ in kinds] == ["dropped", "returned"] and kinds[0][1] == {"reason": "node_lost"}
    for client in (back, nurse):
        await client.disconnect()


async def test_a_participant_in_a_call_on_a_dead_node_is_dropped_and_returns_on_another(
    nodes: Cluster, loopback_peers: None
) -> None:
    cookie = await sign_in(nodes[2], nodes.demo["username"], nodes.demo["password"])
    token = link_token(nodes.demo["patient_link"])
    patient, _ = await connect_client(nodes[1].url, token=token)
    nurse, nurse_events = await connect_client(nodes[2].url, cookie=cookie)
    hello = await patient.call("hello", {})
    consult_id, patient_id = hello["consult"]["consult_id"], hello["participant_id"]
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse.call("lobby:admit", {"consult_id": consult_id}))["ok"]
    patient_media, nurse_media = MediaClient((1, 2, 3)), MediaClient((3, 2, 1))
    assert (await join_call(patient, patient_media))["ok"] and (await join_call(nurse, nurse_media))["ok"]

    nodes[1].kill()
    await nurse_events.wait_for(
        "participant:connection", lambda d: d == {"participant_id": patient_id, "state": "reconnecting"}, 40
    )
    back, _ = await connect_client(nodes[3].url, token=token)
    await nurse_events.wait_for(
        "participant:connection", lambda d: d == {"participant_id": patient_id, "state": "reconnected"}, 20
    )
    log = await get(nodes[2], cookie, f"/api/consults/{consult_id}/log")
    kinds = lost_and_back(log, patient_id)
    assert [kind for kind, _ in kinds] == ["dropped", "returned"] and kinds[0][1] == {"reason": "node_lost"}
    # Still in the call: no new admission, nobody left.
    assert not [e for e in log["events"] if e["kind"] == "left"]
    for media in (patient_media, nurse_media):
        await media.close()
    for client in (back, nurse):
        await client.disconnect()
