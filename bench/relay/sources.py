"""What a load-generating participant publishes: the clip's packets, paced like a camera.

Why not aiortc's ``MediaPlayer(decode=False)``: see the package docstring.
"""

from __future__ import annotations

import asyncio
import bisect
import fractions
import random
import time
from collections.abc import Callable
from typing import Any, cast

from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from av.packet import Packet

from .clip import AUDIO_CLOCK, AUDIO_STEP, FPS, Clip

VIDEO_CLOCK = 90_000
FRAME_STEP = VIDEO_CLOCK // FPS
FRAME_JITTER = 360  # +- 4 ms: makes each frame's timestamp spacing a fingerprint


class LoopedVideo(MediaStreamTrack):
    """The clip's VP8 frames as ``av.Packet``s, paced by wall clock, looped without end.

    Timestamps keep increasing across loops; each step is 40 ms +- 4 ms, so the sequence of
    steps identifies frames at the subscribers. ``sent`` records (timestamp, send time).
    """

    kind = "video"

    def __init__(self, clip: Clip, seed: int) -> None:
        super().__init__()
        self._clip = clip
        self._rng = random.Random(seed)
        self._index = self._rng.choice(clip.keyframes)  # publishers do not all send keyframes at once
        self._pts = 0
        self._due: float | None = None
        self._keyframe_wanted = False
        self.sent: list[tuple[int, float]] = []

    def request_keyframe(self) -> None:
        self._keyframe_wanted = True

    async def recv(self) -> Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._due is None:
            self._due = loop.time()
        elif self._due > loop.time():
            await asyncio.sleep(self._due - loop.time())
        if self._keyframe_wanted:
            self._keyframe_wanted = False
            following = bisect.bisect_right(self._clip.keyframes, self._index)
            keyframes = self._clip.keyframes
            self._index = keyframes[following] if following < len(keyframes) else 0
        packet = Packet(self._clip.video[self._index])
        packet.pts, packet.time_base = self._pts, fractions.Fraction(1, VIDEO_CLOCK)
        self.sent.append((self._pts, time.monotonic()))
        self._index = (self._index + 1) % len(self._clip.video)
        step = FRAME_STEP + self._rng.randint(-FRAME_JITTER, FRAME_JITTER)
        self._pts += step
        self._due += step / VIDEO_CLOCK
        return packet


class LoopedAudio(MediaStreamTrack):
    """The clip's Opus packets, one every 20 ms, looped. ``sent`` records send times."""

    kind = "audio"

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self._clip = clip
        self._index = 0
        self._pts = 0
        self._due: float | None = None
        self.sent: list[float] = []

    async def recv(self) -> Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._due is None:
            self._due = loop.time()
        elif self._due > loop.time():
            await asyncio.sleep(self._due - loop.time())
        packet = Packet(self._clip.audio[self._index])
        packet.pts, packet.time_base = self._pts, fractions.Fraction(1, AUDIO_CLOCK)
        self.sent.append(time.monotonic())
        self._index = (self._index + 1) % len(self._clip.audio)
        self._pts += AUDIO_STEP
        self._due += AUDIO_STEP / AUDIO_CLOCK
        return packet


class Silent(MediaStreamTrack):
    """Camera and microphone of a receive-only participant: ``recv`` never returns, so aiortc's
    sender neither encodes nor polls (the server still needs a media line to accept the offer)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Packet[Any]:
        await asyncio.get_running_loop().create_future()
        raise MediaStreamError


def forward_keyframe_requests(sender: RTCRtpSender, track: LoopedVideo) -> None:
    """aiortc's sender only sets a flag for its encoder on PLI/FIR; a pre-encoded source must
    be told. ``_send_keyframe`` is the instance hook ``media.aiortc_seam`` also relies on."""
    original: Callable[[], None] = sender._send_keyframe

    def on_request() -> None:
        track.request_keyframe()
        original()

    cast(Any, sender)._send_keyframe = on_request
