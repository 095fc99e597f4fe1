"""Media calls between nodes: a request published on the media node's channel, its reply on the
caller's, both through Redis pub/sub.

A request names its caller and an id; the media node runs it and publishes the reply (a result,
or a media error's code and words). Pub/sub answers who heard a message: a request nobody heard
fails at once (the node is gone), one unanswered within the timeout fails too, both as
``media_unavailable``, never as a hang. Only media arguments travel: ids, SDP, candidates, flags.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cluster.pubsub import listen
from media.backend import MediaError, MediaErrorCode
from rooms.store.background import stop

logger = logging.getLogger(__name__)

Handler = Callable[[str, Sequence[Any]], Awaitable[object]]
"""Runs one media call on this node: the method's name and its arguments, JSON values."""


def request_channel(node_id: str) -> str:
    return f"tc:media-calls:{node_id}"


def reply_channel(node_id: str) -> str:
    return f"tc:media-replies:{node_id}"


class NodeUnreachable(MediaError):
    """The media node did not hear the call, or did not answer in time."""

    def __init__(self, node_id: str) -> None:
        super().__init__(MediaErrorCode.UNAVAILABLE, "The media server is unavailable.")
        self.node_id = node_id


class MediaRpc:
    def __init__(self, redis: Redis, node_id: str, handler: Handler, timeout_seconds: float = 5.0) -> None:
        self._redis = redis
        self._node_id = node_id
        self._handler = handler
        self._timeout = timeout_seconds
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[object]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        channels = (request_channel(self._node_id), reply_channel(self._node_id))
        self._listener = asyncio.get_running_loop().create_task(
            listen(self._redis, channels, self._received, self._subscribed)
        )
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._listener is not None:
            await stop(self._listener)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(MediaError(MediaErrorCode.UNAVAILABLE, "The server is shutting down."))

    async def call(self, node_id: str, method: str, args: Sequence[object]) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = json.dumps({"id": request_id, "from": self._node_id, "method": method, "args": list(args)})
        try:
            heard = await self._redis.publish(request_channel(node_id), message)
            if not heard:
                raise NodeUnreachable(node_id)
            return await asyncio.wait_for(future, self._timeout)
        except (TimeoutError, RedisError):
            raise NodeUnreachable(node_id) from None
        finally:
            self._pending.pop(request_id, None)

    def _received(self, name: str, data: bytes) -> None:
        message = json.loads(data)
        if name == reply_channel(self._node_id):
            future = self._pending.get(int(message["id"]))
            if future is None or future.done():
                return
            if message.get("error") is not None:
                code, text = message["error"]
                future.set_exception(MediaError(MediaErrorCode(code), str(text)))
            else:
                future.set_result(message.get("result"))
            return
        task = asyncio.get_running_loop().create_task(self._serve(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, request: dict[str, Any]) -> None:
        reply: dict[str, object] = {"id": request["id"]}
        try:
            reply["result"] = await self._handler(str(request["method"]), request["args"])
        except MediaError as error:
            reply["error"] = [error.code.value, error.message]
        except Exception as error:
            logger.exception("media call %s failed", request.get("method"))
            reply["error"] = [MediaErrorCode.UNAVAILABLE.value, type(error).__name__]
        try:
            await self._redis.publish(reply_channel(str(request["from"])), json.dumps(reply))
        except RedisError:
            logger.warning("could not send a media call's reply")
