"""Typed replies from the asyncio Redis client.

redis-py types each command as ``Awaitable[T] | T``, one signature for its synchronous and its
asyncio clients; on the asyncio client the reply is always awaitable, and ``replied`` says so to
the type checker once instead of at every call.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar, cast

T = TypeVar("T")


async def replied(pending: Awaitable[T] | T) -> T:
    """Await a command of the asyncio client with the type its synchronous twin returns."""
    return await cast(Awaitable[T], pending)
