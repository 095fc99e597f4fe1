"""Draining a node on ``SIGTERM``: not ready at once, no new consults, live calls kept until they end.

The node exits when no call it carries is live any more, or after ``TC_DRAIN_SECONDS`` (the calls
still running then are dropped as in any shutdown: their pages hear ``server:shutdown`` and
reconnect to another node, where the reconnection grace keeps their place). ``SIGINT`` and a
second ``SIGTERM`` skip the wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.lifecycle import NodeLifecycle

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


async def drain(
    lifecycle: NodeLifecycle,
    live_calls: Callable[[], Awaitable[int]],
    *,
    seconds: float,
    stop: asyncio.Event,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Drain, and return once no live call is left, ``seconds`` passed, or ``stop`` is set."""
    lifecycle.drain()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not stop.is_set():
        calls = await live_calls()
        if calls == 0:
            logger.info("draining: no live call left")
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            logger.warning("draining: %d live calls still running after the drain timeout", calls)
            return
        logger.info("draining: waiting for %d live calls", calls)
        try:
            await asyncio.wait_for(stop.wait(), min(poll_seconds, remaining))
        except TimeoutError:
            continue
