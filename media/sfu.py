"""The selective forwarding unit: who receives what, and the negotiations that carry it.

Every participant has two peer connections with the server:

- a *publishing* connection, offered by the browser: its microphone, camera and (idle until
  shared) screen, each on its own transceiver, named by the ``sources`` map sent with the offer
  (:mod:`media.publishing`);
- a *subscribing* connection, offered by the server: one transceiver per track of every other
  participant (:mod:`media.subscriptions`). When someone joins, leaves, starts sharing, or asks
  for audio only, the server changes transceivers and sends a new offer (:mod:`media.subscribing`).

A participant without a camera or microphone (a companion, an observing specialist) joins
receive-only (:meth:`SfuBackend.subscribe`): they have only the subscribing connection, publish
nothing, and so appear on nobody's screen.

This module keeps the rooms and turns each :class:`~media.backend.MediaBackend` call into work
for those parts; :mod:`media.peers` opens the connections and reports their state,
:mod:`media.link_policy` adapts to each participant's link, and moving the media is the
:class:`~media.forwarding.Forwarding` strategy's job.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiortc import RTCPeerConnection

from media.backend import (
    IceCandidate,
    LinkReport,
    MediaError,
    MediaErrorCode,
    MediaListener,
    SessionDescription,
    ignore_events,
)
from media.census import MediaCensus, TrafficCounts, traffic_of
from media.forwarding import Forwarding, ReencodingForwarding
from media.ice import IceSettings
from media.link_policy import LinkPolicy
from media.peers import Peers, add_candidate
from media.publishing import SOURCES, answer_offer
from media.sdp_checks import check_description, silent_mids
from media.sfu_room import Participant, Published, Room
from media.subscribing import accept_answer, send_offer
from media.subscriptions import reconcile

logger = logging.getLogger(__name__)

MAX_PARTICIPANTS = 8
"""Publishing or receive-only: each one costs the server a peer connection and forwarding."""
DELIVERY_CHECKS = 4
"""Overrun checks per quality sample (every 0.5 s at the 2 s default): a link that video overruns
drops audio from its full queue until video pauses."""


class SfuBackend:
    def __init__(
        self,
        ice: IceSettings,
        listener: MediaListener = ignore_events,
        forwarding_factory: Callable[[], Forwarding] | None = None,
        quality_interval: float = 2.0,
    ) -> None:
        self._listener = listener
        self._forwarding_factory = forwarding_factory or _packet_forwarding
        self._quality_interval = quality_interval
        self._quality_task: asyncio.Task[None] | None = None
        self._rooms: dict[str, Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._peers = Peers(ice, listener, self._find)
        self._links = LinkPolicy(listener)
        self._closed_rooms_traffic = TrafficCounts()

    # -- joining -----------------------------------------------------------------------------

    async def connect(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        sources: Mapping[str, str] | None = None,
    ) -> SessionDescription:
        if offer.type != "offer":
            raise MediaError(MediaErrorCode.BAD_SDP, "Expected an SDP offer.")
        silent = silent_mids(check_description(offer.sdp, max_media=len(SOURCES)))
        room = self._open_room(room_id, participant_id)
        connection = self._peers.open(room_id, participant_id, "publisher")
        try:
            published = await answer_offer(
                connection, offer.sdp, sources or {}, silent, redundancy=room.forwarding.audio_redundancy
            )
        except Exception as error:
            await connection.close()
            if not room.participants:
                await self._drop_room(room)
            if isinstance(error, MediaError):
                raise
            logger.info("rejected an offer in room %s: %s", room_id, type(error).__name__)
            raise MediaError(MediaErrorCode.BAD_SDP, "The session description could not be used.") from error

        participant = await self._start_afresh(room, participant_id)
        participant.publisher = connection
        for source, transceiver in published.items():
            handle = room.forwarding.publish(transceiver)
            participant.published[source] = Published(
                source, transceiver.kind, transceiver, handle, active=source != "screen"
            )
        self._sync_everyone(room)
        return SessionDescription(sdp=connection.localDescription.sdp, type="answer")

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        """Join receive-only: a subscribing connection with everyone else's media, nothing published.

        Like publishing again, it starts the participant's media afresh: earlier connections
        close, and the others stop receiving whatever this participant published before.
        """
        room = self._open_room(room_id, participant_id)
        await self._start_afresh(room, participant_id)
        self._sync_everyone(room)

    def _open_room(self, room_id: str, participant_id: str) -> Room:
        """The room a participant is joining (created on first use), or ``room_full``."""
        room = self._rooms.get(room_id)
        if room is None:
            # Registered before any await: two people joining at once must share one room.
            room = self._rooms[room_id] = Room(room_id, self._forwarding_factory())
        if participant_id not in room.participants and len(room.participants) >= MAX_PARTICIPANTS:
            raise MediaError(
                MediaErrorCode.ROOM_FULL, f"A room holds at most {MAX_PARTICIPANTS} participants."
            )
        if self._quality_task is None:
            self._quality_task = asyncio.get_running_loop().create_task(self._measure_quality())
        return room

    async def _start_afresh(self, room: Room, participant_id: str) -> Participant:
        """The joining participant; publishing or subscribing again means a new page session (a
        reload, a reconnect, a network change): both of its connections start afresh."""
        participant = room.participants.get(participant_id)
        if participant is None:
            participant = room.participants[participant_id] = Participant(participant_id)
        else:
            await participant.reset(room.forwarding)
        return participant

    # -- what each participant receives --------------------------------------------------------

    async def subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        participant = self._participant(room_id, participant_id)
        room = self._rooms[room_id]
        if await accept_answer(
            room_id, participant, answer, revision, redundancy=room.forwarding.audio_redundancy
        ):
            self._spawn(self._sync(room, participant))

    async def set_receive(
        self, room_id: str, participant_id: str, *, video: bool, data_saver: bool = False
    ) -> None:
        """Audio-only (``video=False``) or audio and video for what this participant receives.

        ``data_saver`` keeps video but caps what this participant receives at
        ``DATA_SAVER_VIDEO_BPS``: forwarded video can only be made smaller at its source, so the
        publishers they watch are capped as if this participant's link were that narrow.
        """
        room = self._rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        if room is None or participant is None:
            raise MediaError(MediaErrorCode.NOT_PUBLISHING, "Join the call first.")
        changed_saver = participant.data_saver != data_saver
        participant.receive_video = video
        participant.data_saver = data_saver
        await self._sync(room, participant)
        if changed_saver:
            for publisher in room.others(participant):
                await self._links.follow_weakest_subscriber(room, publisher)

    async def set_sharing(self, room_id: str, participant_id: str, *, screen: bool) -> None:
        """Start or stop offering the participant's screen to the others."""
        room = self._rooms.get(room_id)
        participant = self._participant(room_id, participant_id)
        published = participant.published.get("screen")
        if room is None or published is None or published.active == screen:
            return
        published.active = screen
        for other in room.others(participant):
            await self._sync(room, other)

    async def link_report(self, room_id: str, participant_id: str, report: LinkReport) -> None:
        """The participant's page says what it received: evidence of their download for the gate."""
        participant = self._participant(room_id, participant_id)
        await self._links.hear(self._rooms[room_id], participant, report)

    def _sync_everyone(self, room: Room) -> None:
        for participant in room.participants.values():
            self._spawn(self._sync(room, participant))

    async def _sync(self, room: Room, participant: Participant) -> None:
        """Bring the participant's subscriptions in line with what the room publishes, then offer."""
        if participant.negotiating:
            participant.resync = True  # the open offer's answer brings us back here
            return
        if self._find(room.room_id, participant.participant_id) is not participant:
            return  # left (or started afresh) before this turn came
        if reconcile(room, participant, lambda: self._subscribing_connection(room, participant)):
            await send_offer(
                room.room_id, participant, self._listener, redundancy=room.forwarding.audio_redundancy
            )

    def _subscribing_connection(self, room: Room, participant: Participant) -> RTCPeerConnection:
        if participant.subscriber is None:
            participant.subscriber = self._peers.open(room.room_id, participant.participant_id, "subscriber")
        return participant.subscriber

    # -- ICE, leaving, closing -----------------------------------------------------------------

    async def add_candidate(
        self, room_id: str, participant_id: str, candidate: IceCandidate, target: str = "publisher"
    ) -> None:
        participant = self._participant(room_id, participant_id)
        connection = participant.publisher if target == "publisher" else participant.subscriber
        await add_candidate(connection, candidate)

    async def disconnect(self, room_id: str, participant_id: str) -> None:
        room = self._rooms.get(room_id)
        participant = room.participants.pop(participant_id, None) if room else None
        if room is None or participant is None:
            return
        await participant.reset(room.forwarding)
        if not room.participants:
            await self._drop_room(room)
            return
        self._sync_everyone(room)

    async def close_room(self, room_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        for participant in list(room.participants.values()):
            await participant.reset(room.forwarding)
        room.participants.clear()
        await self._drop_room(room)

    async def close(self) -> None:
        if self._quality_task is not None:
            self._quality_task.cancel()
        for room_id in list(self._rooms):
            await self.close_room(room_id)

    async def _drop_room(self, room: Room) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
            # In the same step as leaving ``_rooms``, so the census never goes down.
            self._closed_rooms_traffic.add(traffic_of(room.forwarding))
        await room.forwarding.close()

    def census(self) -> MediaCensus:
        """What this backend holds and has forwarded, for metrics (counts only, never ids)."""
        participants = [p for room in self._rooms.values() for p in room.participants.values()]
        traffic = TrafficCounts()
        traffic.add(self._closed_rooms_traffic)
        for room in self._rooms.values():
            traffic.add(traffic_of(room.forwarding))
        return MediaCensus(
            rooms=len(self._rooms),
            participants=len(participants),
            publishers=sum(1 for p in participants if p.publisher is not None),
            subscriptions=sum(len(p.subscriptions) for p in participants),
            traffic=traffic,
        )

    def _find(self, room_id: str, participant_id: str) -> Participant | None:
        room = self._rooms.get(room_id)
        return room.participants.get(participant_id) if room else None

    def _participant(self, room_id: str, participant_id: str) -> Participant:
        participant = self._find(room_id, participant_id)
        if participant is None:
            raise MediaError(MediaErrorCode.NOT_PUBLISHING, "There is no media connection for you.")
        return participant

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("media task failed", exc_info=task.exception())

    async def _measure_quality(self) -> None:
        """Every few seconds, let each room's links shape what flows (:mod:`media.link_policy`);
        four times as often, check no link is overrun by video (counters only, no statistics)."""
        loop = asyncio.get_running_loop()
        for tick in itertools.count(1):
            await asyncio.sleep(self._quality_interval / DELIVERY_CHECKS)
            for room in list(self._rooms.values()):
                await self._links.check_delivery(room, loop.time())
                if tick % DELIVERY_CHECKS == 0:
                    await self._links.measure(room)


def _packet_forwarding() -> Forwarding:
    from media.rtp_forwarding import Forwarder

    forwarder: Forwarding = Forwarder()
    return forwarder


def packet_sfu(ice: IceSettings, listener: MediaListener) -> SfuBackend:
    """The product: forwards RTP packets without decoding (a picklable worker factory)."""
    return SfuBackend(ice, listener, _packet_forwarding)


def reencoding_sfu(ice: IceSettings, listener: MediaListener) -> SfuBackend:
    """The baseline: decodes and re-encodes for every subscriber (a picklable worker factory)."""
    return SfuBackend(ice, listener, ReencodingForwarding)
