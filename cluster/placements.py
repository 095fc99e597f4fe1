"""Where each consult's media lives, shared by every node through Redis.

``tc:placement:<room>`` holds the node, the worker it was chosen for and an epoch that grows each
time the room moves; ``tc:node-rooms:<node>`` lists the rooms placed on a node, so when a node
dies its rooms are found without scanning. A short lock (``SET NX PX``) makes deciding a room's
place one node's job at a time: two nodes asked for the same new consult at once agree on one.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from media.backend import MediaError, MediaErrorCode
from rooms.placement import Choice
from rooms.store.replies import replied

PLACEMENT_TTL_SECONDS = 24 * 3600
"""A placement outlives any consult; one left by a crash expires on its own."""
LOCK_MS = 3000
LOCK_WAIT_SECONDS = 5.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def placement_key(room_id: str) -> str:
    return f"tc:placement:{room_id}"


def node_rooms_key(node_id: str) -> str:
    return f"tc:node-rooms:{node_id}"


@dataclass(frozen=True, slots=True)
class Placement:
    room_id: str
    node_id: str
    worker: int
    epoch: int

    def to_json(self) -> str:
        return json.dumps({"node": self.node_id, "worker": self.worker, "epoch": self.epoch})

    @classmethod
    def from_json(cls, room_id: str, text: str | bytes) -> Placement:
        data = json.loads(text)
        return cls(room_id, str(data["node"]), int(data["worker"]), int(data["epoch"]))


@dataclass(frozen=True, slots=True)
class Settled:
    placement: Placement
    moved_from: Placement | None = None
    """The placement this one replaced, when the room moved off a dead node (not a first one)."""


Chooser = Callable[[frozenset[str]], Choice | None]
"""Picks a node and worker, avoiding the given nodes (``rooms.placement.choose`` over the registry)."""


class PlacementStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, room_id: str) -> Placement | None:
        value = await self._redis.get(placement_key(room_id))
        return Placement.from_json(room_id, value) if value is not None else None

    async def rooms_on(self, node_id: str) -> list[str]:
        members = await replied(self._redis.smembers(node_rooms_key(node_id)))
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def settle(self, room_id: str, usable: Callable[[str], bool], choose: Chooser) -> Settled:
        """The room's placement if its node is ``usable``; else a new one (epoch + 1) from ``choose``.

        Raises :class:`MediaError` ``media_unavailable`` when no node can take the room.
        """
        current = await self.get(room_id)
        if current is not None and usable(current.node_id):
            return Settled(current)
        async with self._locked(room_id):
            current = await self.get(room_id)  # another node may have decided meanwhile
            if current is not None and usable(current.node_id):
                return Settled(current)
            choice = choose(frozenset({current.node_id}) if current is not None else frozenset())
            if choice is None:
                raise MediaError(MediaErrorCode.UNAVAILABLE, "No media server can take this call now.")
            placement = Placement(
                room_id, choice.node_id, choice.worker, current.epoch + 1 if current is not None else 1
            )
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(placement_key(room_id), placement.to_json(), ex=PLACEMENT_TTL_SECONDS)
                if current is not None:
                    pipe.srem(node_rooms_key(current.node_id), room_id)
                pipe.sadd(node_rooms_key(placement.node_id), room_id)
                await pipe.execute()
            return Settled(placement, current)

    async def forget(self, room_id: str) -> None:
        """The room closed: it lives nowhere now."""
        current = await self.get(room_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(placement_key(room_id))
            if current is not None:
                pipe.srem(node_rooms_key(current.node_id), room_id)
            await pipe.execute()

    def _locked(self, room_id: str) -> _Lock:
        return _Lock(self._redis, f"tc:placement-lock:{room_id}")


class _Lock:
    """A short Redis lock, released only by its holder (a lock that expired is not deleted)."""

    def __init__(self, redis: Redis, key: str) -> None:
        self._redis = redis
        self._key = key
        self._token = secrets.token_hex(8)

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_SECONDS
        while not await self._redis.set(self._key, self._token, nx=True, px=LOCK_MS):
            if loop.time() > deadline:
                raise MediaError(MediaErrorCode.UNAVAILABLE, "The media server is busy; try again.")
            await asyncio.sleep(0.02)

    async def __aexit__(self, *_: object) -> None:
        await replied(self._redis.eval(_RELEASE, 1, self._key, self._token))
