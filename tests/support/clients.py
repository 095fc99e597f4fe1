"""Protocol clients for tests: python-socketio clients and aiortc peers speaking docs/protocol.md."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import socketio
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
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


async def connect_client(
    url: str, *, token: str | None = None, cookie: str | None = None
) -> tuple[socketio.AsyncClient, EventLog]:
    client = socketio.AsyncClient(reconnection=False)
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
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class MediaClient:
    """An aiortc peer that publishes a coloured picture and a tone, and counts what it receives."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(ColorTrack(rgb))
        self.pc.addTrack(AudioStreamTrack())
        self.received = Received()
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.received.tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.received.video_frames += 1
                    if self.received.video_frames % 10 == 1:
                        rgb = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
                        self.received.last_rgb = (float(rgb[0]), float(rgb[1]), float(rgb[2]))
                else:
                    self.received.audio_frames += 1
        except MediaStreamError:
            return

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"type": "offer", "sdp": self.pc.localDescription.sdp}

    async def accept(self, answer: dict[str, str]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    async def wait_for_media(
        self, video_frames: int = 20, audio_frames: int = 20, timeout: float = 30
    ) -> None:
        async def enough() -> None:
            while self.received.video_frames < video_frames or self.received.audio_frames < audio_frames:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(enough(), timeout)

    async def close(self) -> None:
        await self.pc.close()
        for task in self.received.tasks:
            task.cancel()


async def join_call(client: socketio.AsyncClient, media: MediaClient) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call("media:offer", await media.offer(), timeout=30)
    if reply.get("ok"):
        await media.accept(reply["answer"])
    return reply
