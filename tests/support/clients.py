"""Protocol clients for tests: python-socketio clients and aiortc peers speaking docs/protocol.md."""

from __future__ import annotations

import asyncio
import fractions
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import socketio
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from av import VideoFrame


class EventLog:
    """Every server event a client received, with a way to wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()

    async def record(self, event: str, data: Any = None) -> None:
        async with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    async def wait_for(
        self, event: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 15
    ) -> Any:
        async def seen() -> Any:
            async with self._changed:
                while True:
                    for name, data in self.events:
                        if name == event and predicate(data):
                            return data
                    await self._changed.wait()

        return await asyncio.wait_for(seen(), timeout)

    def named(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]


_OPEN_CLIENTS: weakref.WeakKeyDictionary[socketio.AsyncClient, asyncio.AbstractEventLoop] = (
    weakref.WeakKeyDictionary()
)
"""Clients connected, with the loop they run on: each test has its own loop, and a client a
previous test left open cannot be closed from another one."""


async def disconnect_open_clients() -> None:
    """Close every socket this test left open, so that the server it talks to stops at once."""
    loop = asyncio.get_running_loop()
    for client, owner in list(_OPEN_CLIENTS.items()):
        if owner is not loop or not client.connected:
            continue
        try:
            await asyncio.wait_for(client.disconnect(), timeout=5)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this teardown itself is cancelled; only the client's own tasks may be
        except Exception:  # a socket that fails to close is closed by the server
            pass
    _OPEN_CLIENTS.clear()


async def connect_client(
    url: str, *, token: str | None = None, cookie: str | None = None
) -> tuple[socketio.AsyncClient, EventLog]:
    client = socketio.AsyncClient(reconnection=False)
    _OPEN_CLIENTS[client] = asyncio.get_running_loop()
    log = EventLog()

    @client.on("*")
    async def any_event(event: str, data: Any = None) -> None:
        await log.record(event, data)

    @client.on("connect_error")
    async def refused(data: Any = None) -> None:
        await log.record("connect_error", data)

    headers = {"Cookie": f"tc_session={cookie}"} if cookie else {}
    try:
        await client.connect(
            url,
            auth={"token": token} if token else None,
            headers=headers,
            transports=["websocket"],
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError as error:
        raise ConnectionRefused(log.named("connect_error")) from error
    return client, log


async def refusal_code(url: str, token: str) -> str:
    """The error code the server refuses this link with, or ``"accepted"`` if it lets it in."""
    try:
        client, _ = await connect_client(url, token=token)
    except ConnectionRefused as error:
        return str(error.errors[0]["data"]["code"])
    await client.disconnect()
    return "accepted"


class ConnectionRefused(Exception):
    """The server refused the connection; ``errors`` holds what it said (``connect_error`` data)."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__(errors)
        self.errors = errors


class ColorTrack(VideoStreamTrack):
    """A camera that shows one solid colour, so a receiver can tell whose picture it got."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__()
        self._frame = np.zeros((240, 320, 3), dtype=np.uint8)
        self._frame[:, :] = rgb

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self._frame, format="rgb24")
        frame.pts = pts
        frame.time_base = fractions.Fraction(time_base)
        return frame


@dataclass
class Received:
    video_frames: int = 0
    audio_frames: int = 0
    last_rgb: tuple[float, float, float] | None = None
    last_audio: np.ndarray[Any, np.dtype[np.float64]] | None = None
    """The first channel of a recent audio frame, as 48 kHz samples."""


class MediaClient:
    """An aiortc participant speaking docs/protocol.md: it publishes a coloured picture and a tone
    on its publishing connection, and answers the server's offers for its subscribing connection,
    counting what it receives from each other participant."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        self.publisher = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self._sources = [
            (self.publisher.addTransceiver(ColorTrack(rgb), "sendonly"), "camera"),
            (self.publisher.addTransceiver(AudioStreamTrack(), "sendonly"), "microphone"),
        ]
        self.subscriber: RTCPeerConnection | None = None
        self.by_participant: dict[str, Received] = {}
        self.received = Received()
        self.offers: list[dict[str, Any]] = []
        self._consumed: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: socketio.AsyncClient | None = None

    async def offer(self) -> dict[str, Any]:
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        return {
            "type": "offer",
            "sdp": self.publisher.localDescription.sdp,
            "sources": {transceiver.mid: source for transceiver, source in self._sources},
        }

    async def accept(self, answer: dict[str, str]) -> None:
        await self.publisher.setRemoteDescription(
            RTCSessionDescription(sdp=answer["sdp"], type=answer["type"])
        )

    def listen(self, client: socketio.AsyncClient) -> None:
        """Answer the server's offers for the subscribing connection on ``client``."""
        self._client = client
        client.on("media:subscriber_offer", self._on_subscriber_offer)

    async def _on_subscriber_offer(self, data: dict[str, Any]) -> None:
        answer = await self.answer_offer(data)
        assert self._client is not None
        reply = await self._client.call("media:subscriber_answer", answer, timeout=20)
        assert reply["ok"] or reply["error"]["code"] == "stale_answer", reply

    async def answer_offer(self, data: dict[str, Any]) -> dict[str, Any]:
        """Apply a server offer for the subscribing connection and return the answer to send."""
        self.offers.append(data)
        if self.subscriber is None:
            self.subscriber = RTCPeerConnection(
                RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
            )
        await self.subscriber.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
        await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
        for transceiver in self.subscriber.getTransceivers():
            track = transceiver.receiver.track
            info = data["tracks"].get(transceiver.mid)
            if info is not None and id(track) not in self._consumed:
                self._consumed.add(id(track))
                received = self.by_participant.setdefault(info["participant_id"], Received())
                self._tasks.append(asyncio.ensure_future(self._consume(track, received)))
        return {"type": "answer", "sdp": self.subscriber.localDescription.sdp, "revision": data["revision"]}

    async def _consume(self, track: MediaStreamTrack, received: Received) -> None:
        try:
            while True:
                frame = await track.recv()
                for counter in (received, self.received):
                    if track.kind == "video":
                        counter.video_frames += 1
                        if counter.video_frames % 10 == 1:
                            rgb = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
                            counter.last_rgb = (float(rgb[0]), float(rgb[1]), float(rgb[2]))
                    else:
                        counter.audio_frames += 1
                        if counter.audio_frames % 10 == 1:
                            samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))
                            counter.last_audio = samples[:, 0].astype(np.float64)
        except MediaStreamError:
            return

    async def wait_for_media(
        self,
        video_frames: int = 20,
        audio_frames: int = 20,
        timeout: float = 30,
        participant: str | None = None,
    ) -> None:
        async def enough() -> None:
            while True:
                counter = self.by_participant.get(participant, Received()) if participant else self.received
                if counter.video_frames >= video_frames and counter.audio_frames >= audio_frames:
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(enough(), timeout)

    async def close(self) -> None:
        await self.publisher.close()
        if self.subscriber is not None:
            await self.subscriber.close()
        for task in self._tasks:
            task.cancel()


async def join_call(client: socketio.AsyncClient, media: MediaClient) -> dict[str, Any]:
    media.listen(client)
    reply: dict[str, Any] = await client.call("media:offer", await media.offer(), timeout=30)
    if reply.get("ok"):
        await media.accept(reply["answer"])
    return reply
