"""One aiortc participant speaking docs/protocol.md, with only what the load generators need.

Two bundled peer connections: a publishing one (camera and microphone lines carrying the looped
clip, or silent lines for a receive-only participant) and a subscribing one that the server
offers. Every subscribed line is tapped to count packets; ``decoding`` participants also let
aiortc decode and count the decoded video frames of each publisher.

The tests' protocol clients (``tests/support/clients.py``) are not imported: a benchmark does
not depend on the test suite, and it needs neither their coloured pictures nor their event logs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.aiortc_seam import ReceiverTap

from .clip import Clip
from .counting import StreamCount
from .sources import LoopedAudio, LoopedVideo, Silent, forward_keyframe_requests


async def connect(url: str, *, token: str | None = None, cookie: str | None = None) -> socketio.AsyncClient:
    """A socket.io connection authenticated by a join token or a staff session cookie."""
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Cookie": f"tc_session={cookie}"} if cookie else {}
    await client.connect(
        url,
        auth={"token": token} if token else None,
        headers=headers,
        transports=["websocket"],
        wait_timeout=10,
    )
    return client


def bundled_peer() -> RTCPeerConnection:
    """A peer connection as our clients make them: no ICE servers on loopback, max-bundle."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


class Participant:
    """Publishes the looped clip (or nothing, with ``clip=None``) and counts what it receives."""

    def __init__(self, participant_id: str, clip: Clip | None, *, decoding: bool, seed: int) -> None:
        self.participant_id = participant_id
        self.decoding = decoding
        self.publisher = bundled_peer()
        self.video: LoopedVideo | None = None
        self.audio: LoopedAudio | None = None
        camera: MediaStreamTrack = Silent("video")
        microphone: MediaStreamTrack = Silent("audio")
        if clip is not None:
            self.video, self.audio = LoopedVideo(clip, seed), LoopedAudio(clip)
            camera, microphone = self.video, self.audio
        camera_line = self.publisher.addTransceiver(camera, "sendonly")
        microphone_line = self.publisher.addTransceiver(microphone, "sendonly")
        if self.video is not None:
            forward_keyframe_requests(camera_line.sender, self.video)
        self._sources = ((camera_line, "camera"), (microphone_line, "microphone"))
        self.subscriber: RTCPeerConnection | None = None
        self.streams: dict[str, StreamCount] = {}  # by mid of the subscribing connection
        self.taps: list[ReceiverTap] = []
        self.decoded: dict[str, int] = {}  # video frames aiortc decoded, by publisher
        self.first_offer_at: float | None = None
        self.hanging_up = False
        self._sio: socketio.AsyncClient | None = None
        self._consumed: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def join(self, sio: socketio.AsyncClient) -> dict[str, Any]:
        """Send ``media:offer`` for the publishing connection, apply the answer, and answer the
        server's subscriber offers from now on. Returns the server's reply."""
        self._sio = sio
        sio.on("media:subscriber_offer", self._on_subscriber_offer)
        offer = await self.publisher_offer()
        offer["sources"] = {line.mid: source for line, source in self._sources}
        reply: dict[str, Any] = await sio.call("media:offer", offer, timeout=30)
        if reply.get("ok"):
            await self.publisher_answered(reply["answer"])
        return reply

    async def publisher_offer(self) -> dict[str, Any]:
        """The publishing connection's offer (camera and microphone lines)."""
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        return {"type": "offer", "sdp": self.publisher.localDescription.sdp}

    async def publisher_answered(self, answer: dict[str, Any]) -> None:
        await self.publisher.setRemoteDescription(
            RTCSessionDescription(sdp=answer["sdp"], type=answer["type"])
        )

    async def _on_subscriber_offer(self, data: dict[str, Any]) -> None:
        """Answer, except while hanging up: an offer caused by others leaving can arrive after
        the consult ended, and the server then rightly refuses its answer."""
        if self.hanging_up:
            return
        answer = await self.answer_offer(data)
        assert self._sio is not None
        reply = await self._sio.call("media:subscriber_answer", answer, timeout=20)
        refused = not reply["ok"] and reply["error"]["code"] != "stale_answer"
        if refused and not self.hanging_up:
            raise RuntimeError(f"the server refused a subscriber answer: {reply}")

    async def answer_offer(self, data: dict[str, Any]) -> dict[str, Any]:
        """Apply an offer for the subscribing connection (ours or another server's, described as
        ``{"sdp", "tracks": {mid: {"participant_id", "kind"}}, "revision"}``); tap each new line
        before media flows."""
        if self.first_offer_at is None:
            self.first_offer_at = time.monotonic()
        if self.subscriber is None:
            self.subscriber = bundled_peer()
        await self.subscriber.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
        await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
        for transceiver in self.subscriber.getTransceivers():
            mid = transceiver.mid
            info = data["tracks"].get(mid)
            if mid is None or info is None:
                continue
            publisher = info["participant_id"]
            current = self.streams.get(mid)
            if current is None or current.publisher != publisher:
                self.streams[mid] = StreamCount(self.participant_id, publisher, info["kind"])
            if current is None:  # a new media line: tap its receiver once
                tap = ReceiverTap(
                    transceiver.receiver, self._sink(mid), keep_decoding=self.decoding, send_remb=True
                )
                tap.install()
                self.taps.append(tap)
            track = transceiver.receiver.track
            if self.decoding and id(track) not in self._consumed:
                self._consumed.add(id(track))
                self._tasks.append(asyncio.ensure_future(self._consume(track, publisher)))
        return {"type": "answer", "sdp": self.subscriber.localDescription.sdp, "revision": data["revision"]}

    def _sink(self, mid: str) -> Callable[[RtpPacket, RTCRtpCodecParameters], Awaitable[None]]:
        async def sink(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            self.streams[mid].on_packet(packet)

        return sink

    async def _consume(self, track: MediaStreamTrack, publisher: str) -> None:
        """Take aiortc's decoded frames (else they pile up in the track's queue) and count video."""
        try:
            while True:
                await track.recv()
                if track.kind == "video":
                    self.decoded[publisher] = self.decoded.get(publisher, 0) + 1
        except MediaStreamError:
            return

    def receiving_video_from(self, publishers: set[str]) -> bool:
        flowing = {s.publisher for s in self.streams.values() if s.kind == "video" and s.frames}
        return publishers <= flowing

    async def close(self) -> None:
        await self.publisher.close()
        if self.subscriber is not None:
            await self.subscriber.close()
        for task in self._tasks:
            task.cancel()
