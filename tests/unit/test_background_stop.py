"""Stopping a background loop ends it even when a cancellation is lost (rooms/store/background.py)."""

from __future__ import annotations

import asyncio

import pytest

from rooms.store import background
from rooms.store.background import stop


async def test_a_loop_that_loses_its_cancellations_is_stopped_all_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a Redis command did when a cancellation landed in it: the loop ran on. One cancel and
    a wait never ended; ``stop`` cancels again until the loop is gone."""
    monkeypatch.setattr(background, "RECANCEL_SECONDS", 0.02)
    lost = 0
    running = asyncio.Event()

    async def loop_that_swallows_three() -> None:
        nonlocal lost
        running.set()
        while True:
            try:
                await asyncio.sleep(0.005)
            except asyncio.CancelledError:
                if lost < 3:
                    lost += 1
                    continue
                raise

    task = asyncio.get_running_loop().create_task(loop_that_swallows_three())
    await running.wait()
    async with asyncio.timeout(5):
        await stop(task)
    assert task.cancelled() and lost == 3


async def test_stopping_a_loop_that_failed_or_ended_says_nothing_of_it() -> None:
    async def fails() -> None:
        raise RuntimeError("on its way out")

    async def ends() -> None:
        return None

    for body in (fails, ends):
        task = asyncio.get_running_loop().create_task(body())
        await asyncio.sleep(0)
        await stop(task)
        assert task.done()
