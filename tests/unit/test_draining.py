"""Draining (web/lifecycle.py): the node is marked at once, then waits for its live calls, bounded."""

from __future__ import annotations

import asyncio

from services.lifecycle import NodeLifecycle
from web.lifecycle import drain


async def test_draining_waits_until_the_last_live_call_ends() -> None:
    lifecycle, calls, seen = NodeLifecycle(), [2, 1, 1, 0], []

    async def live_calls() -> int:
        seen.append(lifecycle.draining)
        return calls.pop(0)

    await drain(lifecycle, live_calls, seconds=60, stop=asyncio.Event(), poll_seconds=0.01)
    assert calls == [] and seen == [True] * 4
    assert lifecycle.draining and not lifecycle.drain()  # it started once, and stays


async def test_draining_gives_up_after_the_drain_timeout() -> None:
    lifecycle = NodeLifecycle()
    asked = 0

    async def forever() -> int:
        nonlocal asked
        asked += 1
        return 1

    await drain(lifecycle, forever, seconds=0.05, stop=asyncio.Event(), poll_seconds=0.01)
    assert asked >= 2


async def test_a_stop_ends_the_drain_at_once() -> None:
    lifecycle, stop = NodeLifecycle(), asyncio.Event()

    async def busy() -> int:
        stop.set()  # e.g. a second SIGTERM while the first drains
        return 3

    await drain(lifecycle, busy, seconds=3600, stop=stop)
    assert lifecycle.draining


async def test_waiting_for_the_drain_wakes_when_it_starts() -> None:
    lifecycle = NodeLifecycle()
    waiter = asyncio.get_running_loop().create_task(lifecycle.wait_draining())
    await asyncio.sleep(0)
    assert not waiter.done()
    assert lifecycle.drain()
    await asyncio.wait_for(waiter, 1)
