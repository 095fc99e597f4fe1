"""Hearing Redis pub/sub channels for as long as the node runs, without gaps on a quiet channel.

A subscription must outlive silence. redis-py reads a subscribed connection with the client's
``socket_timeout`` (5 s here, so that a command to a dead primary fails), so a channel quiet that
long raised ``TimeoutError``; subscribing again took half a second to a second, and whatever
another node published meanwhile was lost: a patient's return, a media call's reply, a closed
consult. Instead, the listener waits for a message at most ``quiet_seconds`` at a time (a quiet
wait is not an error), and after each quiet wait it pings through the subscription. Only a
connection that answers nothing at all, not even that ping, for ``silent_seconds`` is dead: then,
and after a real error, it subscribes again.

Both the node's own channels (:func:`listen`) and python-socketio's manager
(``web.redis_connection.RedisManager``) read through :func:`messages`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes], None]
"""``(channel, data)`` for each message; it must not block (start a task for real work)."""

QUIET_SECONDS = 1.0
"""How long to wait for a message before asking Redis whether the subscription still stands."""
SILENT_SECONDS = 5.0
"""A subscription that answers nothing, not even a ping, this long is lost (as a command's timeout)."""
RESUBSCRIBE_SECONDS = 0.5


async def messages(
    redis: Redis,
    channels: Sequence[str],
    subscribed: asyncio.Event | None = None,
    *,
    quiet_seconds: float = QUIET_SECONDS,
    silent_seconds: float = SILENT_SECONDS,
) -> AsyncIterator[tuple[str, bytes]]:
    """Every ``(channel, data)`` published on ``channels`` until cancelled, subscribing again after
    a lost connection; ``subscribed`` is set once the channels are heard."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(*channels)
                if subscribed is not None:
                    subscribed.set()
                heard = loop.time()
                while True:
                    message = await pubsub.get_message(timeout=quiet_seconds)
                    if message is not None:
                        heard = loop.time()
                        if message.get("type") == "message":
                            channel = message["channel"]
                            name = channel.decode() if isinstance(channel, bytes) else str(channel)
                            yield name, message["data"]
                        continue
                    if loop.time() - heard > silent_seconds:
                        raise RedisConnectionError("the subscription answered nothing, not even a ping")
                    await pubsub.ping()  # its answer arrives as a message ("pong") and counts as heard
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.warning("pub/sub channel lost (%s); subscribing again", type(error).__name__)
            await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def listen(
    redis: Redis, channels: Sequence[str], on_message: OnMessage, subscribed: asyncio.Event
) -> None:
    """Run until cancelled, handing each message to ``on_message``; ``subscribed`` is set once the
    channels are heard."""
    async for channel, data in messages(redis, channels, subscribed):
        on_message(channel, data)
