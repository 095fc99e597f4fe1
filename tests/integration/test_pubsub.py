"""Subscriptions that outlive silence, on a real Redis: what another node publishes after a quiet
spell longer than the client's socket timeout still arrives, through the node's own channels and
through python-socketio's manager, and a subscription whose connection is killed is made again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from cluster.pubsub import messages
from tests.support.redis_server import redis_server
from web.redis_connection import SOCKETIO_CHANNEL, RedisManager, redis_client

pytestmark = pytest.mark.redis

SOCKET_TIMEOUT = 0.3
"""Far below the real five seconds, so that a quiet spell past it costs the test one second."""


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
async def publisher(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def subscribers(publisher: Redis, channel: str) -> int:
    return int(dict(await publisher.pubsub_numsub(channel))[channel.encode()])


async def until_subscribed(publisher: Redis, channel: str, count: int = 1) -> None:
    async def wait() -> None:
        while await subscribers(publisher, channel) != count:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), 5)


async def publish_spread(publisher: Redis, channel: str, count: int) -> list[bytes]:
    """``count`` messages over about a second: longer than the gap a lost subscription left."""
    sent = [f"m{index}".encode() for index in range(count)]
    for message in sent:
        await publisher.publish(channel, message)
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


async def test_a_channel_quiet_past_the_socket_timeout_loses_nothing(
    redis_url: str, publisher: Redis
) -> None:
    client = redis_client(redis_url, pool_size=4, pool_timeout=1.0, socket_timeout=SOCKET_TIMEOUT)
    received: list[bytes] = []
    listener = asyncio.create_task(
        collect(data_of(messages(client, ["news"], quiet_seconds=0.1, silent_seconds=1.0)), received)
    )
    try:
        await until_subscribed(publisher, "news")
        await asyncio.sleep(4 * SOCKET_TIMEOUT)
        sent = await publish_spread(publisher, "news", 40)
        await until_count(received, len(sent))
        assert received == sent
        assert await subscribers(publisher, "news") == 1  # the same subscription, never a second
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await client.aclose()


async def test_the_socketio_manager_hears_other_nodes_after_a_quiet_spell(
    redis_url: str, publisher: Redis
) -> None:
    manager = RedisManager(redis_url, pool_size=4, pool_timeout=1.0, socket_timeout=SOCKET_TIMEOUT)
    received: list[bytes] = []
    listener = asyncio.create_task(collect(manager._listen(), received))
    try:
        await until_subscribed(publisher, SOCKETIO_CHANNEL)
        await asyncio.sleep(4 * SOCKET_TIMEOUT)
        sent = await publish_spread(publisher, SOCKETIO_CHANNEL, 40)
        await until_count(received, len(sent))
        assert received == sent
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        assert manager.redis is not None
        await manager.redis.aclose()


async def test_a_killed_subscription_is_made_again(redis_url: str, publisher: Redis) -> None:
    client = redis_client(redis_url, pool_size=4, pool_timeout=1.0, socket_timeout=SOCKET_TIMEOUT)
    subscribed = asyncio.Event()
    received: list[bytes] = []
    listener = asyncio.create_task(
        collect(data_of(messages(client, ["news"], subscribed, quiet_seconds=0.1)), received)
    )
    try:
        await asyncio.wait_for(subscribed.wait(), 5)
        subscribed.clear()
        killed = await publisher.client_kill_filter(_type="pubsub")
        assert killed == 1
        await asyncio.wait_for(subscribed.wait(), 5)
        await until_subscribed(publisher, "news")
        await publisher.publish("news", b"after")
        await until_count(received, 1)
        assert received == [b"after"]
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await client.aclose()
