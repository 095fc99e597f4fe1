"""One node of many: its registry entry, the placement store, the call channel and the bridge,
built together and started and stopped with the app (``web/app.py`` wires it when Redis is set)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from cluster.bridge import Moved, PlacedMedia, RoomClosed
from cluster.load import LoadMeter
from cluster.news import ClusterNews
from cluster.placements import PlacementStore
from cluster.registry import NodeRegistry
from cluster.rpc import MediaRpc
from media.backend import MediaBackend
from media.census import MediaCensus, TakesCensus
from media.workers import WorkerPool


@dataclass(frozen=True, slots=True)
class NodeSettings:
    node_id: str
    media_address: str = ""
    region: str = ""
    heartbeat_seconds: float = 1.0
    ttl_seconds: float = 5.0
    call_timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class ClusterNode:
    media: PlacedMedia
    registry: NodeRegistry
    rpc: MediaRpc
    news: ClusterNews

    async def lifecycle(self, _: Any = None) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``, after the local media started: hear calls, then say it lives;
        at the end leave the registry first, so the others move this node's consults at once."""
        await self.rpc.start()
        await self.news.start()
        await self.registry.start()
        yield
        await self.registry.stop()
        await self.news.stop()
        await self.rpc.stop()


def cluster_node(
    redis: Redis, local: MediaBackend, settings: NodeSettings, on_moved: Moved, on_room_closed: RoomClosed
) -> ClusterNode:
    meter = LoadMeter(*_censuses(local))
    registry = NodeRegistry(
        redis,
        settings.node_id,
        meter,
        media_address=settings.media_address,
        region=settings.region,
        interval_seconds=settings.heartbeat_seconds,
        ttl_seconds=settings.ttl_seconds,
    )

    async def send(node_id: str, method: str, args: Sequence[object]) -> Any:
        return await rpc.call(node_id, method, args)  # the bridge sends, and serves, through rpc

    media = PlacedMedia(
        node_id=settings.node_id,
        local=local,
        placements=PlacementStore(redis),
        registry=registry,
        send=send,
        on_moved=on_moved,
        on_room_closed=on_room_closed,
    )
    rpc = MediaRpc(redis, settings.node_id, media.serve, settings.call_timeout_seconds)
    registry.on_lost(media.node_lost)
    return ClusterNode(media, registry, rpc, ClusterNews(redis, settings.node_id))


def _censuses(local: MediaBackend) -> tuple[Any, int]:
    """How to read the local backend's census per worker, and how many workers it has."""
    if isinstance(local, WorkerPool):
        return local.census, local.size

    def single() -> Mapping[int, MediaCensus]:
        return {0: local.census()} if isinstance(local, TakesCensus) else {}

    return single, 1
