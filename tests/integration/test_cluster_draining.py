"""``SIGTERM`` drains a real node: not ready at once, no new check-ins, its live call kept until
it ends, then it exits; the other node takes the new patients meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aioice.ice
import pytest

from media.ice import restrict_host_addresses
from tests.support.clients import MediaClient, connect_client, join_call
from tests.support.cluster import Cluster, book, link_token, running_cluster, sign_in


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path, count=2, env={"TC_DRAIN_SECONDS": "120"}) as cluster:
        yield cluster


@pytest.fixture
async def loopback_peers() -> AsyncIterator[None]:
    """The test's own aiortc peers offer 127.0.0.1, from which every node's 127.0.0.x answers."""
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    yield
    aioice.ice.get_host_addresses = original


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    async def check() -> None:
        while not await asyncio.to_thread(condition):
            await asyncio.sleep(0.1)

    await asyncio.wait_for(check(), timeout)


async def test_sigterm_drains_the_node_until_its_live_call_ends(nodes: Cluster, loopback_peers: None) -> None:
    first, second = nodes[1], nodes[2]
    cookie = await sign_in(first, nodes.demo["username"], nodes.demo["password"])
    patient, _ = await connect_client(first.url, token=link_token(nodes.demo["patient_link"]))
    nurse, _ = await connect_client(first.url, cookie=cookie)
    consult_id = (await patient.call("hello", {}))["consult"]["consult_id"]
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse.call("lobby:admit", {"consult_id": consult_id}))["ok"]
    patient_media, nurse_media = MediaClient((1, 2, 3)), MediaClient((3, 2, 1))
    assert (await join_call(patient, patient_media))["ok"] and (await join_call(nurse, nurse_media))["ok"]
    await patient_media.wait_for_media(video_frames=5, audio_frames=5)
    late_id, late_token = await book(first, cookie, "Paciente Tardía")
    late, _ = await connect_client(first.url, token=late_token)

    first.terminate()
    await until(lambda: first.readiness()[1].get("not_ready") == ["draining"])
    assert first.readiness()[0] == 503
    # No new consults here: a check-in is refused with a code the page retries elsewhere.
    refused = await late.call("lobby:check_in", {"consent": True})
    assert refused["error"]["code"] == "draining" and refused["error"]["retry_after_s"] == "2"
    await late.disconnect()
    # The serving node takes it, and the draining node's live call goes on meanwhile.
    elsewhere, _ = await connect_client(second.url, token=late_token)
    assert (await elsewhere.call("lobby:check_in", {"consent": True}))["consult"]["state"] == "waiting"
    await elsewhere.disconnect()
    assert second.readiness()[0] == 200
    assert first.running()
    frames = patient_media.received.video_frames
    await patient_media.wait_for_media(video_frames=frames + 10, audio_frames=5)
    assert first.running() and "draining: waiting for 1 live calls" in first.log()

    # The call ends: nothing is left to carry, the node exits by itself.
    assert (await nurse.call("consult:end", {"consult_id": consult_id}))["ok"]
    assert await asyncio.to_thread(first.wait, 30) == 0
    assert "draining: no live call left" in first.log()
    for client in (patient_media, nurse_media):
        await client.close()
    for sio in (patient, nurse):
        await sio.disconnect()
    assert late_id != consult_id


async def test_a_node_without_live_calls_exits_at_once_on_sigterm_and_can_start_again(nodes: Cluster) -> None:
    nodes[2].terminate()
    assert await asyncio.to_thread(nodes[2].wait, 30) == 0
    assert "draining: no live call left" in nodes[2].log()
    assert nodes[1].readiness()[0] == 200
    nodes[2].start()
    await asyncio.to_thread(nodes[2].wait_ready)
    assert nodes[2].readiness()[1]["checks"] == {"database": True, "redis": True, "media": True}
