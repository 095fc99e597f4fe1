"""What every node must act on, not only the one that decided it, over one Redis channel.

socket.io's Redis manager carries events to pages on every node, but closing a socket is done by
the node that holds it. When a consult closes (ended, cancelled, a no-show) the node that closed
it lets its own connections of it go and says so here; every other node then does the same for
the connections it holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cluster.pubsub import listen
from rooms.store.background import stop

logger = logging.getLogger(__name__)

CHANNEL = "tc:cluster-news"

ConsultClosed = Callable[[str], Coroutine[Any, Any, None]]


class ClusterNews:
    def __init__(self, redis: Redis, node_id: str) -> None:
        self._redis = redis
        self._node_id = node_id
        self._on_closed: ConsultClosed | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def on_consult_closed(self, handler: ConsultClosed) -> None:
        self._on_closed = handler

    async def consult_closed(self, consult_id: str) -> None:
        """Tell the other nodes (``signaling.live.OtherNodes``); a lost message leaves their pages
        to close themselves on ``consult:ended``, as before."""
        message = json.dumps({"kind": "consult_closed", "from": self._node_id, "consult_id": consult_id})
        try:
            await self._redis.publish(CHANNEL, message)
        except RedisError as error:
            logger.warning("could not tell the other nodes a consult closed (%s)", type(error).__name__)

    async def start(self) -> None:
        self._listener = asyncio.get_running_loop().create_task(
            listen(self._redis, [CHANNEL], self._received, self._subscribed)
        )
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._listener is not None:
            await stop(self._listener)

    def _received(self, _: str, data: bytes) -> None:
        message = json.loads(data)
        if message.get("from") == self._node_id or self._on_closed is None:
            return
        if message.get("kind") == "consult_closed":
            task = asyncio.get_running_loop().create_task(self._on_closed(str(message["consult_id"])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
