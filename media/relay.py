"""A simple in-process relay: the first media backend.

Each participant has one server-side peer connection. What a participant publishes is decoded
by aiortc and re-encoded for every other participant through :class:`aiortc.contrib.media.MediaRelay`.
That costs CPU per receiver; the packet-forwarding SFU replaces it behind the same interface.

Each outgoing track is a :class:`SwitchableTrack` created when the participant connects, so the
answer can already offer ``sendrecv`` before the other side has published anything: when the
other participant's track arrives it is plugged in, and no renegotiation is needed for 1:1.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from av.frame import Frame
from av.packet import Packet

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
from media.ice import IceSettings
from media.quality import QualityMeter

logger = logging.getLogger(__name__)


class SwitchableTrack(MediaStreamTrack):
    """An outgoing track whose source can be attached, replaced or detached while it is sent."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: MediaStreamTrack | None = None
        self._attached = asyncio.Event()

    def attach(self, source: MediaStreamTrack | None) -> None:
        if self._source is not None and self._source is not source:
            self._source.stop()
        self._source = source
        if source is None:
            self._attached.clear()
        else:
            self._attached.set()

    async def recv(self) -> Frame | Packet[Any]:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._attached.wait()
            source = self._source
            if source is None:
                continue
            try:
                return await source.recv()
            except MediaStreamError:
                if self._source is source:
                    self.attach(None)

    def stop(self) -> None:
        self.attach(None)
        super().stop()


@dataclass
class _Peer:
    connection: RTCPeerConnection
    meter: QualityMeter = field(default_factory=QualityMeter)
    outgoing: list[SwitchableTrack] = field(default_factory=list)
    incoming: dict[str, MediaStreamTrack] = field(default_factory=dict)


@dataclass
class _Room:
    peers: dict[str, _Peer] = field(default_factory=dict)


class RelayBackend:
    def __init__(
        self, ice: IceSettings, listener: MediaListener = ignore_events, quality_interval: float = 3.0
    ) -> None:
        self._ice = ice
        self._listener = listener
        self._quality_interval = quality_interval
        self._quality_task: asyncio.Task[None] | None = None
        self._relay = MediaRelay()
        self._rooms: dict[str, _Room] = {}

    async def connect(
        self, room_id: str, participant_id: str, offer: SessionDescription
    ) -> SessionDescription:
        if offer.type != "offer":
            raise MediaError(MediaErrorCode.BAD_SDP, "Expected an SDP offer.")
        if self._quality_task is None:
            self._quality_task = asyncio.get_running_loop().create_task(self._measure_quality())
        connection = RTCPeerConnection(self._ice.rtc_configuration())
        peer = _Peer(connection)
        room = self._rooms.setdefault(room_id, _Room())

        # aiortc announces remote tracks while the offer is applied, so listen before applying it.
        @connection.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            peer.incoming[track.kind] = track
            if room.peers.get(participant_id) is peer:
                self._plug_into_others(room, participant_id, track)

        @connection.on("connectionstatechange")
        async def on_state() -> None:
            state = connection.connectionState
            logger.info("peer %s in room %s is %s", participant_id, room_id, state)
            if room.peers.get(participant_id) is not peer:
                return
            await self._listener(
                MediaEvent(room_id, participant_id, MediaEventKind.CONNECTION, {"state": state})
            )
            if state == "failed":
                await self.disconnect(room_id, participant_id)

        try:
            await connection.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
            kinds = [t.kind for t in connection.getTransceivers()]
            if not kinds or any(kind not in ("audio", "video") for kind in kinds):
                raise ValueError("the offer carries no audio or video")
            for kind in kinds:
                outgoing = SwitchableTrack(kind)
                connection.addTrack(outgoing)
                peer.outgoing.append(outgoing)
            await connection.setLocalDescription(await connection.createAnswer())
        except Exception as error:
            await connection.close()
            if not room.peers:
                self._rooms.pop(room_id, None)
            logger.info("rejected an offer in room %s: %s", room_id, type(error).__name__)
            raise MediaError(MediaErrorCode.BAD_SDP, "The session description could not be used.") from error

        previous = room.peers.pop(participant_id, None)
        if previous is not None:
            await self._close_peer(previous)
        room.peers[participant_id] = peer
        for track in peer.incoming.values():
            self._plug_into_others(room, participant_id, track)
        for other_id, other in room.peers.items():
            if other_id != participant_id:
                for published in other.incoming.values():
                    self._plug(published, peer)
        description = connection.localDescription
        return SessionDescription(sdp=description.sdp, type="answer")

    async def add_candidate(self, room_id: str, participant_id: str, candidate: IceCandidate) -> None:
        peer = self._rooms.get(room_id, _Room()).peers.get(participant_id)
        if peer is None:
            raise MediaError(MediaErrorCode.NOT_PUBLISHING, "There is no media connection to add it to.")
        text = candidate.candidate.removeprefix("candidate:").strip()
        if not text:
            return  # An empty candidate marks the end of a generation; aiortc needs nothing.
        try:
            parsed = candidate_from_sdp(text)
        except (AssertionError, ValueError, IndexError) as error:
            raise MediaError(
                MediaErrorCode.BAD_CANDIDATE, "The ICE candidate could not be parsed."
            ) from error
        parsed.sdpMid = candidate.sdp_mid
        parsed.sdpMLineIndex = candidate.sdp_mline_index
        await peer.connection.addIceCandidate(parsed)

    async def disconnect(self, room_id: str, participant_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        peer = room.peers.pop(participant_id, None)
        if peer is not None:
            await self._close_peer(peer)
        if not room.peers:
            self._rooms.pop(room_id, None)

    async def close_room(self, room_id: str) -> None:
        room = self._rooms.pop(room_id, None)
        if room is not None:
            await asyncio.gather(*(self._close_peer(peer) for peer in room.peers.values()))

    async def close(self) -> None:
        if self._quality_task is not None:
            self._quality_task.cancel()
        await asyncio.gather(*(self.close_room(room_id) for room_id in list(self._rooms)))

    async def _measure_quality(self) -> None:
        """Every few seconds, turn each connected peer's RTCP statistics into a quality sample."""
        while True:
            await asyncio.sleep(self._quality_interval)
            for room_id, room in list(self._rooms.items()):
                for participant_id, peer in list(room.peers.items()):
                    if peer.connection.connectionState != "connected":
                        continue
                    sample = peer.meter.update(await peer.connection.getStats())
                    if sample is not None:
                        await self._listener(
                            MediaEvent(room_id, participant_id, MediaEventKind.QUALITY, sample.to_json())
                        )

    def _plug_into_others(self, room: _Room, publisher_id: str, track: MediaStreamTrack) -> None:
        for other_id, other in room.peers.items():
            if other_id != publisher_id:
                self._plug(track, other)

    def _plug(self, source: MediaStreamTrack, receiver: _Peer) -> None:
        for outgoing in receiver.outgoing:
            if outgoing.kind == source.kind:
                outgoing.attach(self._relay.subscribe(source, buffered=False))
                return

    @staticmethod
    async def _close_peer(peer: _Peer) -> None:
        for outgoing in peer.outgoing:
            outgoing.stop()
        for incoming in peer.incoming.values():
            incoming.stop()
        await peer.connection.close()
