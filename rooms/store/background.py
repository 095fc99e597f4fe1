"""Stopping the background loops that talk to Redis: the roster's heartbeat, the node registry's
rounds, the pub/sub listeners of the call channel and the cluster's news."""

from __future__ import annotations

import asyncio
from typing import Any

RECANCEL_SECONDS = 0.5


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling it again while it runs on.

    A cancellation that lands inside a Redis command can be lost: redis-py 8 lost about one in
    ten (so the client stays below 8), and Python 3.11's ``asyncio.wait_for``, which the client
    uses, can lose one when the call it waits for ends at the same moment. A loop that lost it
    runs on, and a node whose shutdown waited for it never stopped: a CI run's two-node test
    hung 180 s in its teardown inside the roster's stop, on redis-py 7.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    if not task.cancelled():
        task.exception()  # a loop that failed on its way out: retrieved, not "never retrieved"
