"""Hearing Redis pub/sub channels for as long as the node runs, subscribing again after a hiccup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from redis.asyncio import Redis

logger = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes], None]
"""``(channel, data)`` for each message; it must not block (start a task for real work)."""


async def listen(
    redis: Redis, channels: Sequence[str], on_message: OnMessage, subscribed: asyncio.Event
) -> None:
    """Run until cancelled; ``subscribed`` is set once the channels are heard."""
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(*channels)
                subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        channel = message["channel"]
                        name = channel.decode() if isinstance(channel, bytes) else str(channel)
                        on_message(name, message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.warning("pub/sub channel lost (%s); subscribing again", type(error).__name__)
            await asyncio.sleep(0.5)
