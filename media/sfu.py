"""The selective forwarding unit: who receives what, and the negotiations that carry it.

Every participant has two peer connections with the server:

- a *publishing* connection, offered by the browser: its microphone, camera and (idle until
  shared) screen, each on its own transceiver, named by the ``sources`` map sent with the offer;
- a *subscribing* connection, offered by the server: one transceiver per track of every other
  participant. When someone joins, leaves, starts sharing, or asks for audio only, the server
  changes transceivers and sends a new offer (``SUBSCRIBER_OFFER``, numbered by ``revision``).

A participant without a camera or microphone (a companion, an observing specialist) joins
receive-only (:meth:`SfuBackend.subscribe`): they have only the subscribing connection, publish
nothing, and so appear on nobody's screen.

Each side only ever offers on its own connection, so offers never collide. Transceivers freed by
a leaver are set ``inactive`` and reused for the next track of the same kind, so the SDP does not
grow as people come and go. Moving the media is the :class:`~media.forwarding.Forwarding`
strategy's job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from media.adaptation import VideoDecision, VideoGate
from media.backend import (
    IceCandidate,
    MediaError,
    MediaErrorCode,
    MediaEvent,
    MediaEventKind,
    MediaListener,
    SessionDescription,
    ignore_events,
)
from media.forwarding import Forwarding, ReencodingForwarding, Sink
from media.ice import IceSettings
from media.link_facts import link_facts
from media.quality import QualityLevel, QualityMeter
from media.sdp_checks import check_description, silent_mids

logger = logging.getLogger(__name__)

SOURCES = ("microphone", "camera", "screen")
MIN_CAMERA_BPS = 150_000
"""No publisher is asked below this: a subscriber weaker than that is better served by pausing its
video (audio first) than by degrading everyone's picture."""
MAX_CAMERA_BPS = 1_500_000
BITRATE_CHANGE = 0.1
"""A new cap is sent only when it differs from the last one by more than this fraction."""
DATA_SAVER_VIDEO_BPS = MIN_CAMERA_BPS
"""The video a participant in data-saver mode receives: the lowest camera bitrate we ask for."""
SOURCE_KINDS = {"microphone": "audio", "camera": "video", "screen": "video"}
MAX_PARTICIPANTS = 8
"""Publishing or receive-only: each one costs the server a peer connection and forwarding."""


@dataclass
class _Published:
    source: str
    kind: str
    transceiver: RTCRtpTransceiver
    handle: Any
    active: bool = True
    """A screen is offered to others only while its owner shares it."""


@dataclass
class _Subscription:
    publisher_id: str
    source: str
    transceiver: RTCRtpTransceiver
    sink: Sink
    handle: Any
    """The published source this sink forwards; a publisher that publishes again has a new one."""


@dataclass
class _Participant:
    participant_id: str
    publisher: RTCPeerConnection | None = None
    subscriber: RTCPeerConnection | None = None
    published: dict[str, _Published] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], _Subscription] = field(default_factory=dict)
    free: dict[str, list[RTCRtpTransceiver]] = field(default_factory=lambda: {"audio": [], "video": []})
    receive_video: bool = True
    data_saver: bool = False
    revision: int = 0
    negotiating: bool = False
    resync: bool = False
    meter: QualityMeter = field(default_factory=QualityMeter)
    camera_cap_bps: int | None = None
    video_gate: VideoGate = field(default_factory=VideoGate)


@dataclass
class _Room:
    room_id: str
    forwarding: Forwarding
    participants: dict[str, _Participant] = field(default_factory=dict)


class SfuBackend:
    def __init__(
        self,
        ice: IceSettings,
        listener: MediaListener = ignore_events,
        forwarding_factory: Callable[[], Forwarding] | None = None,
        quality_interval: float = 2.0,
    ) -> None:
        self._ice = ice
        self._listener = listener
        self._forwarding_factory = forwarding_factory or _packet_forwarding
        self._quality_interval = quality_interval
        self._quality_task: asyncio.Task[None] | None = None
        self._rooms: dict[str, _Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- publishing --------------------------------------------------------------------------

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
        connection = RTCPeerConnection(self._ice.rtc_configuration())
        self._watch(connection, room_id, participant_id, "publisher")
        try:
            await connection.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
            published = self._name_sources(connection, sources or {}, silent)
            await connection.setLocalDescription(await connection.createAnswer())
        except Exception as error:
            await connection.close()
            if not room.participants:
                await self._drop_room(room)
            if isinstance(error, MediaError):
                raise
            logger.info("rejected an offer in room %s: %s", room_id, type(error).__name__)
            raise MediaError(MediaErrorCode.BAD_SDP, "The session description could not be used.") from error

        participant = room.participants.get(participant_id)
        if participant is None:
            participant = room.participants[participant_id] = _Participant(participant_id)
        else:
            # Publishing again means a new page session (a reload, a reconnect, a network change):
            # both of its connections start afresh.
            await self._close_participant(room, participant)
        participant.publisher = connection
        for source, transceiver in published.items():
            handle = room.forwarding.publish(transceiver)
            participant.published[source] = _Published(
                source, transceiver.kind, transceiver, handle, active=source != "screen"
            )
        for other in room.participants.values():
            self._spawn(self._sync(room, other))
        answer = connection.localDescription
        return SessionDescription(sdp=answer.sdp, type="answer")

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        """Join receive-only: a subscribing connection with everyone else's media, nothing published.

        Like publishing again, it starts the participant's media afresh: earlier connections
        close, and the others stop receiving whatever this participant published before.
        """
        room = self._open_room(room_id, participant_id)
        participant = room.participants.get(participant_id)
        if participant is None:
            participant = room.participants[participant_id] = _Participant(participant_id)
        else:
            await self._close_participant(room, participant)
        for other in room.participants.values():
            self._spawn(self._sync(room, other))

    def _open_room(self, room_id: str, participant_id: str) -> _Room:
        """The room a participant is joining (created on first use), or ``room_full``."""
        room = self._rooms.get(room_id)
        if room is None:
            # Registered before any await: two people joining at once must share one room.
            room = self._rooms[room_id] = _Room(room_id, self._forwarding_factory())
        if participant_id not in room.participants and len(room.participants) >= MAX_PARTICIPANTS:
            raise MediaError(
                MediaErrorCode.ROOM_FULL, f"A room holds at most {MAX_PARTICIPANTS} participants."
            )
        if self._quality_task is None:
            self._quality_task = asyncio.get_running_loop().create_task(self._measure_quality())
        return room

    @staticmethod
    def _name_sources(
        connection: RTCPeerConnection, sources: Mapping[str, str], silent: set[str]
    ) -> dict[str, RTCRtpTransceiver]:
        """Match the offer's sending transceivers to sources; answer each ``recvonly``.

        A line the offer does not send on (``silent``) publishes nothing and is answered
        ``inactive``: published, it would show the others a tile that never gets a picture.
        """
        named: dict[str, RTCRtpTransceiver] = {}
        defaults = {"audio": ["microphone"], "video": ["camera", "screen"]}
        for transceiver in connection.getTransceivers():
            if transceiver.kind not in defaults:
                raise ValueError("only audio and video can be published")
            if transceiver.mid in silent:
                transceiver.direction = "inactive"
                continue
            source = sources.get(transceiver.mid or "")
            if source is None:
                remaining = [s for s in defaults[transceiver.kind] if s not in named]
                source = remaining[0] if remaining else None
            if source is None or source not in SOURCES or SOURCE_KINDS[source] != transceiver.kind:
                raise MediaError(MediaErrorCode.BAD_SDP, "Each media line must carry one known source.")
            if source in named:
                raise MediaError(MediaErrorCode.BAD_SDP, f"The source {source} appears twice.")
            transceiver.direction = "recvonly"
            named[source] = transceiver
        if not named:
            raise MediaError(
                MediaErrorCode.BAD_SDP,
                "The offer sends no audio or video; to only watch and listen, join with media:subscribe.",
            )
        return named

    # -- subscribing -------------------------------------------------------------------------

    async def subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        participant = self._participant(room_id, participant_id)
        connection = participant.subscriber
        if connection is None or not participant.negotiating or revision != participant.revision:
            raise MediaError(
                MediaErrorCode.STALE_ANSWER, "That answer is for an offer that is no longer open."
            )
        if answer.type != "answer":
            raise MediaError(MediaErrorCode.BAD_SDP, "Expected an SDP answer.")
        check_description(answer.sdp, max_media=len(connection.getTransceivers()))
        try:
            await connection.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
        except Exception as error:
            logger.info("rejected a subscriber answer in room %s: %s", room_id, type(error).__name__)
            raise MediaError(MediaErrorCode.BAD_SDP, "The session description could not be used.") from error
        participant.negotiating = False
        if participant.resync:
            participant.resync = False
            self._spawn(self._sync(self._rooms[room_id], participant))

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
            for publisher in list(room.participants.values()):
                if publisher is not participant:
                    await self._follow_weakest_subscriber(room, publisher)

    async def set_sharing(self, room_id: str, participant_id: str, *, screen: bool) -> None:
        """Start or stop offering the participant's screen to the others."""
        room = self._rooms.get(room_id)
        participant = self._participant(room_id, participant_id)
        published = participant.published.get("screen")
        if room is None or published is None or published.active == screen:
            return
        published.active = screen
        for other in room.participants.values():
            if other is not participant:
                await self._sync(room, other)

    async def _sync(self, room: _Room, participant: _Participant) -> None:
        """Bring the participant's subscriptions in line with what the room publishes, then offer."""
        if participant.negotiating:
            participant.resync = True
            return
        if (
            self._rooms.get(room.room_id) is not room
            or room.participants.get(participant.participant_id) is not participant
        ):
            return
        wanted = {
            (other.participant_id, source): published
            for other in room.participants.values()
            if other is not participant
            for source, published in other.published.items()
            if published.active and (participant.receive_video or published.kind == "audio")
        }
        changed = False
        for key in [key for key in participant.subscriptions if key not in wanted]:
            subscription = participant.subscriptions.pop(key)
            room.forwarding.unsubscribe(subscription.sink)
            subscription.transceiver.direction = "inactive"
            participant.free[subscription.transceiver.kind].append(subscription.transceiver)
            changed = True
        for key, published in wanted.items():
            current = participant.subscriptions.get(key)
            if current is not None and current.transceiver.kind == published.kind:
                if current.handle is not published.handle:
                    # The publisher came back (reload, reconnect): same media line, new source.
                    room.forwarding.unsubscribe(current.sink)
                    current.sink = room.forwarding.subscribe(current.transceiver, published.handle)
                    current.handle = published.handle
                continue
            if participant.subscriber is None:
                participant.subscriber = RTCPeerConnection(self._ice.rtc_configuration())
                self._watch(participant.subscriber, room.room_id, participant.participant_id, "subscriber")
            free = participant.free[published.kind]
            transceiver = (
                free.pop() if free else participant.subscriber.addTransceiver(published.kind, "sendonly")
            )
            transceiver.direction = "sendonly"
            sink = room.forwarding.subscribe(transceiver, published.handle)
            if participant.video_gate.paused and published.kind == "video":
                sink.pause()
            participant.subscriptions[key] = _Subscription(
                key[0], key[1], transceiver, sink, published.handle
            )
            changed = True
        if not changed or participant.subscriber is None:
            return
        participant.negotiating = True
        try:
            offer = await participant.subscriber.createOffer()
            await participant.subscriber.setLocalDescription(offer)
        except Exception:
            participant.negotiating = False
            logger.exception("could not renegotiate a subscriber in room %s", room.room_id)
            return
        participant.revision += 1
        tracks = {
            s.transceiver.mid: {
                "participant_id": s.publisher_id,
                "source": s.source,
                "kind": s.transceiver.kind,
            }
            for s in participant.subscriptions.values()
            if s.transceiver.mid is not None
        }
        description = participant.subscriber.localDescription
        await self._listener(
            MediaEvent(
                room.room_id,
                participant.participant_id,
                MediaEventKind.SUBSCRIBER_OFFER,
                {"type": "offer", "sdp": description.sdp, "revision": participant.revision, "tracks": tracks},
            )
        )

    # -- ICE, leaving, closing -----------------------------------------------------------------

    async def add_candidate(
        self, room_id: str, participant_id: str, candidate: IceCandidate, target: str = "publisher"
    ) -> None:
        participant = self._participant(room_id, participant_id)
        connection = participant.publisher if target == "publisher" else participant.subscriber
        if connection is None or connection.remoteDescription is None:
            raise MediaError(MediaErrorCode.NOT_PUBLISHING, "There is no media connection to add it to.")
        text = candidate.candidate.removeprefix("candidate:").strip()
        if not text:
            return  # an empty candidate only marks the end of a generation
        try:
            parsed = candidate_from_sdp(text)
        except (AssertionError, ValueError, IndexError) as error:
            raise MediaError(
                MediaErrorCode.BAD_CANDIDATE, "The ICE candidate could not be parsed."
            ) from error
        parsed.sdpMid = candidate.sdp_mid
        parsed.sdpMLineIndex = candidate.sdp_mline_index
        await connection.addIceCandidate(parsed)

    async def disconnect(self, room_id: str, participant_id: str) -> None:
        room = self._rooms.get(room_id)
        participant = room.participants.pop(participant_id, None) if room else None
        if room is None or participant is None:
            return
        await self._close_participant(room, participant)
        if not room.participants:
            await self._drop_room(room)
            return
        for other in room.participants.values():
            self._spawn(self._sync(room, other))

    async def close_room(self, room_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        for participant in list(room.participants.values()):
            await self._close_participant(room, participant)
        room.participants.clear()
        await self._drop_room(room)

    async def close(self) -> None:
        if self._quality_task is not None:
            self._quality_task.cancel()
        for room_id in list(self._rooms):
            await self.close_room(room_id)

    async def _drop_room(self, room: _Room) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
        await room.forwarding.close()

    async def _stop_publishing(self, room: _Room, participant: _Participant) -> None:
        for published in participant.published.values():
            room.forwarding.unpublish(published.handle)
        participant.published.clear()
        if participant.publisher is not None:
            await participant.publisher.close()
            participant.publisher = None

    async def _close_participant(self, room: _Room, participant: _Participant) -> None:
        for subscription in participant.subscriptions.values():
            room.forwarding.unsubscribe(subscription.sink)
        participant.subscriptions.clear()
        participant.free = {"audio": [], "video": []}
        participant.negotiating = participant.resync = False
        await self._stop_publishing(room, participant)
        if participant.subscriber is not None:
            await participant.subscriber.close()
            participant.subscriber = None

    def _participant(self, room_id: str, participant_id: str) -> _Participant:
        room = self._rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        if participant is None:
            raise MediaError(MediaErrorCode.NOT_PUBLISHING, "There is no media connection for you.")
        return participant

    def _watch(self, connection: RTCPeerConnection, room_id: str, participant_id: str, role: str) -> None:
        @connection.on("connectionstatechange")
        async def on_state() -> None:
            state = connection.connectionState
            room = self._rooms.get(room_id)
            participant = room.participants.get(participant_id) if room else None
            if participant is None or connection not in (participant.publisher, participant.subscriber):
                return
            # A receive-only participant's subscribing connection is their only one: report it.
            if role == "publisher" or state == "failed" or participant.publisher is None:
                await self._listener(
                    MediaEvent(
                        room_id, participant_id, MediaEventKind.CONNECTION, {"state": state, "leg": role}
                    )
                )

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("media task failed", exc_info=task.exception())

    async def _measure_quality(self) -> None:
        """Every few seconds, turn each participant's RTCP statistics into a quality sample."""
        while True:
            await asyncio.sleep(self._quality_interval)
            for room_id, room in list(self._rooms.items()):
                for participant_id, participant in list(room.participants.items()):
                    report: dict[str, Any] = {}
                    for connection in (participant.publisher, participant.subscriber):
                        if connection is not None and connection.connectionState == "connected":
                            report.update(await connection.getStats())
                    sample = participant.meter.update(report) if report else None
                    if sample is not None:
                        facts = link_facts(
                            participant.publisher,
                            participant.subscriber,
                            receive_video=participant.receive_video,
                            video_paused=participant.video_gate.paused,
                        )
                        data = {**sample.to_json(), **facts}
                        await self._listener(
                            MediaEvent(room_id, participant_id, MediaEventKind.QUALITY, data)
                        )
                        await self._protect_audio(room, participant, sample.level)
                    await self._follow_weakest_subscriber(room, participant)

    async def _protect_audio(self, room: _Room, participant: _Participant, level: QualityLevel) -> None:
        """Pause the video a participant receives while their link stays bad; audio keeps flowing."""
        participant.video_gate, decision = participant.video_gate.observe(level)
        if decision is VideoDecision.KEEP:
            return
        paused = decision is VideoDecision.PAUSE
        for subscription in participant.subscriptions.values():
            if subscription.transceiver.kind == "video":
                (subscription.sink.pause if paused else subscription.sink.resume)()
        await self._listener(
            MediaEvent(
                room.room_id,
                participant.participant_id,
                MediaEventKind.VIDEO_PAUSED,
                {"paused": paused, "reason": "weak_link"},
            )
        )

    async def _follow_weakest_subscriber(self, room: _Room, publisher: _Participant) -> None:
        """Cap the publisher's camera at the lowest bandwidth its subscribers report (REMB).

        Forwarded packets reach no encoder, so without this a weak subscriber's estimate would be
        ignored and its link flooded. In a 1:1 consult the cap follows the other person exactly;
        in a multi-party room it follows the weakest subscriber, but never below
        ``MIN_CAMERA_BPS`` (below that, that subscriber's video is paused instead).
        """
        estimates = [
            estimate
            for other in room.participants.values()
            if other is not publisher
            for (publisher_id, source), subscription in other.subscriptions.items()
            if publisher_id == publisher.participant_id and source == "camera"
            if (estimate := _subscriber_budget(other, subscription))
        ]
        if not estimates and publisher.camera_cap_bps is None:
            return
        # Nobody left to limit it (the last weak subscriber left or turned data saver off): lift the cap.
        cap = max(MIN_CAMERA_BPS, min(MAX_CAMERA_BPS, min(estimates, default=MAX_CAMERA_BPS)))
        last = publisher.camera_cap_bps
        if last is not None and abs(cap - last) <= BITRATE_CHANGE * last:
            return
        publisher.camera_cap_bps = cap
        await self._listener(
            MediaEvent(
                room.room_id,
                publisher.participant_id,
                MediaEventKind.BITRATE,
                {"source": "camera", "max_bitrate_bps": cap},
            )
        )


def _subscriber_budget(subscriber: _Participant, subscription: _Subscription) -> int | None:
    """What one subscriber can take of a camera: its REMB estimate, lowered in data-saver mode."""
    estimate: int | None = getattr(subscription.sink, "receiver_estimate_bps", None)
    if subscriber.data_saver:
        return min(estimate or DATA_SAVER_VIDEO_BPS, DATA_SAVER_VIDEO_BPS)
    return estimate


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
