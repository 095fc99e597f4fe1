"""The cluster's parts on a real Redis: the registry's view, placement under contention and after a
node dies, media calls to a node that is gone, and subscriptions that outlive silence (what another
node publishes after a quiet spell longer than the client's socket timeout still arrives, through
the node's own channels and python-socketio's manager, and a killed subscription is made again)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from cluster.bridge import PlacedMedia
from cluster.load import LoadMeter
from cluster.placements import PlacementStore
from cluster.pubsub import messages
from cluster.registry import NodeEntry, NodeRegistry, node_key
from cluster.rpc import MediaRpc, NodeUnreachable
from media.backend import LinkReport, MediaBackend, MediaError, MediaErrorCode
from media.census import MediaCensus, TrafficCounts
from rooms.placement import Choice, Limits, NodeLoad, WorkerLoad, choose
from tests.support.redis_server import redis_server
from web.redis_connection import SOCKETIO_CHANNEL, RedisManager, redis_client

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _meter(rooms: int = 0) -> LoadMeter:
    return LoadMeter(lambda: {0: MediaCensus(rooms=rooms, subscriptions=2 * rooms)}, workers=2)


def test_a_node_entry_survives_its_json() -> None:
    entry = NodeEntry(
        NodeLoad("n1", (WorkerLoad(3, 6, 120.5, 0.25), WorkerLoad()), serving=False), "10.0.0.7", "cdmx"
    )
    assert NodeEntry.from_json(entry.to_json()) == entry


def test_the_load_meter_turns_counts_into_rates() -> None:
    now = [0.0]
    census = [MediaCensus(rooms=1, publishers=2, subscriptions=2, cpu_seconds=1.0)]
    meter = LoadMeter(lambda: {0: census[0]}, workers=2, clock=lambda: now[0])
    assert meter.read() == (WorkerLoad(rooms=1, tracks=4), WorkerLoad())
    now[0] = 2.0
    census[0] = MediaCensus(
        rooms=1,
        publishers=2,
        subscriptions=2,
        cpu_seconds=2.0,
        traffic=TrafficCounts(packets_in=300, packets_out=500),
    )
    assert meter.read()[0] == WorkerLoad(rooms=1, tracks=4, packets_per_second=400.0, cpu=0.5)


async def test_each_registry_sees_the_other_and_reports_a_silent_one_once(redis: Redis) -> None:
    a = NodeRegistry(redis, "a", _meter(1), media_address="127.0.0.2", ttl_seconds=2.0)
    b = NodeRegistry(redis, "b", _meter(0), ttl_seconds=2.0)
    lost: list[str] = []

    async def on_lost(node_id: str) -> None:
        lost.append(node_id)

    b.on_lost(on_lost)
    await a.tick()
    await b.tick()
    await a.tick()  # a's first round came before b had written its entry
    assert a.is_live("b") and b.is_live("a")
    assert {n.node_id: n.workers[0].rooms for n in b.nodes()} == {"a": 1, "b": 0}
    while await redis.exists(node_key("a")):  # a stops renewing: its entry expires (after b's
        await asyncio.sleep(0.05)  # last round, so b was silent longer than the entries live, too)
    await b.tick()  # b's first round after is late and judges nobody
    await b.tick()  # then a is missing once: maybe only late
    assert b.is_live("a") and lost == []
    for _ in range(3):  # missing a second round in a row: dead, and reported once
        await b.tick()
        await asyncio.sleep(0)  # the report runs apart from the round
    assert not b.is_live("a") and lost == ["a"]
    assert await redis.smembers("tc:nodes") == {b"b"}


async def test_concurrent_first_uses_agree_on_one_placement(redis: Redis) -> None:
    store = PlacementStore(redis)
    nodes = [NodeLoad(name, (WorkerLoad(),)) for name in ("a", "b", "c")]
    rng = random.Random(3)

    def chooser(avoid: frozenset[str]) -> Choice | None:
        return choose(nodes, Limits(), rng, avoid)

    settled = await asyncio.gather(*(store.settle("room-1", lambda _: True, chooser) for _ in range(8)))
    assert len({s.placement for s in settled}) == 1
    assert all(s.moved_from is None for s in settled) and settled[0].placement.epoch == 1
    node = settled[0].placement.node_id
    assert await store.rooms_on(node) == ["room-1"]


async def test_a_room_on_a_dead_node_moves_once_with_the_next_epoch(redis: Redis) -> None:
    store = PlacementStore(redis)
    await store.settle("room-1", lambda _: True, lambda _: Choice("dead", 0, 0.0))
    alive = [NodeLoad("b", (WorkerLoad(),))]

    def chooser(avoid: frozenset[str]) -> Choice | None:
        return choose(alive, Limits(), random.Random(1), avoid)

    moves = await asyncio.gather(*(store.settle("room-1", lambda n: n != "dead", chooser) for _ in range(4)))
    assert sum(m.moved_from is not None for m in moves) == 1
    (moved,) = [m for m in moves if m.moved_from is not None]
    assert (moved.moved_from.node_id if moved.moved_from else "", moved.placement.node_id) == ("dead", "b")
    assert moved.placement.epoch == 2
    assert await store.rooms_on("dead") == [] and await store.rooms_on("b") == ["room-1"]
    await store.forget("room-1")
    assert await store.get("room-1") is None and await store.rooms_on("b") == []


async def test_no_live_node_is_a_clear_media_error(redis: Redis) -> None:
    with pytest.raises(MediaError) as refused:
        await PlacementStore(redis).settle("room-1", lambda _: True, lambda _: None)
    assert refused.value.code is MediaErrorCode.UNAVAILABLE


async def test_media_calls_reach_the_node_and_fail_clearly_when_it_is_gone(redis: Redis) -> None:
    async def serve(method: str, args: Sequence[Any]) -> object:
        if method == "subscribe":
            raise MediaError(MediaErrorCode.ROOM_FULL, "full")
        if method == "close_room":
            await asyncio.sleep(10)  # never answers in time
        return [method, *args]

    media_node = MediaRpc(redis, "media", serve)
    caller = MediaRpc(redis, "caller", serve, timeout_seconds=0.5)
    await media_node.start()
    await caller.start()
    try:
        assert await caller.call("media", "connect", ["room", "p1"]) == ["connect", "room", "p1"]
        with pytest.raises(MediaError) as full:
            await caller.call("media", "subscribe", ["room", "p1"])
        assert full.value.code is MediaErrorCode.ROOM_FULL
        with pytest.raises(NodeUnreachable):
            await caller.call("media", "close_room", ["room"])  # heard, never answered
        with pytest.raises(NodeUnreachable):
            await caller.call("nobody", "connect", ["room", "p1"])  # heard by nobody
    finally:
        await media_node.stop()
        await caller.stop()


SOCKET_TIMEOUT = 0.3
"""Far below the real five seconds, so that a quiet spell past it costs the test one second."""


async def subscribers(redis: Redis, channel: str) -> int:
    return int(dict(await redis.pubsub_numsub(channel))[channel.encode()])


async def until_subscribed(redis: Redis, channel: str, count: int = 1) -> None:
    async def wait() -> None:
        while await subscribers(redis, channel) != count:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), 5)


async def publish_spread(redis: Redis, channel: str, count: int) -> list[bytes]:
    """``count`` messages over about a second: longer than the gap a lost subscription left."""
    sent = [f"m{index}".encode() for index in range(count)]
    for message in sent:
        await redis.publish(channel, message)
        await asyncio.sleep(1.0 / count)
    return sent


async def collect(source: AsyncIterator[bytes], into: list[bytes]) -> None:
    async for data in source:
        into.append(data)


async def until_count(received: list[bytes], count: int) -> None:
    async def wait() -> None:
        while len(received) < count:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), 5)


async def data_of(source: AsyncIterator[tuple[str, bytes]]) -> AsyncIterator[bytes]:
    async for _, data in source:
        yield data


async def test_a_channel_quiet_past_the_socket_timeout_loses_nothing(redis_url: str, redis: Redis) -> None:
    client = redis_client(redis_url, pool_size=4, pool_timeout=1.0, socket_timeout=SOCKET_TIMEOUT)
    received: list[bytes] = []
    listener = asyncio.create_task(
        collect(data_of(messages(client, ["news"], quiet_seconds=0.1, silent_seconds=1.0)), received)
    )
    try:
        await until_subscribed(redis, "news")
        await asyncio.sleep(4 * SOCKET_TIMEOUT)
        sent = await publish_spread(redis, "news", 40)
        await until_count(received, len(sent))
        assert received == sent
        assert await subscribers(redis, "news") == 1  # the same subscription, never a second
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await client.aclose()


async def test_the_socketio_manager_hears_other_nodes_after_a_quiet_spell(
    redis_url: str, redis: Redis
) -> None:
    manager = RedisManager(redis_url, pool_size=4, pool_timeout=1.0, socket_timeout=SOCKET_TIMEOUT)
    received: list[bytes] = []
    listener = asyncio.create_task(collect(manager._listen(), received))
    try:
        await until_subscribed(redis, SOCKETIO_CHANNEL)
        await asyncio.sleep(4 * SOCKET_TIMEOUT)
        sent = await publish_spread(redis, SOCKETIO_CHANNEL, 40)
        await until_count(received, len(sent))
        assert received == sent
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        assert manager.redis is not None
        await manager.redis.aclose()


async def test_a_killed_subscription_is_made_again(redis_url: str, redis: Redis) -> None:
    client = redis_client(redis_url, pool_size=4, pool_timeout=1.0, socket_timeout=SOCKET_TIMEOUT)
    subscribed = asyncio.Event()
    received: list[bytes] = []
    listener = asyncio.create_task(
        collect(data_of(messages(client, ["news"], subscribed, quiet_seconds=0.1)), received)
    )
    try:
        await asyncio.wait_for(subscribed.wait(), 5)
        subscribed.clear()
        killed = await redis.client_kill_filter(_type="pubsub")
        assert killed == 1
        await asyncio.wait_for(subscribed.wait(), 5)
        await until_subscribed(redis, "news")
        await redis.publish("news", b"after")
        await until_count(received, 1)
        assert received == [b"after"]
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await client.aclose()


class HoldingRooms:
    """A node's own media reduced to the rooms it holds: it hears link reports for those only."""

    def __init__(self, rooms: set[str]) -> None:
        self.rooms = rooms
        self.heard: list[tuple[str, str, LinkReport]] = []

    async def link_report(self, room_id: str, participant_id: str, report: LinkReport) -> None:
        if room_id not in self.rooms:
            raise MediaError(MediaErrorCode.NOT_PUBLISHING, "There is no media connection for this room.")
        self.heard.append((room_id, participant_id, report))


async def _gets(redis: Redis) -> int:
    return int((await redis.info("commandstats")).get("cmdstat_get", {}).get("calls", 0))


async def test_link_reports_reuse_the_placement_and_follow_the_room_when_it_moves(redis: Redis) -> None:
    here = HoldingRooms({"room"})
    sent: list[tuple[str, str, object]] = []

    async def send(node_id: str, method: str, args: Sequence[object]) -> object:
        sent.append((node_id, method, args[0]))
        return None

    async def ignore(*_: object) -> None:
        return None

    store = PlacementStore(redis)
    media = PlacedMedia(
        node_id="a",
        local=cast(MediaBackend, here),
        placements=store,
        registry=NodeRegistry(redis, "a", _meter()),
        send=send,
        on_moved=ignore,
        on_room_closed=ignore,
    )
    await store.settle("room", lambda node: False, lambda dead: Choice("a", 0, 0.0))
    report = LinkReport(audio_received=50, audio_lost=0)

    before = await _gets(redis)
    for _ in range(20):
        await media.link_report("room", "p1", report)
    assert len(here.heard) == 20
    assert await _gets(redis) - before == 1, "one read of the placement serves the reports after it"

    # The participant left the room's media here: the node still holds the placement, so the
    # refusal stands, and the next report reads the placement again.
    here.rooms.clear()
    with pytest.raises(MediaError):
        await media.link_report("room", "p1", report)

    here.rooms.add("room")
    await media.link_report("room", "p1", report)
    assert len(here.heard) == 21

    # The room moved to node b (node a was taken for dead) and node a let it go: the placement
    # still reused is refused there, read again, and the report goes to b at once.
    await store.settle("room", lambda node: node != "a", lambda dead: Choice("b", 0, 0.0))
    here.rooms.clear()
    await media.link_report("room", "p1", report)
    assert sent == [("b", "link_report", "room")]
    assert len(here.heard) == 21
