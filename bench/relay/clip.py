"""The pre-encoded clip every publisher loops, so the load generators never encode.

Encoded once with PyAV (VP8 with a browser's real-time settings, Opus) and cached in the temp
directory; each client process reads it into memory.
"""

from __future__ import annotations

import fractions
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 25
VIDEO_BPS = 500_000
GOP_FRAMES = 60  # a keyframe every 2.4 s
CLIP_FRAMES = 300  # 12 s, looped
AUDIO_CLOCK = 48_000
AUDIO_STEP = 960  # 20 ms Opus frames
CLIP_PATH = Path(tempfile.gettempdir()) / "teleconsulta-bench" / "relay-v1-640x480-vp8-500k-opus.webm"


def make_clip(path: Path) -> None:
    """Encode the clip once: a moving, textured scene with sensor-like noise, so VP8 spends its
    bit budget the way a camera picture makes it, and a 440 Hz tone in Opus."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    container = av.open(str(partial), "w", format="webm")
    video = container.add_stream("libvpx", rate=FPS)
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.bit_rate = VIDEO_BPS
    video.codec_context.gop_size = GOP_FRAMES
    # Real-time settings as a browser uses them: no look-ahead and no hidden alt-ref frames, so
    # every packet is one shown frame.
    video.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
        "keyint_min": str(GOP_FRAMES),
        "minrate": "500k",
        "maxrate": "500k",
        "bufsize": "500k",
    }
    audio = container.add_stream("libopus", rate=AUDIO_CLOCK)
    audio.layout = "mono"
    audio.bit_rate = 32_000
    rng = np.random.default_rng(1)
    background = (rng.random((HEIGHT // 32, WIDTH // 32)) * 120 + 60).astype(np.uint8)
    background = background.repeat(32, 0).repeat(32, 1)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    for index in range(CLIP_FRAMES):
        cx = WIDTH / 2 + 120 * np.sin(index / 25)
        cy = HEIGHT / 2 + 40 * np.cos(index / 17)
        face = ((xx - cx) / 110) ** 2 + ((yy - cy) / 140) ** 2 < 1
        luma = np.roll(background, index * 2, axis=1).astype(np.int16) // 2 + 60
        luma[face] = 180 + (xx[face] // 16 % 2) * 30
        luma += rng.integers(-3, 4, (HEIGHT, WIDTH), dtype=np.int16)
        planes = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
        planes[:HEIGHT] = np.clip(luma, 0, 255)
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts, frame.time_base = index, fractions.Fraction(1, FPS)
        for packet in video.encode(frame):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    samples = CLIP_FRAMES * AUDIO_CLOCK // FPS
    for start in range(0, samples, AUDIO_STEP):
        t = (np.arange(AUDIO_STEP) + start) / AUDIO_CLOCK
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
        chunk = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        chunk.sample_rate, chunk.pts = AUDIO_CLOCK, start
        chunk.time_base = fractions.Fraction(1, AUDIO_CLOCK)
        for packet in audio.encode(chunk):
            container.mux(packet)
    for packet in audio.encode():
        container.mux(packet)
    container.close()
    partial.replace(path)


@dataclass(frozen=True)
class Clip:
    """The clip's encoded packets in memory; ``keyframes`` are indexes into ``video``."""

    video: tuple[bytes, ...]
    keyframes: tuple[int, ...]
    audio: tuple[bytes, ...]

    @property
    def video_kbps(self) -> float:
        return sum(len(frame) for frame in self.video) * 8 / (len(self.video) / FPS) / 1000


def load_clip(path: Path) -> Clip:
    video: list[bytes] = []
    keyframes: list[int] = []
    audio: list[bytes] = []
    with av.open(str(path)) as container:
        for packet in container.demux():
            if not packet.size:
                continue
            if packet.stream.type == "video":
                if packet.is_keyframe:
                    keyframes.append(len(video))
                video.append(bytes(packet))
            else:
                audio.append(bytes(packet))
    if not keyframes or keyframes[0] != 0:
        raise RuntimeError(f"{path} does not start with a keyframe; delete it to make it again")
    return Clip(tuple(video), tuple(keyframes), tuple(audio))
