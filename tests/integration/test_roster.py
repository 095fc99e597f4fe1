"""The shared roster (signaling/roster.py) on a real Redis: a node's people are swept once it is
gone, except those who left normally or connected again on another node."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from rooms.roles import Role
from signaling import roster
from signaling.roster import RedisRoster, RosterEntry
from tests.support.redis_server import redis_server


@pytest.fixture
async def redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Redis]:
    monkeypatch.setattr(roster, "HEARTBEAT_SECONDS", 0.05)
    with redis_server(tmp_path) as url:
        client = Redis.from_url(url)
        yield client
        await client.aclose()


def entry(sid: str, participant: str, role: Role = Role.PATIENT) -> RosterEntry:
    return RosterEntry(sid, "c-1", participant, role, role is Role.PATIENT, "UMF-1")


async def test_a_gone_nodes_people_are_swept_once_except_who_left_or_came_back(redis: Redis) -> None:
    swept: list[RosterEntry] = []

    async def lost(gone: RosterEntry) -> None:
        swept.append(gone)

    async def ignore(_: RosterEntry) -> None:
        raise AssertionError("nobody of a live node is lost")

    survivor, other, gone = RedisRoster(redis, "b"), RedisRoster(redis, "c"), RedisRoster(redis, "a")
    async with survivor.running(lost), other.running(lost):
        async with gone.running(ignore):
            await gone.add(entry("s1", "p1"))
            await gone.add(entry("s2", "p2"))
            await gone.add(entry("s3", "p3"))
            await gone.add(entry("s4", "nurse", Role.NURSE))
            await gone.remove("s2", "p2")  # left normally
            await survivor.add(entry("t3", "p3"))  # connected again on another node
            await asyncio.sleep(0.3)
            assert swept == []  # alive: nobody sweeps it
        async with asyncio.timeout(10):
            while len(swept) < 2:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # every other beat finds nothing more to sweep
    assert sorted(swept, key=lambda e: e.sid) == [entry("s1", "p1"), entry("s4", "nurse", Role.NURSE)]
    assert entry("s4", "nurse", Role.NURSE).via_link is False


async def test_the_roster_stops_whenever_it_is_stopped(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop lands anywhere in a beat: inside a Redis command too, where redis-py 8 swallowed the
    cancellation about one time in ten and the loop (and the node's shutdown) never ended."""
    monkeypatch.setattr(roster, "HEARTBEAT_SECONDS", 0.001)

    async def ignore(_: RosterEntry) -> None:
        return None

    node = RedisRoster(redis, "a")
    for attempt in range(150):
        async with asyncio.timeout(5):
            async with node.running(ignore):
                await asyncio.sleep(attempt % 10 / 1000)
