"""The node registry: every node says every second that it lives, what it carries and where its
media listens; an entry not renewed within its time to live is a dead node to everyone.

Each node writes ``tc:node:<id>`` (JSON, expiring after ``ttl_seconds``) and keeps its id in the
set ``tc:nodes``; each round it also reads every other node's entry, so placement and the failover
watch work from a view at most one round old. A node that was alive last round and whose entry
is gone now is reported once to ``on_lost`` (the bridge then moves its consults).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cluster.load import LoadMeter
from rooms.placement import NodeLoad, WorkerLoad
from rooms.store.background import stop
from rooms.store.replies import replied

logger = logging.getLogger(__name__)

NODES_KEY = "tc:nodes"


def node_key(node_id: str) -> str:
    return f"tc:node:{node_id}"


@dataclass(frozen=True, slots=True)
class NodeEntry:
    """What one node publishes about itself (no room or participant ids)."""

    load: NodeLoad
    media_address: str = ""
    region: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "node_id": self.load.node_id,
                "serving": self.load.serving,
                "media_address": self.media_address,
                "region": self.region,
                "workers": [
                    [w.rooms, w.tracks, round(w.packets_per_second, 1), round(w.cpu, 3)]
                    for w in self.load.workers
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> NodeEntry:
        data = json.loads(text)
        workers = tuple(
            WorkerLoad(int(rooms), int(tracks), float(pps), float(cpu))
            for rooms, tracks, pps, cpu in data["workers"]
        )
        return cls(
            NodeLoad(str(data["node_id"]), workers, serving=bool(data["serving"])),
            media_address=str(data.get("media_address", "")),
            region=str(data.get("region", "")),
        )


NodeLost = Callable[[str], Coroutine[Any, Any, None]]


LOST_AFTER_ROUNDS = 2
"""Rounds in a row a node's entry must be missing before it is dead (one late round is not death)."""


class NodeRegistry:
    def __init__(
        self,
        redis: Redis,
        node_id: str,
        meter: LoadMeter,
        *,
        media_address: str = "",
        region: str = "",
        interval_seconds: float = 1.0,
        ttl_seconds: float = 5.0,
    ) -> None:
        self.node_id = node_id
        self.serving = True
        """Set to ``False`` when the node starts draining: its calls stay, new ones go elsewhere."""
        self._redis = redis
        self._meter = meter
        self._media_address = media_address
        self._region = region
        self._interval = interval_seconds
        self._ttl_ms = int(ttl_seconds * 1000)
        self._others: dict[str, NodeEntry] = {}
        self._missing: dict[str, int] = {}
        """Rounds in a row each known node's entry was not there (dead after ``LOST_AFTER_ROUNDS``)."""
        self._last_round: float | None = None
        self._on_lost: NodeLost | None = None
        self._task: asyncio.Task[None] | None = None
        self._workers: tuple[WorkerLoad, ...] = ()
        self._moving: set[asyncio.Task[None]] = set()

    def on_lost(self, handler: NodeLost) -> None:
        self._on_lost = handler

    def is_live(self, node_id: str) -> bool:
        """This node, or one whose entry was there at the last round."""
        return node_id == self.node_id or node_id in self._others

    def nodes(self) -> list[NodeLoad]:
        """Every live node's load as of the last round."""
        own = NodeLoad(self.node_id, self._workers, serving=self.serving)
        return [own, *(entry.load for entry in self._others.values())]

    async def start(self) -> None:
        await self.tick()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop publishing and remove this node's entry, so the others move its consults at once."""
        if self._task is not None:
            await stop(self._task)
        try:
            await self._redis.delete(node_key(self.node_id))
            await replied(self._redis.srem(NODES_KEY, self.node_id))
        except RedisError:
            logger.warning("could not remove this node from the registry")

    async def tick(self) -> None:
        """One round: publish this node, read the others, report the ones that vanished."""
        self._workers = self._meter.read()
        load = NodeLoad(self.node_id, self._workers, serving=self.serving)
        own = NodeEntry(load, self._media_address, self._region)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(node_key(self.node_id), own.to_json(), px=self._ttl_ms)
            pipe.sadd(NODES_KEY, self.node_id)
            pipe.smembers(NODES_KEY)
            *_, members = await pipe.execute()
        ids = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        others = [node_id for node_id in ids if node_id != self.node_id]
        values = await self._redis.mget([node_key(node_id) for node_id in others]) if others else []
        seen: dict[str, NodeEntry] = {}
        for node_id, value in zip(others, values, strict=True):
            if value is None:
                await replied(self._redis.srem(NODES_KEY, node_id))
                continue
            seen[node_id] = NodeEntry.from_json(value)
        lost = self._confirm_lost(seen)
        for node_id in lost:
            logger.warning("media node %s stopped answering; moving its consults", node_id)
            if self._on_lost is not None:
                # Apart from the round, so moving many consults never delays this node's own entry.
                task = asyncio.get_running_loop().create_task(self._on_lost(node_id))
                self._moving.add(task)
                task.add_done_callback(self._moving.discard)

    def _confirm_lost(self, seen: dict[str, NodeEntry]) -> list[str]:
        """The nodes dead to this node after this round. An entry missing once may be a node whose
        loop was late (a loaded machine): it is dead only when missing ``LOST_AFTER_ROUNDS`` rounds
        in a row. And when this node's own round came late, its view is stale: it judges nobody."""
        now = time.monotonic()
        late = self._last_round is not None and now - self._last_round > self._ttl_ms / 1000
        self._last_round = now
        missing = [node_id for node_id in self._others if node_id not in seen]
        lost: list[str] = []
        for node_id in missing:
            rounds = self._missing.get(node_id, 0) + (0 if late else 1)
            if rounds >= LOST_AFTER_ROUNDS:
                lost.append(node_id)
                self._missing.pop(node_id, None)
            else:
                self._missing[node_id] = rounds
                seen = {**seen, node_id: self._others[node_id]}  # still counted live meanwhile
        for node_id in list(self._missing):
            if node_id not in missing:
                del self._missing[node_id]
        self._others = seen
        return lost

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.tick()
            except RedisError as error:
                logger.warning("node registry round failed: %s", type(error).__name__)
            except Exception:
                logger.exception("node registry round failed")
