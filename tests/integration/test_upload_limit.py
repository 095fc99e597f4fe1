"""One suite for both photo upload limits: in memory, and Redis against a real redis-server.

Nothing here depends on timing: waits are long (a minute a photo), and how a wait ends is checked
on the memory limit with a clock the test moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.support.redis_server import redis_server
from web.upload_limit import MemoryUploadLimit, RedisUploadLimit, UploadLimit, UploadPolicy

POLICY = UploadPolicy(burst=3, seconds_per_photo=60)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis"))) as url:
        yield url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def limit(request: pytest.FixtureRequest) -> AsyncIterator[UploadLimit]:
    if request.param == "memory":
        yield MemoryUploadLimit(POLICY)
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    try:
        yield RedisUploadLimit(client, POLICY)
    finally:
        await client.aclose()


async def test_a_burst_then_a_wait_of_at_most_one_photo_interval(limit: UploadLimit) -> None:
    for _ in range(POLICY.burst):
        assert await limit.take("p-ana") == 0
    wait = await limit.take("p-ana")
    assert 0 < wait <= POLICY.seconds_per_photo
    # A refused upload does not lengthen the wait much: still at most one interval.
    assert 0 < await limit.take("p-ana") <= POLICY.seconds_per_photo


async def test_each_participant_has_a_bucket_of_their_own(limit: UploadLimit) -> None:
    for _ in range(POLICY.burst):
        await limit.take("p-ana")
    assert await limit.take("p-ana") > 0
    assert await limit.take("p-luis") == 0


async def test_every_node_counts_the_same_uploads(redis_client: Redis) -> None:
    """Two nodes' limits on one Redis: a patient switching nodes gets no fresh burst."""
    first, second = RedisUploadLimit(redis_client, POLICY), RedisUploadLimit(redis_client, POLICY)
    for n in range(POLICY.burst):
        assert await (first if n % 2 else second).take("p-ana") == 0
    assert await first.take("p-ana") > 0 and await second.take("p-ana") > 0
    keys = [key.decode() async for key in redis_client.scan_iter("tc:photos:*")]
    assert len(keys) == 1 and "p-ana" not in keys[0]  # hashed, and it expires on its own
    assert 0 < await redis_client.pttl(keys[0]) <= POLICY.burst * POLICY.seconds_per_photo * 1000


async def test_the_wait_ends_and_a_token_comes_back_per_interval() -> None:
    now = [1000.0]
    limit = MemoryUploadLimit(POLICY, clock=lambda: now[0])
    for _ in range(POLICY.burst):
        assert await limit.take("p-ana") == 0
    wait = await limit.take("p-ana")
    now[0] += wait
    assert await limit.take("p-ana") == 0
    assert await limit.take("p-ana") > 0
    now[0] += POLICY.burst * POLICY.seconds_per_photo  # idle: a full burst again, never more
    assert [await limit.take("p-ana") for _ in range(POLICY.burst + 1)].count(0.0) == POLICY.burst


async def test_memory_stays_bounded_and_forgetting_refuses_nobody() -> None:
    limit = MemoryUploadLimit(POLICY, max_entries=2)
    for _ in range(POLICY.burst):
        await limit.take("p-ana")
    await limit.take("p-luis")
    await limit.take("p-eva")  # p-ana's bucket is forgotten: she gets a full one back
    assert await limit.take("p-ana") == 0
