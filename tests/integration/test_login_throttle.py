"""One suite for both login throttles: in memory, and Redis against a real redis-server.

The policy's first wait is long (10 minutes), so a throttled attempt stays throttled for the
whole test however slow the machine is: nothing here depends on timing. How waits grow and end
is checked on the memory throttle with a clock the test moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.support.redis_server import redis_server
from web.login_throttle import LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle, ThrottlePolicy

POLICY = ThrottlePolicy(user_failures=5, address_failures=10, delay_seconds=600, max_delay_seconds=3600)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis"))) as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[LoginThrottle]:
    if request.param == "memory":
        yield MemoryLoginThrottle(POLICY)
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    try:
        yield RedisLoginThrottle(client, POLICY)
    finally:
        await client.aclose()


async def _fail(throttle: LoginThrottle, username: str, address: str) -> None:
    """One wrong password: the attempt is let through and never confirmed."""
    assert await throttle.attempt(username, address) == 0


async def test_a_username_gets_five_free_failures_then_a_wait(throttle: LoginThrottle) -> None:
    for n in range(5):
        await _fail(throttle, "ana", f"10.0.0.{n}")
    wait = await throttle.attempt("ana", "10.0.0.99")
    assert 0 < wait <= 600


async def test_an_address_trying_many_usernames_is_throttled(throttle: LoginThrottle) -> None:
    for n in range(10):
        await _fail(throttle, f"user-{n}", "203.0.113.7")
    assert 0 < await throttle.attempt("user-new", "203.0.113.7") <= 600
    # Another address is not affected, nor are those usernames from elsewhere.
    assert await throttle.attempt("user-new", "198.51.100.1") == 0


async def test_attempts_refused_while_waiting_do_not_lengthen_the_wait(throttle: LoginThrottle) -> None:
    for n in range(5):
        await _fail(throttle, "ana", f"10.0.0.{n}")
    waits = [await throttle.attempt("ana", f"10.0.1.{n}") for n in range(20)]
    assert all(0 < wait <= 600 for wait in waits)


async def test_a_correct_password_clears_the_usernames_failures(throttle: LoginThrottle) -> None:
    for n in range(4):
        await _fail(throttle, "ana", f"10.0.0.{n}")
    assert await throttle.attempt("ana", "10.0.0.50") == 0
    await throttle.succeeded("ana", "10.0.0.50")
    for n in range(4):
        await _fail(throttle, "ana", f"10.0.2.{n}")
    assert await throttle.attempt("ana", "10.0.2.99") == 0


async def test_her_known_address_is_not_blocked_by_someone_elses_failures(throttle: LoginThrottle) -> None:
    assert await throttle.attempt("ana", "10.1.1.1") == 0
    await throttle.succeeded("ana", "10.1.1.1")
    for _ in range(5):
        await _fail(throttle, "ana", "203.0.113.66")
    assert await throttle.attempt("ana", "203.0.113.66") > 0
    assert await throttle.attempt("ana", "10.9.9.9") > 0, "a new address waits: the username is throttled"
    assert await throttle.attempt("ana", "10.1.1.1") == 0, "her own recent address goes ahead"


async def test_a_known_address_still_counts_its_own_failures(throttle: LoginThrottle) -> None:
    assert await throttle.attempt("ana", "10.1.1.1") == 0
    await throttle.succeeded("ana", "10.1.1.1")
    for _ in range(5):
        await _fail(throttle, "ana", "10.1.1.1")
    assert await throttle.attempt("ana", "10.1.1.1") > 0


async def test_a_known_address_is_known_for_that_username_only(throttle: LoginThrottle) -> None:
    assert await throttle.attempt("ana", "10.1.1.1") == 0
    await throttle.succeeded("ana", "10.1.1.1")
    for n in range(5):
        await _fail(throttle, "beto", f"203.0.113.{n}")
    assert await throttle.attempt("beto", "10.1.1.1") > 0


async def test_a_success_takes_back_only_its_own_attempt_on_the_address(throttle: LoginThrottle) -> None:
    for n in range(9):
        await _fail(throttle, f"user-{n}", "10.2.2.2")
    assert await throttle.attempt("ana", "10.2.2.2") == 0
    await throttle.succeeded("ana", "10.2.2.2")
    # Nine failures stand: one more is free, the one after waits.
    await _fail(throttle, "user-9", "10.2.2.2")
    assert await throttle.attempt("user-10", "10.2.2.2") > 0


async def test_concurrent_guesses_cannot_slip_past_the_count(throttle: LoginThrottle) -> None:
    waits = await asyncio.gather(*(throttle.attempt("ana", f"10.3.0.{n}") for n in range(30)))
    assert sum(1 for wait in waits if wait == 0) == 5


async def test_a_username_that_looks_like_an_address_is_counted_apart(throttle: LoginThrottle) -> None:
    for n in range(5):
        await _fail(throttle, "10.4.4.4", f"10.5.0.{n}")
    assert await throttle.attempt("ana", "10.4.4.4") == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_waits_double_up_to_the_longest_and_failures_are_forgotten() -> None:
    clock = Clock()
    policy = ThrottlePolicy(
        user_failures=2, address_failures=100, delay_seconds=1, max_delay_seconds=4, forget_after_seconds=60
    )
    throttle = MemoryLoginThrottle(policy, clock=clock)
    assert await throttle.attempt("ana", "10.0.0.1") == 0
    for expected in (1, 2, 4, 4):
        assert await throttle.attempt("ana", "10.0.0.1") == 0
        assert await throttle.attempt("ana", "10.0.0.1") == expected
        clock.now += expected
    clock.now += 60
    assert await throttle.attempt("ana", "10.0.0.1") == 0
    assert await throttle.attempt("ana", "10.0.0.1") == 0, "the old failures were forgotten"


async def test_a_known_address_is_forgotten_after_its_time() -> None:
    clock = Clock()
    throttle = MemoryLoginThrottle(POLICY, clock=clock)
    assert await throttle.attempt("ana", "10.1.1.1") == 0
    await throttle.succeeded("ana", "10.1.1.1")
    clock.now += POLICY.known_address_seconds
    for n in range(5):
        await _fail(throttle, "ana", f"203.0.113.{n}")
    assert await throttle.attempt("ana", "10.1.1.1") > 0


async def test_memory_stays_bounded_dropping_the_least_recently_used() -> None:
    throttle = MemoryLoginThrottle(POLICY, max_entries=30)
    for n in range(5):
        await _fail(throttle, "ana", f"10.0.0.{n}")
    assert await throttle.attempt("ana", "10.0.0.99") > 0
    # A flood of other names and addresses pushes Ana's old counter out instead of growing.
    for n in range(30):
        await _fail(throttle, f"user-{n}", f"198.51.100.{n}")
    assert await throttle.attempt("ana", "10.0.0.99") == 0
