"""Media in worker processes: rooms spread over workers, a dead worker is replaced, close is prompt."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable

import aioice.ice
import pytest
import uvloop

from media.backend import MediaError, MediaEvent, MediaEventKind, SessionDescription
from media.ice import IceSettings, restrict_host_addresses
from media.sfu import reencoding_sfu
from media.workers import WorkerPool
from tests.support.clients import MediaClient
from tests.support.echo_backend import echo_backend

ICE = IceSettings(host_addresses=("127.0.0.1",))


CLIENTS: dict[str, MediaClient] = {}


@pytest.fixture
async def pool() -> AsyncIterator[tuple[WorkerPool, list[MediaEvent]]]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])  # for the test's own client peers
    events: list[MediaEvent] = []
    CLIENTS.clear()

    async def listener(event: MediaEvent) -> None:
        events.append(event)
        if event.kind is MediaEventKind.SUBSCRIBER_OFFER:
            answer = await CLIENTS[event.participant_id].answer_offer(dict(event.data))
            await workers.subscriber_answer(
                event.room_id,
                event.participant_id,
                SessionDescription(answer["sdp"], "answer"),
                answer["revision"],
            )

    workers = WorkerPool(2, reencoding_sfu, ICE, listener)
    await workers.start()
    await _until(lambda: workers.ready() == 2)  # rooms go to ready workers only: let both start
    try:
        yield workers, events
    finally:
        await workers.close()
        aioice.ice.get_host_addresses = original


async def _connect(pool: WorkerPool, room: str, participant: str, client: MediaClient) -> None:
    CLIENTS[participant] = client
    offer = await client.offer()
    answer = await pool.connect(
        room, participant, SessionDescription(offer["sdp"], "offer"), offer["sources"]
    )
    await client.accept({"sdp": answer.sdp, "type": answer.type})


async def test_rooms_are_spread_over_workers_and_media_flows_through_them(
    pool: tuple[WorkerPool, list[MediaEvent]],
) -> None:
    workers, events = pool
    clients = {name: MediaClient((200, 40, 40)) for name in ("a1", "a2", "b1", "b2")}
    try:
        for name, client in clients.items():
            await _connect(workers, f"room-{name[0]}", name, client)
        owners = {room: worker.process.pid for room, worker in workers._owner.items()}
        assert len(set(owners.values())) == 2, "two rooms should land on two different workers"
        for client in clients.values():
            await client.wait_for_media(video_frames=10, audio_frames=10)
        connected = {e.participant_id for e in events if e.data.get("state") == "connected"}
        assert connected == set(clients)
    finally:
        for client in clients.values():
            await client.close()


async def test_a_dead_worker_fails_its_participants_and_is_replaced(
    pool: tuple[WorkerPool, list[MediaEvent]],
) -> None:
    workers, events = pool
    client = MediaClient((10, 200, 10))
    await _connect(workers, "room-x", "x1", client)
    victim = workers._owner["room-x"].process
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)

    async def failed() -> None:
        while not any(e.participant_id == "x1" and e.data.get("state") == "failed" for e in events):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(failed(), 10)
    assert victim.pid not in workers.worker_pids and len(workers.worker_pids) == 2
    await client.close()
    again = MediaClient((10, 200, 10))
    await _connect(workers, "room-x", "x1", again)  # the room is served again
    await again.close()


def _parent_of(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])


async def test_workers_are_forked_from_a_server_that_imported_the_media_stack_once(
    pool: tuple[WorkerPool, list[MediaEvent]],
) -> None:
    """A start or a restart after a crash does not import aiortc and PyAV again: each worker is a
    fork of one server process (``forkserver``), not a fresh interpreter, so its replacement
    takes rooms as soon as it is forked."""
    workers, _ = pool
    servers = {_parent_of(pid) for pid in workers.worker_pids}
    assert len(servers) == 1 and os.getpid() not in servers
    (server,) = servers
    assert _parent_of(server) == os.getpid()
    victim = workers.worker_pids[0]
    os.kill(victim, signal.SIGKILL)
    await _until(lambda: victim not in workers.worker_pids and workers.ready() == 2)
    assert {_parent_of(pid) for pid in workers.worker_pids} == {server}


async def test_a_bad_offer_is_refused_by_the_worker_and_the_room_is_not_kept(
    pool: tuple[WorkerPool, list[MediaEvent]],
) -> None:
    workers, _ = pool
    with pytest.raises(MediaError) as caught:
        await workers.connect("room-bad", "p", SessionDescription("v=0\r\nnonsense\r\n", "offer"))
    assert caught.value.code.value == "bad_sdp"
    assert "room-bad" not in workers._owner


async def test_close_stops_every_worker() -> None:
    async def ignore(_: MediaEvent) -> None:
        return None

    workers = WorkerPool(2, reencoding_sfu, ICE, ignore)
    await workers.start()
    processes = [w.process for w in workers._workers]
    await workers.close()
    assert all(not process.is_alive() for process in processes)
    with pytest.raises(MediaError):
        await workers.connect("r", "p", SessionDescription("v=0", "offer"))


async def test_a_dead_workers_rooms_resume_on_a_ready_worker_not_on_its_replacement(
    pool: tuple[WorkerPool, list[MediaEvent]],
) -> None:
    workers, events = pool
    clients = {name: MediaClient((10, 10, 200)) for name in ("y1", "y2")}
    for name, client in clients.items():
        await _connect(workers, "room-y", name, client)
    for name, client in clients.items():
        await client.wait_for_media(video_frames=5, audio_frames=5, participant=_other(name))
    victim = workers._owner["room-y"].process
    survivor = next(w.process for w in workers._workers if w.process is not victim)
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    await _until(
        lambda: {e.participant_id for e in events if e.data.get("state") == "failed"} == set(clients)
    )

    # The room went to the worker that was already running, while the replacement may still start.
    assert workers._owner["room-y"].process is survivor
    for client in clients.values():
        await client.close()
    again = {name: MediaClient((10, 10, 200)) for name in clients}
    try:
        for name, client in again.items():
            await _connect(workers, "room-y", name, client)
        for name, client in again.items():
            await client.wait_for_media(video_frames=5, audio_frames=5, participant=_other(name))
        assert workers._owner["room-y"].process is survivor
        # The pool is whole again: the replacement started, said it is ready, and takes the next room.
        await _until(lambda: workers.ready() == 2)
        assert victim.pid not in workers.worker_pids
        fresh = MediaClient((200, 200, 10))
        await _connect(workers, "room-z", "z1", fresh)
        assert workers._owner["room-z"].process not in (victim, survivor)
        await fresh.close()
    finally:
        for client in again.values():
            await client.close()


def _other(name: str) -> str:
    return {"y1": "y2", "y2": "y1"}[name]


async def _until(condition: Callable[[], bool]) -> None:
    async def check() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(check(), 30)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_large_messages_cross_to_a_worker_and_back_whole_on_either_loop(loop: str) -> None:
    """Replies and events of megabytes, many at once, arrive whole and nobody takes the worker for
    dead. uvloop switches the descriptors it watches to non-blocking: a blocking pipe protocol then
    split messages half-way and read a message still arriving as a lost worker."""

    async def exchange() -> None:
        events: list[MediaEvent] = []

        async def listener(event: MediaEvent) -> None:
            events.append(event)

        workers = WorkerPool(1, echo_backend, ICE, listener)
        await workers.start()
        try:
            await _until(lambda: workers.ready() == 1)
            first = workers.worker_pids
            offers = [f"v=0\r\na=x-padding:{index}{'x' * 3_000_000}\r\n" for index in range(6)]
            answers = await asyncio.gather(
                *(
                    workers.connect(f"room-{index}", "p", SessionDescription(offer, "offer"))
                    for index, offer in enumerate(offers)
                )
            )
            assert [answer.sdp for answer in answers] == offers
            await _until(lambda: len(events) == len(offers))
            assert sorted(str(event.data["state"]) for event in events) == sorted(offers)
            assert workers.worker_pids == first and workers.ready() == 1
        finally:
            await workers.close()

    runner = uvloop.run if loop == "uvloop" else asyncio.run
    runner(exchange())
