"""The media backend signaling uses when several nodes share Redis: each call goes to the node
that holds its consult's media, wherever the participant's socket landed.

The first media use of a consult places it (:class:`~cluster.placements.PlacementStore`); every
later call reads that placement and runs on this node's own backend when the room is here, or is
sent to the media node (:class:`~cluster.rpc.MediaRpc`) when it is elsewhere. The browser's ICE
goes straight to that node: the answer carries that node's own host candidates. Media events need
no route back: the media node announces them to socket.io rooms, which reach every node.

When the media node is dead (its registry entry expired, or it no longer hears calls), the next
call, or the registry's watch, places the consult again (epoch + 1) on a live node and
``on_moved`` tells the consult's pages to start their media there; nothing else about the consult
changes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import astuple
from typing import Any

from cluster.placements import Placement, PlacementStore, Settled
from cluster.registry import NodeRegistry
from cluster.rpc import NodeUnreachable
from media.backend import (
    IceCandidate,
    LinkReport,
    MediaBackend,
    MediaError,
    MediaErrorCode,
    SessionDescription,
)
from media.workers import _dispatch as run_on  # the worker pipe's call shape is the node call's too
from rooms.placement import Choice, Limits, choose

logger = logging.getLogger(__name__)

REUSE_PLACEMENT_SECONDS = 5.0
"""How long a placement read for a page's link report serves the next ones without reading Redis
again. A page in a call reports every second, so a node holding thousands of calls read Redis
thousands of times a second for reports alone. A room moves only when its node fails, and its
pages then start their media again anyway; a report the old placement no longer fits is refused
there, and the placement is read again at once."""

Moved = Callable[[str, Placement, Placement, str | None], Awaitable[None]]
"""``(room_id, from, to, participant_id)``: the room's media moved; ``participant_id`` is whose
call found it out (their page is already starting again), or ``None`` for the registry's watch."""
RoomClosed = Callable[[str], Awaitable[None]]
"""A room whose media lived on this node closed here (signaling logs its last quality windows)."""
Send = Callable[[str, str, Sequence[object]], Awaitable[Any]]
"""Sends one media call to another node: ``(node_id, method, args)`` (``MediaRpc.call``)."""


class PlacedMedia:
    def __init__(
        self,
        *,
        node_id: str,
        local: MediaBackend,
        placements: PlacementStore,
        registry: NodeRegistry,
        send: Send,
        on_moved: Moved,
        on_room_closed: RoomClosed,
        limits: Limits | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._node_id = node_id
        self._local = local
        self._placements = placements
        self._registry = registry
        self._send = send
        self._on_moved = on_moved
        self._on_room_closed = on_room_closed
        self._limits = limits or Limits()
        self._rng = rng or random.Random()
        self._reused: dict[str, tuple[float, Placement]] = {}
        """Placements read for link reports, with when they were read (:data:`REUSE_PLACEMENT_SECONDS`)."""
        self._sweep_above = 1024

    @property
    def local(self) -> MediaBackend:
        """This node's own media (its worker pool), which the app starts and the metrics read."""
        return self._local

    async def serve(self, method: str, args: Sequence[Any]) -> object:
        """A call another node sent here (``MediaRpc``'s handler)."""
        return await self._here(method, args)

    async def node_lost(self, node_id: str) -> None:
        """The registry no longer sees ``node_id``: move every consult it held (once, whichever
        node gets there first; the others find the new placement and leave it)."""
        for room_id in await self._placements.rooms_on(node_id):
            try:
                await self._settle(room_id, None, avoid=node_id)
            except MediaError:
                logger.warning("a consult on a lost media node could not be placed again yet")

    # -- MediaBackend -------------------------------------------------------------------------

    async def connect(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        sources: Mapping[str, str] | None = None,
    ) -> SessionDescription:
        args = (room_id, participant_id, offer.sdp, offer.type, dict(sources or {}))
        sdp, kind = await self._starting(room_id, participant_id, "connect", args)
        return SessionDescription(sdp=sdp, type=kind)

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        await self._starting(room_id, participant_id, "subscribe", (room_id, participant_id))

    async def subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        args = (room_id, participant_id, answer.sdp, answer.type, revision)
        await self._placed(room_id, participant_id, "subscriber_answer", args)

    async def set_receive(
        self, room_id: str, participant_id: str, *, video: bool, data_saver: bool = False
    ) -> None:
        args = (room_id, participant_id, video, data_saver)
        await self._placed(room_id, participant_id, "set_receive", args)

    async def set_sharing(self, room_id: str, participant_id: str, *, screen: bool) -> None:
        await self._placed(room_id, participant_id, "set_sharing", (room_id, participant_id, screen))

    async def link_report(self, room_id: str, participant_id: str, report: LinkReport) -> None:
        args = (room_id, participant_id, *astuple(report))
        known = self._reusable(room_id)
        if known is None:
            placement = await self._placement_of(room_id)
        else:
            try:
                await self._placed(room_id, participant_id, "link_report", args, known)
                return
            except NodeUnreachable:
                self._reused.pop(room_id, None)
                raise
            except MediaError:
                self._reused.pop(room_id, None)
                placement = await self._placement_of(room_id)
                if placement == known:
                    raise  # the room is where it was: the refusal stands
        await self._placed(room_id, participant_id, "link_report", args, placement)
        self._reuse(room_id, placement)

    async def add_candidate(
        self, room_id: str, participant_id: str, candidate: IceCandidate, target: str = "publisher"
    ) -> None:
        text, mid, index = candidate.candidate, candidate.sdp_mid, candidate.sdp_mline_index
        args = (room_id, participant_id, text, mid, index, target)
        await self._placed(room_id, participant_id, "add_candidate", args)

    async def disconnect(self, room_id: str, participant_id: str) -> None:
        placement = await self._placements.get(room_id)
        if placement is not None:
            await self._quietly(placement, "disconnect", (room_id, participant_id))

    async def close_room(self, room_id: str) -> None:
        self._reused.pop(room_id, None)
        placement = await self._placements.get(room_id)
        if placement is None:
            return
        await self._quietly(placement, "close_room", (room_id,))
        await self._placements.forget(room_id)

    async def close(self) -> None:
        await self._local.close()

    # -- routing --------------------------------------------------------------------------------

    async def _starting(self, room_id: str, participant_id: str, method: str, args: Sequence[object]) -> Any:
        """A call that may be a room's first: place the room if it lives nowhere (or on a dead
        node), and once more if its node turns out not to hear calls."""
        placement = await self._settle(room_id, participant_id)
        try:
            return await self._on(placement, method, args)
        except NodeUnreachable:
            placement = await self._settle(room_id, participant_id, avoid=placement.node_id)
            return await self._on(placement, method, args)

    async def _placed(
        self,
        room_id: str,
        participant_id: str,
        method: str,
        args: Sequence[object],
        placement: Placement | None = None,
    ) -> Any:
        """A call for media already started: its node (``placement``, else the one Redis holds) must
        hold it. A node that no longer hears calls loses the room (its pages are told to start
        again there); this call fails."""
        if placement is None:
            placement = await self._placement_of(room_id)
        try:
            return await self._on(placement, method, args)
        except NodeUnreachable:
            await self._settle(room_id, participant_id, avoid=placement.node_id)
            raise

    async def _placement_of(self, room_id: str) -> Placement:
        placement = await self._placements.get(room_id)
        if placement is None:
            raise MediaError(MediaErrorCode.NOT_PUBLISHING, "There is no media connection for this room.")
        return placement

    def _reusable(self, room_id: str) -> Placement | None:
        entry = self._reused.get(room_id)
        if entry is None or time.monotonic() - entry[0] > REUSE_PLACEMENT_SECONDS:
            return None
        return entry[1]

    def _reuse(self, room_id: str, placement: Placement) -> None:
        now = time.monotonic()
        self._reused[room_id] = (now, placement)
        if len(self._reused) > self._sweep_above:  # rooms that closed on other nodes leave entries
            self._reused = {
                room: entry
                for room, entry in self._reused.items()
                if now - entry[0] <= REUSE_PLACEMENT_SECONDS
            }
            self._sweep_above = max(1024, 2 * len(self._reused))

    async def _quietly(self, placement: Placement, method: str, args: Sequence[object]) -> None:
        """Closing on a node that is gone is already done."""
        try:
            await self._on(placement, method, args)
        except NodeUnreachable:
            logger.info("media node %s gone; nothing left to close there", placement.node_id)

    async def _on(self, placement: Placement, method: str, args: Sequence[object]) -> Any:
        if placement.node_id == self._node_id:
            return await self._here(method, args)
        return await self._send(placement.node_id, method, args)

    async def _here(self, method: str, args: Sequence[Any]) -> Any:
        result = await run_on(self._local, method, tuple(args))
        if method == "close_room":
            await self._on_room_closed(str(args[0]))  # before the reply: the log is whole at the end
        return result

    async def _settle(self, room_id: str, participant_id: str | None, avoid: str | None = None) -> Placement:
        def usable(node_id: str) -> bool:
            return node_id != avoid and self._registry.is_live(node_id)

        def chooser(dead: frozenset[str]) -> Choice | None:
            avoided = dead | ({avoid} if avoid else set())
            return choose(self._registry.nodes(), self._limits, self._rng, avoided)

        settled: Settled = await self._placements.settle(room_id, usable, chooser)
        if settled.moved_from is not None:
            self._reused.pop(room_id, None)
            logger.warning(
                "consult media moved from node %s to %s (epoch %d)",
                settled.moved_from.node_id,
                settled.placement.node_id,
                settled.placement.epoch,
                extra={"consult_id": room_id},
            )
            await self._on_moved(room_id, settled.moved_from, settled.placement, participant_id)
        return settled.placement
