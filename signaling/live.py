"""Telling connected people what changed: the socket server's side of :class:`services.ports.LiveRooms`.

Every announcement goes to a socket.io room (a consult, a participant, a unit's staff), so with
the Redis manager it reaches the pages on every node. Letting people go (closing a link's
connection) acts on this node's connections; when a consult closes the other nodes are told
(:class:`OtherNodes`) and let theirs go too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

import socketio

from media.backend import MediaBackend, MediaEvent, MediaEventKind
from rooms.consult import Consult, ConsultState
from rooms.queue import QueueChange
from rooms.session_log import EventKind, SessionEvent
from rooms.store.base import Stores
from signaling import views
from signaling.call_quality import CallQualityLog
from signaling.connections import Registry, consult_room, participant_room, staff_room, supervision_room
from signaling.node_state import NodeState

logger = logging.getLogger(__name__)


class OtherNodes(Protocol):
    """The other nodes, which hold connections this node cannot close (``cluster.news``)."""

    async def consult_closed(self, consult_id: str) -> None: ...


class SocketLiveRooms:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        registry: Registry,
        stores: Stores,
        media: MediaBackend,
        state: NodeState,
        clock: Callable[[], datetime],
        numbers: Callable[[str], Awaitable[QueueChange]],
        other_nodes: OtherNodes | None = None,
    ) -> None:
        """``numbers``: the queue store's ``bump``, the next number of a unit's list (its consoles'
        diffs are numbered in one sequence, queue changes and consult changes alike)."""
        self._other_nodes = other_nodes
        self._clock = clock
        self._numbers = numbers
        self._sio = sio
        self._registry = registry
        self._stores = stores
        self._media = media
        self._state = state
        self._quality = CallQualityLog(stores.consults, state, clock)

    # -- services.ports.LiveRooms ------------------------------------------------------------------------

    async def consult_changed(self, consult: Consult) -> None:
        await self._sio.emit(
            "consult:state", {"consult": views.consult(consult)}, room=consult_room(consult.consult_id)
        )
        await self._emit_queue(consult)

    async def queue_changed(self, unit: str) -> None:
        """The queue itself changed (its store announced the diff): dashboards look again."""
        if unit:
            await self._sio.emit("dashboard:changed", {"unit": unit}, room=supervision_room(unit))

    async def list_changed(self, consult: Consult) -> None:
        await self._emit_queue(consult)

    async def queue_entries_changed(self, change: QueueChange) -> None:
        """The queue store's listener: a numbered change goes to the unit's consoles as it is.

        The change is stored already: a failed announcement must not fail the operation that made
        it. It is logged; consoles see the missing number at the next change and resync.
        """
        try:
            await self._send_diff(change, views.queue_diff(change))
        except Exception as error:
            logger.error(
                "queue diff %d of unit %s not sent: %s", change.version, change.unit, type(error).__name__
            )

    async def consult_closed(self, consult: Consult, at: datetime, reason: str) -> None:
        consult_id = consult.consult_id
        await self._sio.emit(
            "consult:ended",
            {"consult_id": consult_id, "ended_at": at.isoformat(), "reason": reason},
            room=consult_room(consult_id),
        )
        await self._media.close_room(consult_id)
        await self._quality.close(consult_id)
        self._state.forget(consult_id)
        await self._emit_queue(consult)
        await self.let_go(consult_id)
        if self._other_nodes is not None:
            # Announcements leave in batches: they must reach the other nodes before the news that
            # makes those nodes close the consult's sockets, or its pages never hear why.
            await self._announcements_sent()
            await self._other_nodes.consult_closed(consult_id)

    async def _announcements_sent(self) -> None:
        flush: Callable[[], Awaitable[None]] | None = getattr(self._sio.manager, "flush", None)
        if flush is not None:  # the batching Redis manager (web/redis_connection.py)
            await flush()

    async def let_go(self, consult_id: str) -> None:
        """The consult closed: this node's connections leave it, and links (patient, guests) close."""
        for connection in self._registry.in_consult(consult_id):
            connection.consult_id = None
            await self._sio.leave_room(connection.sid, consult_room(consult_id))
            if not connection.is_staff:
                await self._sio.disconnect(connection.sid)

    async def turned_away(self, consult_id: str, participant_id: str, reason: str) -> None:
        """Tell a denied or revoked participant why, then close their media and their connection here.

        Pages on other nodes close themselves on ``lobby:denied``; their link is refused from now on.
        """
        self._state.cancel_drop(consult_id, participant_id)
        await self._media.disconnect(consult_id, participant_id)
        await self._sio.emit(
            "lobby:denied",
            {"consult_id": consult_id, "reason": reason},
            room=participant_room(participant_id),
        )
        connection = self._registry.of_participant(participant_id)
        if connection is not None and connection.via_link:
            connection.superseded = True  # nothing to hold: they are out of the call
            await self._sio.disconnect(connection.sid)

    async def sent_back(self, consult_id: str, participant_id: str) -> None:
        self._state.cancel_drop(consult_id, participant_id)
        await self._media.disconnect(consult_id, participant_id)
        await self._sio.emit(
            "lobby:sent_back", {"consult_id": consult_id}, room=participant_room(participant_id)
        )

    async def mute_requested(self, consult_id: str, by: str, participant_id: str) -> None:
        await self._sio.emit(
            "participant:mute_requested",
            {"consult_id": consult_id, "by": by},
            room=participant_room(participant_id),
        )

    async def room_opened(self, consult: Consult) -> None:
        """A room opened without an admission (an inter-unit session): its host's consoles on this
        node enter it, and its unit's staff lists (and its host's) show it."""
        host = self._registry.of_participant(consult.host_id or "")
        if host is not None and host.is_staff and host.consult_id is None:
            host.consult_id = consult.consult_id
            await self._sio.enter_room(host.sid, consult_room(consult.consult_id))
        await self._emit_queue(consult)

    async def tell_participant(self, participant_id: str, event: str, payload: dict[str, object]) -> None:
        await self._sio.emit(event, payload, room=participant_room(participant_id))

    # -- what the media plane noticed -----------------------------------------------------------------

    async def media_event(self, event: MediaEvent) -> None:
        """Pass what the media plane noticed to the consult's pages (quality scored, and logged)."""
        room = consult_room(event.room_id)
        mine = participant_room(event.participant_id)
        if event.kind is MediaEventKind.CONNECTION:
            state = {"participant_id": event.participant_id, "state": event.data.get("state")}
            await self._sio.emit("media:connection", state, room=room)
        elif event.kind is MediaEventKind.VIDEO_PAUSED:
            await self._sio.emit("media:video_paused", dict(event.data), room=mine)
        elif event.kind is MediaEventKind.BITRATE:
            await self._sio.emit("media:bitrate", dict(event.data), room=mine)
        elif event.kind is MediaEventKind.LINK_REPORT_WANTED:
            await self._sio.emit("media:link_report_wanted", dict(event.data), room=mine)
        elif event.kind is MediaEventKind.SUBSCRIBER_OFFER:
            await self._sio.emit("media:subscriber_offer", dict(event.data), room=mine)
        elif event.kind is MediaEventKind.QUALITY:
            await self._sio.emit("media:quality", await self._quality.observe(event), room=room)

    async def media_room_closed(self, consult_id: str) -> None:
        """The consult's media, which lived on this node, closed (the consult ended on whichever
        node): the quality windows this node kept for it go into the log."""
        await self._quality.close(consult_id)

    async def media_moved(
        self, consult_id: str, from_node: str, to_node: str, epoch: int, noticed_by: str | None
    ) -> None:
        """The consult's media node died and the consult was placed on ``to_node``: the gap goes in
        the session log, and every page in the call (but ``noticed_by``'s, already starting again)
        hears ``media:restart`` and connects its media again, without a new admission."""
        consult = await self._stores.consults.get(consult_id)
        if consult is None:
            return
        detail = {"from": from_node, "to": to_node, "epoch": str(epoch)}
        event = SessionEvent(consult_id, EventKind.MEDIA_MOVED, self._clock(), "system", None, None, detail)
        await self._stores.consults.append_log(consult_id, [event])
        for participant_id in sorted(consult.in_call - {noticed_by or ""}):
            await self._sio.emit(
                "media:restart",
                {"consult_id": consult_id, "epoch": epoch},
                room=participant_room(participant_id),
            )

    # -- the staff lists ---------------------------------------------------------------------------------

    async def staff_list(self, unit: str, host_id: str | None = None) -> list[dict[str, object]]:
        """What one staff member's list shows: the open consults of their unit, and those they host
        (a consult tied to no unit is on no unit's list: only its host sees it)."""
        consults = {c.consult_id: c for c in await self._stores.consults.open_in_unit(unit)} if unit else {}
        if host_id is not None:
            for hosted in await self._stores.consults.open_hosted_by(host_id):
                consults.setdefault(hosted.consult_id, hosted)
        return [views.consult(c) for c in sorted(consults.values(), key=views.queue_order)]

    async def _emit_queue(self, consult: Consult) -> None:
        """``consult`` changed: its unit's consoles hear that one row (numbered in the unit's
        sequence), and so does its host when the host belongs to another unit (or none), so every
        list that shows it is current. Nothing is read but the host's unit."""
        if consult.state is ConsultState.ENDED:
            row: dict[str, object] = {"consults": [], "consults_removed": [consult.consult_id]}
        else:
            row = {"consults": [views.listed(consult)], "consults_removed": []}
        if consult.unit:
            change = await self._numbers(consult.unit)
            await self._send_diff(change, {**views.queue_diff(change), **row})
        if consult.host_id is None:
            return
        here = self._registry.of_participant(consult.host_id)
        if here is not None and here.is_staff:
            host_unit = here.unit
        else:
            host = await self._stores.staff.by_id(consult.host_id)
            host_unit = host.unit if host is not None else ""
        if not host_unit or host_unit != consult.unit:
            # Not in the host's unit sequence: unnumbered, applied as it comes (newer version wins).
            await self._sio.emit(
                "queue:diff",
                {"unit": consult.unit, "version": None, **row},
                room=participant_room(consult.host_id),
            )

    async def _send_diff(self, change: QueueChange, diff: dict[str, object]) -> None:
        await self._sio.emit("queue:diff", diff, room=staff_room(change.unit))
        # Dashboards fetch their figures again (GET /api/units/{unit}/dashboard, audited): the
        # event carries nothing, so no patient's name reaches a supervisor's socket.
        await self._sio.emit("dashboard:changed", {"unit": change.unit}, room=supervision_room(change.unit))
