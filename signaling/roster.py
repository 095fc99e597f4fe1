"""Who is connected to which node, in Redis, so a node that dies does not leave its people "connected".

Each node process (``{TC_NODE_ID}/{random}``: a restart, or two processes sharing a host name, are
different processes) keeps a hash of its sockets that belong to a consult (``tc:roster:{node}``:
socket id -> who) and a heartbeat key with a short TTL (``tc:alive:{node}``), and each
participant's latest socket is named in ``tc:where:{participant}``. Every node looks at the
others' heartbeats; when one has expired, the first live node to ``RENAME`` the dead node's hash
takes it (atomic: exactly one node sweeps it), and each entry whose participant has not connected
elsewhere since is handed to :class:`signaling.presence.Presence` as lost (``dropped`` with reason
``node_lost``). A process that died is swept so by the others, or by its own next life.

Without Redis there is one node and nothing to sweep: :class:`LocalRoster` does nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from rooms.roles import Role
from rooms.store.background import stop
from rooms.store.replies import replied

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
"""How often a node says it is alive and looks for dead ones."""
ALIVE_SECONDS = 6.0
"""A node silent this long is dead to everyone (three missed heartbeats)."""
WHERE_SECONDS = 86400
"""``tc:where:{participant}`` outlives any connection, and is not kept forever."""

NODES = "tc:roster-nodes"
"""The roster's nodes (apart from the media registry's ``tc:nodes``, whose ids and liveness differ)."""


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One socket of a consult's participant, as a sweeping node needs it (no names, no tokens)."""

    sid: str
    consult_id: str
    participant_id: str
    role: Role
    via_link: bool
    unit: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "c": self.consult_id,
                "p": self.participant_id,
                "r": self.role.value,
                "l": self.via_link,
                "u": self.unit,
            }
        )

    @classmethod
    def from_json(cls, sid: str, text: str | bytes) -> RosterEntry:
        data = json.loads(text)
        return cls(sid, data["c"], data["p"], Role(data["r"]), bool(data["l"]), data["u"])


LostHook = Callable[[RosterEntry], Awaitable[None]]


class Roster(Protocol):
    async def add(self, entry: RosterEntry) -> None: ...

    async def remove(self, sid: str, participant_id: str) -> None: ...

    def running(self, on_lost: LostHook) -> AbstractAsyncContextManager[None]:
        """Heartbeat and sweep while the node runs (an ``async with`` around its life)."""
        ...


class LocalRoster:
    """One node, no Redis: nothing to share, nothing to sweep."""

    async def add(self, entry: RosterEntry) -> None:
        return None

    async def remove(self, sid: str, participant_id: str) -> None:
        return None

    @asynccontextmanager
    async def running(self, on_lost: LostHook) -> AsyncIterator[None]:
        yield


# Delete the participant's location only if it still names this socket (a newer one elsewhere wins).
_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisRoster:
    def __init__(self, redis: Redis, node_id: str) -> None:
        self._redis = redis
        self._node = f"{node_id}/{secrets.token_hex(4)}"
        self._forget = redis.register_script(_FORGET)

    async def add(self, entry: RosterEntry) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(_roster(self._node), entry.sid, entry.to_json())
            pipe.set(_where(entry.participant_id), self._here(entry.sid), ex=WHERE_SECONDS)
            await pipe.execute()

    async def remove(self, sid: str, participant_id: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hdel(_roster(self._node), sid)
            await self._forget(keys=[_where(participant_id)], args=[self._here(sid)], client=pipe)
            await pipe.execute()

    @asynccontextmanager
    async def running(self, on_lost: LostHook) -> AsyncIterator[None]:
        with suppress(RedisError):  # Redis away at start: /readyz says so; the loop tries again
            await self._beat()
        task = asyncio.get_running_loop().create_task(self._loop(on_lost))
        try:
            yield
        finally:
            await stop(task)
            with suppress(RedisError):
                await self._redis.delete(_alive(self._node))  # the others sweep us now, not in 6 s

    async def _loop(self, on_lost: LostHook) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._beat()
                for node in await replied(self._redis.smembers(NODES)):
                    name = _text(node)
                    if name != self._node and not await self._redis.exists(_alive(name)):
                        await self._sweep(name, on_lost)
            except Exception as error:  # Redis away for a moment: try again next beat
                logger.warning("roster: heartbeat or sweep failed: %s", type(error).__name__)

    async def _beat(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(_alive(self._node), "1", px=int(ALIVE_SECONDS * 1000))
            pipe.sadd(NODES, self._node)
            await pipe.execute()

    async def _sweep(self, node: str, on_lost: LostHook) -> None:
        """Take ``node``'s roster (only one node gets it) and report who is really gone."""
        claimed = f"{_roster(node)}:sweep:{self._node}"
        try:
            await self._redis.rename(_roster(node), claimed)
        except ResponseError:  # no such key: nobody was connected there, or another node took it
            await replied(self._redis.srem(NODES, node))
            return
        entries = await replied(self._redis.hgetall(claimed))
        await self._redis.delete(claimed)
        await replied(self._redis.srem(NODES, node))
        lost = 0
        for sid, text in entries.items():
            entry = RosterEntry.from_json(_text(sid), text)
            where = await self._redis.get(_where(entry.participant_id))
            if (
                where is not None
                and (where.decode() if isinstance(where, bytes) else where) != f"{node}:{entry.sid}"
            ):
                continue  # they connected again somewhere since
            lost += 1
            try:
                await on_lost(entry)
            except Exception:  # one consult's trouble must not keep the others "connected"
                logger.exception("roster: could not mark a participant of a lost node as dropped")
        logger.warning("roster: node %s is gone; %d of its participants marked dropped", node, lost)

    def _here(self, sid: str) -> str:
        return f"{self._node}:{sid}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _roster(node: str) -> str:
    return f"tc:roster:{node}"


def _alive(node: str) -> str:
    return f"tc:alive:{node}"


def _where(participant_id: str) -> str:
    return f"tc:where:{participant_id}"
