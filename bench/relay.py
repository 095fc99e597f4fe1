"""Relaying real video through the server: packet forwarding against decode/re-encode, same run.

Real aiortc clients, in their own processes, publish real encoded media (640x480 VP8 at 25 fps,
about 490 kbit/s, keyframe every 2.4 s, plus 32 kbit/s Opus) through the real server
(``web.app.create_app``, media in its worker processes) on loopback, speaking our socket.io
protocol with the test helpers (``tests/support/clients.py``): staff login, patient check-in,
admission, invitations, ``media:offer`` and the server's subscriber offers. The same load then
goes through a second server that decodes and re-encodes (``TC_MEDIA_FORWARDING=reencode``).

Scenarios, for each server:

* **1 -> N**: the nurse publishes; the patient and invitees only receive (N = 1..7). Server CPU
  per extra subscriber is the least-squares slope of server CPU over N.
* **K 1:1 consults**: nurse and patient both publish and receive; K grows until the machine can
  no longer generate the load cleanly. CPU per consult = server CPU / K.
* **Late joiners**: an interpreter joins a running consult (at the largest K) and decodes; time
  from its ``media:offer`` to a decoded frame from every publisher in the room, with the steps
  in between.

What is measured, and how:

* **Server CPU** is the server's own: utime+stime of the server process and its descendants
  (the media workers), from ``/proc`` (per-thread ``schedstat`` nanoseconds when no thread ended
  in the window, else the tick-rounded process totals), over a steady window after joins
  settled. "% of a core" = CPU seconds / wall seconds. Machine-wide busy time is printed beside
  it, split into server, our clients and everything else, to show how noisy the run was.
* **Frames delivered** are counted exactly: every publisher varies its frame spacing a little
  (40 ms +- 4 ms, as a camera does), so the RTP timestamps a subscriber sees, which are the
  publisher's plus a constant per subscription (give or take a tick or two of rounding in the
  re-encoder), identify each frame. A frame sent in the window counts as delivered if it
  arrived complete (every packet, from a packet that starts the frame to the marker) within
  0.5 s after the window. Audio: packets that arrived in the window over packets sent in it.
* **Decode errors**: most subscribers only count packets (``media.aiortc_seam.ReceiverTap``, so
  their receiver reports and REMB still flow) because decoding 640x480 for every one of them
  would starve the server of CPU; a sample (the 1 -> N patient, some consults' patients, every
  late joiner) also decodes through aiortc's own path, and every "failed to decode" aiortc logs
  there is an error.
* **Added latency per hop**: per frame, from the publisher handing it to its RTP sender to the
  subscriber receiving its last packet (all processes read the same ``CLOCK_MONOTONIC``). The
  same clients also run one direct publisher -> subscriber pair, no server, during every window;
  the server's added latency is the median through the server minus the median of that direct
  pair in the same window, so the clients' own send/receive paths and the load cancel out.

The publishers do not encode: each client process reads the pre-encoded clip (made once with
PyAV, cached in the temp directory) into memory and loops it, pacing frames by wall clock with
timestamps that keep increasing. aiortc's ``MediaPlayer(loop=True, decode=False)`` is not used:
after its first pass it restarts presentation times at 0, so its throttle stops waiting and the
whole file is sent as fast as it can be read. A publisher asked for a keyframe (PLI/FIR, which
aiortc ignores for pre-encoded input) skips ahead to the clip's next keyframe, as a browser's
encoder would send a fresh one.

    python -m bench.relay [--quick] [--window S] [--client-processes 2] [--media-workers N]

``--quick`` (under a minute) runs fewer steps with 3-second windows; the last line printed is one
JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import fractions
import json
import logging
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import av
import numpy as np
import socketio
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
from av.packet import Packet

from media.aiortc_seam import ReceiverTap
from media.ice import restrict_host_addresses
from tests.support.clients import MediaClient, connect_client, join_call

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FPS = 640, 480, 25
VIDEO_BPS = 500_000
GOP_FRAMES = 60  # a keyframe every 2.4 s
CLIP_FRAMES = 300  # 12 s, looped
VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
AUDIO_STEP = 960  # 20 ms Opus frames
FRAME_STEP = VIDEO_CLOCK // FPS
FRAME_JITTER = 360  # +- 4 ms: makes each frame's timestamp spacing a fingerprint
CLIP_PATH = Path(tempfile.gettempdir()) / "teleconsulta-bench" / "relay-v1-640x480-vp8-500k-opus.webm"
PASSWORD = "relay-bench-password-1"  # a throwaway account on a loopback server
GRACE = 0.5  # a frame arriving later than this after the window counts as not delivered
MASK32 = 0xFFFFFFFF


# -- the pre-encoded clip -------------------------------------------------------------------------


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


# -- what a client publishes -------------------------------------------------------------------------


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
    """The clip's Opus packets, one every 20 ms, looped."""

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


# -- what a client receives -------------------------------------------------------------------------


class StreamCount:
    """One subscriber's view of one publisher's track, counted at the RTP level.

    A video frame counts when it arrived complete: its first packet starts a VP8 frame (S=1,
    partition 0), no sequence number is missing up to its marker packet.
    """

    def __init__(self, subscriber: str, publisher: str, kind: str) -> None:
        self.subscriber = subscriber
        self.publisher = publisher
        self.kind = kind
        self.frames: list[tuple[int, float]] = []  # (RTP timestamp, arrival) of complete frames
        self.audio: list[float] = []
        self.first_packet_at: float | None = None
        self._last_sequence: int | None = None
        self._timestamp: int | None = None
        self._broken = True

    def on_packet(self, packet: RtpPacket) -> None:
        now = time.monotonic()
        if self.first_packet_at is None:
            self.first_packet_at = now
        if self.kind == "audio":
            self.audio.append(now)
            return
        sequence = packet.sequence_number
        gap = 0
        if self._last_sequence is not None:
            gap = (sequence - self._last_sequence - 1) & 0xFFFF
            if gap >= 0x8000:
                return  # a duplicate or a late retransmission: its frame was already judged
        self._last_sequence = sequence
        payload = packet.payload
        if packet.timestamp != self._timestamp:
            self._timestamp = packet.timestamp
            self._broken = not payload or (payload[0] & 0x17) != 0x10
        elif gap:
            self._broken = True
        if packet.marker:
            if not self._broken:
                self.frames.append((packet.timestamp, now))
            self._broken = True

    def take(self, since: float, until: float) -> dict[str, Any]:
        """Video frames that arrived from 1 s before the window to ``GRACE`` after it (the
        orchestrator picks those sent in the window); audio packets that arrived in it."""
        frames = [(ts, t) for ts, t in self.frames if since - 1 <= t <= until + GRACE]
        audio = sum(1 for t in self.audio if since <= t <= until)
        self.frames = [(ts, t) for ts, t in self.frames if t > until - 2]
        self.audio = [t for t in self.audio if t > until - 2]
        return {
            "subscriber": self.subscriber,
            "publisher": self.publisher,
            "kind": self.kind,
            "frames": frames,
            "audio": audio,
        }


class Participant(MediaClient):
    """``MediaClient`` (our protocol, two peer connections) publishing the looped clip, or
    nothing, and counting what it receives; ``decoding`` ones also let aiortc decode."""

    def __init__(self, participant_id: str, clip: Clip | None, *, decoding: bool, seed: int) -> None:
        super().__init__((90, 90, 90))
        self.participant_id = participant_id
        self.decoding = decoding
        self.video: LoopedVideo | None = None
        self.audio: LoopedAudio | None = None
        camera, microphone = self.publisher.getTransceivers()
        if clip is not None:
            self.video, self.audio = LoopedVideo(clip, seed), LoopedAudio(clip)
            camera.sender.replaceTrack(self.video)
            microphone.sender.replaceTrack(self.audio)
            forward_keyframe_requests(camera.sender, self.video)
        else:
            camera.sender.replaceTrack(Silent("video"))
            microphone.sender.replaceTrack(Silent("audio"))
        self.streams: dict[str, StreamCount] = {}  # by mid of the subscribing connection
        self.taps: list[ReceiverTap] = []
        self.first_offer_at: float | None = None
        self.hanging_up = False

    async def _on_subscriber_offer(self, data: dict[str, Any]) -> None:
        """As ``MediaClient``'s, except while hanging up: an offer caused by others leaving can
        arrive after the consult ended, and the server then rightly refuses its answer."""
        if self.hanging_up:
            return
        try:
            await super()._on_subscriber_offer(data)
        except AssertionError:
            if not self.hanging_up:
                raise

    async def answer_offer(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.first_offer_at is None:
            self.first_offer_at = time.monotonic()
        answer = await super().answer_offer(data)
        assert self.subscriber is not None
        for transceiver in self.subscriber.getTransceivers():
            mid = transceiver.mid
            info = data["tracks"].get(mid)
            if mid is None or info is None:
                continue
            current = self.streams.get(mid)
            if current is None or current.publisher != info["participant_id"]:
                self.streams[mid] = StreamCount(self.participant_id, info["participant_id"], info["kind"])
            if current is None:  # a new media line: tap its receiver once, before media flows
                tap = ReceiverTap(
                    transceiver.receiver, self._sink(mid), keep_decoding=self.decoding, send_remb=True
                )
                tap.install()
                self.taps.append(tap)
        return answer

    def _sink(self, mid: str) -> Callable[[RtpPacket, RTCRtpCodecParameters], Awaitable[None]]:
        async def sink(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            self.streams[mid].on_packet(packet)

        return sink

    def receiving_video_from(self, publishers: set[str]) -> bool:
        flowing = {s.publisher for s in self.streams.values() if s.kind == "video" and s.frames}
        return publishers <= flowing


# -- a load-generating client process -------------------------------------------------------------


class DecodeErrors(logging.Handler):
    """Counts aiortc's "failed to decode" warnings (its decoder threads log and carry on)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            self.count += 1


@dataclass
class Member:
    participant_id: str
    sio: socketio.AsyncClient
    media: Participant


@dataclass
class Session:
    url: str
    consult_id: str
    nurse: Member
    members: list[Member] = field(default_factory=list)

    @property
    def publishers(self) -> set[str]:
        return {m.participant_id for m in self.members if m.media.video is not None}


def expect_ok(reply: dict[str, Any], what: str) -> dict[str, Any]:
    if not reply.get("ok"):
        raise RuntimeError(f"{what} was refused: {reply}")
    return reply


class LoadClient:
    """Runs the commands the orchestrator sends over the pipe, one at a time."""

    def __init__(self, index: int, errors: DecodeErrors) -> None:
        self.index = index
        self.errors = errors
        self.clip: Clip | None = None
        self.sessions: dict[str, Session] = {}
        self.direct: tuple[RTCPeerConnection, RTCPeerConnection, LoopedVideo, StreamCount] | None = None
        self._seed = index * 1000
        self._errors_reported = 0

    def _new_decode_errors(self) -> int:
        """Decode errors since the last time this was asked."""
        new = self.errors.count - self._errors_reported
        self._errors_reported = self.errors.count
        return new

    def _next_seed(self) -> int:
        self._seed += 1
        return self._seed

    async def load(self, path: str, direct: bool) -> float:
        self.clip = load_clip(Path(path))
        if direct:
            await self._start_direct()
        return self.clip.video_kbps

    async def _start_direct(self) -> None:
        """A publisher and a subscriber peer connected directly: the reference path, no server."""
        assert self.clip is not None
        sender_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        receiver_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        video = LoopedVideo(self.clip, self._next_seed())
        transceiver = sender_pc.addTransceiver(video, "sendonly")
        forward_keyframe_requests(transceiver.sender, video)
        count = StreamCount("direct-subscriber", "direct", "video")

        async def sink(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            count.on_packet(packet)

        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        receiver: RTCRtpReceiver = receiver_pc.getTransceivers()[0].receiver
        ReceiverTap(receiver, sink).install()
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        self.direct = (sender_pc, receiver_pc, video, count)

    def _participant(self, participant_id: str, publish: bool, decoding: bool) -> Participant:
        return Participant(
            participant_id, self.clip if publish else None, decoding=decoding, seed=self._next_seed()
        )

    async def open_consult(self, spec: dict[str, Any], patient_publishes: bool, patient_decodes: bool) -> str:
        """Staff login, patient check-in, admission, then both join the call."""
        url = spec["url"]
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{url}/api/session", json={"username": spec["username"], "password": spec["password"]}
            )
            if response.status != 200:
                raise RuntimeError(f"login failed: {response.status} {await response.text()}")
            cookie = response.cookies["tc_session"].value
        nurse_sio, _ = await connect_client(url, cookie=cookie)
        patient_sio, _ = await connect_client(url, token=spec["token"])
        nurse_id = expect_ok(await nurse_sio.call("hello", {}, timeout=30), "hello")["participant_id"]
        patient_id = expect_ok(await patient_sio.call("hello", {}, timeout=30), "hello")["participant_id"]
        expect_ok(await patient_sio.call("lobby:check_in", {"consent": True}, timeout=30), "check-in")
        expect_ok(
            await nurse_sio.call("lobby:admit", {"consult_id": spec["consult_id"]}, timeout=30), "admission"
        )
        nurse = Member(nurse_id, nurse_sio, self._participant(nurse_id, True, False))
        patient = Member(
            patient_id, patient_sio, self._participant(patient_id, patient_publishes, patient_decodes)
        )
        session = Session(url, spec["consult_id"], nurse, [nurse, patient])
        self.sessions[session.consult_id] = session
        await asyncio.gather(*(self._join(m) for m in session.members))
        await self._flowing(session)
        return session.consult_id

    async def _join(self, member: Member) -> None:
        expect_ok(await join_call(member.sio, member.media), "media:offer")

    async def _flowing(self, session: Session, limit: float = 30) -> None:
        """Wait until every member receives complete video frames from every other publisher."""
        deadline = time.monotonic() + limit
        while True:
            if all(
                m.media.receiving_video_from(session.publishers - {m.participant_id}) for m in session.members
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"media did not flow in consult {session.consult_id}")
            await asyncio.sleep(0.05)

    async def _invitee(self, session: Session, role: str, name: str) -> tuple[str, socketio.AsyncClient]:
        reply = await session.nurse.sio.call("consult:invite", {"role": role, "name": name}, timeout=30)
        token = expect_ok(reply, "invitation")["token"]
        sio, _ = await connect_client(session.url, token=token)
        participant_id = expect_ok(await sio.call("hello", {}, timeout=30), "hello")["participant_id"]
        return participant_id, sio

    async def add_invitees(self, consult_id: str, count: int) -> None:
        """Receive-only invitees (companions) join the consult; they count and do not decode."""
        session = self.sessions[consult_id]
        new: list[Member] = []
        for _ in range(count):
            participant_id, sio = await self._invitee(
                session, "companion", f"Acompañante {len(session.members)}"
            )
            new.append(Member(participant_id, sio, self._participant(participant_id, False, False)))
        session.members.extend(new)
        await asyncio.gather(*(self._join(m) for m in new))
        await self._flowing(session)

    async def late_join(self, consult_id: str) -> dict[str, float]:
        """An interpreter joins a running consult and decodes; timed from its ``media:offer``."""
        session = self.sessions[consult_id]
        participant_id, sio = await self._invitee(session, "interpreter", "Intérprete")
        media = self._participant(participant_id, False, True)
        publishers = session.publishers
        self._new_decode_errors()
        started = time.monotonic()
        await self._join(Member(participant_id, sio, media))
        answered = time.monotonic()
        decoded: dict[str, float] = {}
        connected = started
        deadline = started + 20
        while len(decoded) < len(publishers):
            now = time.monotonic()
            if connected == started and media.subscriber and media.subscriber.connectionState == "connected":
                connected = now
            for publisher in publishers - set(decoded):
                if media.by_participant.get(publisher) and media.by_participant[publisher].video_frames:
                    decoded[publisher] = now
            if now > deadline:
                raise TimeoutError("the late joiner decoded nothing in 20 s")
            await asyncio.sleep(0.002)
        video = [s for s in media.streams.values() if s.kind == "video"]
        first_packet = min((s.first_packet_at for s in video if s.first_packet_at), default=started)
        first_complete = max(s.frames[0][1] for s in video if s.frames) if video else started
        figures = {
            "first_frame_s": max(decoded.values()) - started,
            "answer_s": answered - started,
            "subscriber_offer_s": (media.first_offer_at or started) - started,
            "connected_s": connected - started,
            "first_packet_s": first_packet - started,
            "complete_frame_s": first_complete - started,
        }
        await asyncio.sleep(0.5)  # let it decode a little longer, to count errors
        figures["decode_errors"] = self._new_decode_errors()
        media.hanging_up = True
        await sio.call("consult:leave", {}, timeout=30)
        await media.close()
        await sio.disconnect()
        return figures

    async def end_consults(self, consult_ids: list[str] | None = None) -> None:
        """The nurse ends each consult (all of them by default); everyone hangs up."""
        for session in [
            s for s in self.sessions.values() if consult_ids is None or s.consult_id in consult_ids
        ]:
            del self.sessions[session.consult_id]
            for member in session.members:
                member.media.hanging_up = True
            try:
                await session.nurse.sio.call("consult:end", {"consult_id": session.consult_id}, timeout=30)
            except Exception:
                logging.getLogger(__name__).warning("ending consult %s failed", session.consult_id)
            for member in session.members:
                await member.media.close()
                await member.sio.disconnect()

    async def report(self, since: float, until: float) -> dict[str, Any]:
        """Frames sent and received around a window: publishers from 1 s before it (to identify
        frames), subscribers until ``GRACE`` after it."""
        publishers: dict[str, list[tuple[int, float]]] = {}
        audio_sent: dict[str, int] = {}
        streams: list[dict[str, Any]] = []
        members = [m for s in self.sessions.values() for m in s.members]
        for member in members:
            media = member.media
            if media.video is not None and media.audio is not None:
                publishers[member.participant_id] = [
                    (pts, t) for pts, t in media.video.sent if since - 1 <= t <= until
                ]
                media.video.sent = [(pts, t) for pts, t in media.video.sent if t > until - 2]
                audio_sent[member.participant_id] = sum(1 for t in media.audio.sent if since <= t <= until)
                media.audio.sent = [t for t in media.audio.sent if t > until - 2]
            for stream in media.streams.values():
                streams.append(stream.take(since, until))
        if self.direct is not None:
            _, _, video, count = self.direct
            publishers["direct"] = [(pts, t) for pts, t in video.sent if since - 1 <= t <= until]
            video.sent = [(pts, t) for pts, t in video.sent if t > until - 2]
            streams.append(count.take(since, until))
        return {
            "publishers": publishers,
            "audio_sent": audio_sent,
            "streams": streams,
            "decode_errors": self._new_decode_errors(),
            "tap_errors": sum(tap.errors for m in members for tap in m.media.taps),
        }

    async def close(self) -> None:
        await self.end_consults()
        if self.direct is not None:
            await self.direct[0].close()
            await self.direct[1].close()


def client_main(pipe: Connection, index: int) -> None:
    """Entry point of a load-generating process (spawned by the orchestrator)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    restrict_host_addresses(["127.0.0.1"])
    errors = DecodeErrors()
    logging.getLogger("aiortc.rtcrtpreceiver").addHandler(errors)
    asyncio.run(_client_loop(pipe, LoadClient(index, errors)))


async def _client_loop(pipe: Connection, client: LoadClient) -> None:
    loop = asyncio.get_running_loop()
    commands: dict[str, Callable[..., Awaitable[Any]]] = {
        "load": client.load,
        "open_consult": client.open_consult,
        "add_invitees": client.add_invitees,
        "late_join": client.late_join,
        "end_consults": client.end_consults,
        "report": client.report,
    }
    while True:
        message = await loop.run_in_executor(None, _receive, pipe)
        if message is None or message[0] == "exit":
            await client.close()
            return
        name, args = message
        try:
            pipe.send(("ok", await commands[name](*args)))
        except Exception:
            pipe.send(("error", traceback.format_exc()))


def _receive(pipe: Connection) -> Any:
    try:
        return pipe.recv()
    except EOFError:
        return None


# -- the server under test ---------------------------------------------------------------------------


def serve_main(forwarding: str, consults: int, media_workers: int | None) -> None:
    """Entry point of the server process: the real app, plus nurses and appointments to use."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(forwarding, consults, media_workers))


async def _serve(forwarding: str, consults: int, media_workers: int | None) -> None:
    from aiohttp import web

    from rooms.roles import Role
    from rooms.staff import StaffMember
    from web.app import SERVICES, create_app
    from web.config import Settings
    from web.demo import create_appointment_link

    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            port=0,
            database_url=f"sqlite+aiosqlite:///{Path(data) / 'records.sqlite3'}",
            media_host_addresses=("127.0.0.1",),
            media_forwarding=forwarding,
            secret_key=b"relay-benchmark-secret-key-0123456789abcdef",
            secret_key_is_ephemeral=False,
            log_level="WARNING",
            slot_capacity=consults,  # every consult is booked in the slot running now, in one unit
        )
        if media_workers is not None:
            settings = replace(settings, media_workers=media_workers)
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        services = app[SERVICES]
        password_hash = services.auth.hash_password(PASSWORD)
        appointments = []
        for index in range(consults):
            username = f"enfermera{index:03d}"
            await services.stores.staff.add(
                StaffMember(
                    f"staff-bench-{index:03d}", username, f"Enf. {index}", Role.NURSE, "UMF-1", password_hash
                )
            )
            consult_id, link = await create_appointment_link(services, url, f"Paciente {index}")
            token = parse_qs(urlsplit(link).fragment)["t"][0]
            appointments.append(
                {
                    "url": url,
                    "username": username,
                    "password": PASSWORD,
                    "consult_id": consult_id,
                    "token": token,
                }
            )
        print(
            json.dumps({"url": url, "media_workers": settings.media_workers, "consults": appointments}),
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_reader(sys.stdin.fileno(), stop.set)  # the orchestrator closing our stdin also stops us
        await stop.wait()
        await asyncio.wait_for(runner.cleanup(), timeout=20)


# -- the orchestrator's instruments ------------------------------------------------------------------

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


@dataclass
class CpuSample:
    """CPU time of a set of processes: per process from ``stat`` (10 ms ticks, includes threads
    that ended) and per thread from ``schedstat`` (nanoseconds, live threads only)."""

    process: dict[int, float]
    threads: dict[tuple[int, int], float]

    @classmethod
    def take(cls, pids: list[int]) -> CpuSample:
        process: dict[int, float] = {}
        threads: dict[tuple[int, int], float] = {}
        for pid in pids:
            try:
                fields = _stat_fields(pid)
                process[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICK
                for tid in os.listdir(f"/proc/{pid}/task"):
                    text = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text()
                    threads[(pid, int(tid))] = int(text.split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                continue
        return cls(process, threads)

    def since(self, start: CpuSample) -> dict[int, float]:
        """CPU seconds per process between two samples."""
        spent: dict[int, float] = {}
        for pid, total in self.process.items():
            mine = {key: value for key, value in self.threads.items() if key[0] == pid}
            before = {key: value for key, value in start.threads.items() if key[0] == pid}
            if set(before) <= set(mine):  # no thread ended: the precise per-thread figures add up
                spent[pid] = sum(value - before.get(key, 0.0) for key, value in mine.items())
            else:
                spent[pid] = total - start.process.get(pid, 0.0)
        return spent


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot: everything but idle and
    iowait, from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICK


@dataclass
class Server:
    mode: str
    process: subprocess.Popen[str]
    url: str
    media_workers: int
    consults: list[dict[str, Any]]
    log: Path
    used: int = 0

    def next_consult(self) -> dict[str, Any]:
        spec = self.consults[self.used]
        self.used += 1
        return spec

    def pids(self) -> list[int]:
        return descendants(self.process.pid)


def start_server(mode: str, consults: int, media_workers: int | None, log_dir: Path) -> subprocess.Popen[str]:
    log = log_dir / f"server-{mode}.log"
    command = [sys.executable, "-m", "bench.relay", "--serve", mode, "--consults", str(consults)]
    if media_workers is not None:
        command += ["--media-workers", str(media_workers)]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def server_ready(mode: str, process: subprocess.Popen[str], log_dir: Path) -> Server:
    assert process.stdout is not None
    line = process.stdout.readline()
    log = log_dir / f"server-{mode}.log"
    if not line:
        raise RuntimeError(f"the {mode} server did not start:\n{log.read_text()[-3000:]}")
    info = json.loads(line)
    return Server(mode, process, info["url"], info["media_workers"], info["consults"], log)


class ClientHandle:
    def __init__(self, index: int, context: Any) -> None:
        self.index = index
        self.pipe, child = context.Pipe(duplex=True)
        self.process: BaseProcess = context.Process(
            target=client_main, args=(child, index), name=f"relay-client-{index}", daemon=True
        )
        self.process.start()
        child.close()

    def send(self, name: str, *args: Any) -> None:
        self.pipe.send((name, args))

    def result(self, timeout: float = 120) -> Any:
        if not self.pipe.poll(timeout):
            raise TimeoutError(f"client {self.index} did not answer in {timeout} s")
        status, value = self.pipe.recv()
        if status != "ok":
            raise RuntimeError(f"client {self.index} failed:\n{value}")
        return value

    def call(self, name: str, *args: Any, timeout: float = 120) -> Any:
        self.send(name, *args)
        return self.result(timeout)

    def close(self) -> None:
        try:
            self.pipe.send(("exit", ()))
        except OSError:
            pass
        self.process.join(20)
        if self.process.is_alive():
            self.process.kill()


def call_all(clients: list[ClientHandle], calls: dict[int, tuple[str, tuple[Any, ...]]]) -> dict[int, Any]:
    """Run one command on several clients at once."""
    for index, (name, args) in calls.items():
        clients[index].send(name, *args)
    return {index: clients[index].result() for index in calls}


# -- windows and what they show ------------------------------------------------------------------


TOLERANCE = 3
"""Ticks a relay may shift a timestamp by: the re-encoder's time-base conversions round by one
or two (90 kHz); frames are at least 36 ms (3,240 ticks) apart, so this cannot confuse two."""


def identify(published: list[tuple[int, float]], received: list[tuple[int, float]]) -> int | None:
    """The constant between a subscriber's RTP timestamps and its publisher's, found by voting:
    each received frame pairs with the frames sent in the second before it arrived; only the
    true offset (give or take ``TOLERANCE``) collects a vote from nearly every received frame."""
    votes: Counter[int] = Counter()
    times = [t for _, t in published]
    sample = received[:: max(1, len(received) // 40)]
    for ts, arrived in sample:
        low, high = bisect.bisect_left(times, arrived - 1.0), bisect.bisect_right(times, arrived)
        for pts, _ in published[low:high]:
            votes[(ts - pts) & MASK32] += 1
    if not votes:
        return None
    best, count = max(
        (
            (offset, sum(votes.get((offset + d) & MASK32, 0) for d in range(-TOLERANCE, TOLERANCE + 1)))
            for offset in votes
        ),
        key=lambda pair: pair[1],
    )
    return best if count >= max(3, len(sample) // 2) else None


@dataclass
class Delivery:
    sent: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    unidentified: int = 0


def deliveries(reports: list[dict[str, Any]], since: float, until: float) -> tuple[Delivery, Delivery]:
    """Frames sent in the window and delivered complete, through the server and direct."""
    published: dict[str, list[tuple[int, float]]] = {}
    for report in reports:
        published.update(report["publishers"])
    relayed, direct = Delivery(), Delivery()
    for report in reports:
        for stream in report["streams"]:
            sent = published.get(stream["publisher"])
            if stream["kind"] != "video" or not sent:
                continue  # audio, or a receive-only participant's idle camera
            target = direct if stream["publisher"] == "direct" else relayed
            in_window = [(pts, t) for pts, t in sent if since <= t <= until]
            target.sent += len(in_window)
            offset = identify(sent, stream["frames"])
            if offset is None:
                target.unidentified += 1
                continue
            arrived = {ts: t for ts, t in stream["frames"]}
            for pts, t in in_window:
                for shift in range(-TOLERANCE, TOLERANCE + 1):
                    at = arrived.get((pts + offset + shift) & MASK32)
                    if at is not None:
                        target.delivered += 1
                        target.latencies.append(at - t)
                        break
    return relayed, direct


@dataclass
class Window:
    label: str
    size: int
    seconds: float
    server_cpu: float  # cores
    worker_max: float  # the busiest single server process, cores
    clients_cpu: float
    machine: float  # cores busy, whole machine
    relayed: Delivery
    direct: Delivery
    audio_expected: int  # packets sent in the window, times subscribers
    audio_received: int  # packets that arrived in the window
    decode_errors: int
    tap_errors: int

    @property
    def delivered_pct(self) -> float:
        return 100 * self.relayed.delivered / self.relayed.sent if self.relayed.sent else 0.0

    @property
    def audio_pct(self) -> float:
        return 100 * self.audio_received / self.audio_expected if self.audio_expected else 0.0

    @property
    def other_cpu(self) -> float:
        return max(0.0, self.machine - self.server_cpu - self.clients_cpu)

    def latency_ms(self, which: Delivery, fraction: float = 0.5) -> float:
        values = sorted(which.latencies)
        if not values:
            return float("nan")
        return 1000 * values[min(len(values) - 1, round(fraction * (len(values) - 1)))]

    @property
    def added_ms(self) -> float:
        return self.latency_ms(self.relayed) - self.latency_ms(self.direct)


class Bench:
    def __init__(self, args: argparse.Namespace, clients: list[ClientHandle]) -> None:
        self.args = args
        self.clients = clients

    def measure(self, server: Server, label: str, size: int) -> Window:
        pids = server.pids()
        client_pids = [c.process.pid for c in self.clients if c.process.pid is not None]
        server_start, clients_start = CpuSample.take(pids), CpuSample.take(client_pids)
        busy_start = machine_busy()
        since = time.monotonic()
        time.sleep(self.args.window)
        until = time.monotonic()
        server_end, clients_end = CpuSample.take(pids), CpuSample.take(client_pids)
        busy_end = machine_busy()
        time.sleep(GRACE + 0.1)
        reports = list(
            call_all(self.clients, {i: ("report", (since, until)) for i in range(len(self.clients))}).values()
        )
        wall = until - since
        spent = server_end.since(server_start)
        relayed, direct = deliveries(reports, since, until)
        audio_sent = {p: n for report in reports for p, n in report["audio_sent"].items()}
        audio = [
            s for r in reports for s in r["streams"] if s["kind"] == "audio" and s["publisher"] in audio_sent
        ]
        return Window(
            label=label,
            size=size,
            seconds=wall,
            server_cpu=sum(spent.values()) / wall,
            worker_max=max(spent.values(), default=0.0) / wall,
            clients_cpu=sum(clients_end.since(clients_start).values()) / wall,
            machine=(busy_end - busy_start) / wall,
            relayed=relayed,
            direct=direct,
            audio_expected=sum(audio_sent[s["publisher"]] for s in audio),
            audio_received=sum(s["audio"] for s in audio),
            decode_errors=sum(r["decode_errors"] for r in reports),
            tap_errors=sum(r["tap_errors"] for r in reports),
        )


def print_header(what: str) -> None:
    print(
        f"  {what:>3s}  server CPU (busiest process)   video frames delivered"
        "   latency med/p95 (direct)  added   audio   decode errors   machine busy: server/clients/other"
    )


def print_window(w: Window) -> None:
    relayed = f"{w.relayed.delivered}/{w.relayed.sent}"
    print(
        f"  {w.size:3d}  {100 * w.server_cpu:6.1f} %  ({100 * w.worker_max:5.1f} %)"
        f"   {relayed:>11s} = {w.delivered_pct:5.1f} %"
        f"  {w.latency_ms(w.relayed):6.1f}/{w.latency_ms(w.relayed, 0.95):5.1f} ms"
        f" ({w.latency_ms(w.direct):4.1f})"
        f"  {w.added_ms:5.1f} ms  {w.audio_pct:5.1f} %  {w.decode_errors:9d}"
        f"        {100 * w.machine:4.0f} %: {100 * w.server_cpu:3.0f}/{100 * w.clients_cpu:3.0f}"
        f"/{100 * w.other_cpu:3.0f} %"
    )
    if w.relayed.unidentified or w.tap_errors:
        print(f"       ({w.relayed.unidentified} streams not identified, {w.tap_errors} tap errors)")


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (size, cores)."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


@dataclass
class ModeResult:
    mode: str
    one_to_n: list[Window]
    consults: list[Window]
    late: list[dict[str, float]]

    def clean(self, windows: list[Window]) -> list[Window]:
        """Windows where the server kept up: >= 95 % delivered and no process at a full core."""
        return [w for w in windows if w.delivered_pct >= 95 and w.worker_max < 0.9]

    @property
    def per_subscriber(self) -> float:
        """Slope over the windows where the server kept up; if fewer than two did, over all of
        them (a starved server drops frames and spends less: the figure is then a lower bound)."""
        clean = self.clean(self.one_to_n)
        return slope([(w.size, w.server_cpu) for w in (clean if len(clean) >= 2 else self.one_to_n)])

    def per_consult(self, size: int | None) -> float:
        """Server cores per consult in the window with ``size`` consults."""
        pool = [w for w in self.consults if w.size == size]
        return pool[-1].server_cpu / pool[-1].size if pool else float("nan")

    @staticmethod
    def generated(window: Window) -> bool:
        """Whether the clients kept up, judged without the server: the direct pair (client to
        client, same processes) delivered >= 99 % with p95 < 50 ms, and server and clients
        together left a tenth of the cores. Starved clients drop and delay frames themselves."""
        direct = window.direct
        return (
            direct.sent > 0
            and direct.delivered >= 0.99 * direct.sent
            and window.latency_ms(direct, 0.95) < 50
            and window.server_cpu + window.clients_cpu < 0.9 * (os.cpu_count() or 1)
        )

    def largest_consults(self) -> Window | None:
        """The largest K the machine could generate cleanly (else the smallest measured)."""
        fine = [w for w in self.consults if self.generated(w)]
        return fine[-1] if fine else (self.consults[0] if self.consults else None)


def run_mode(bench: Bench, server: Server, plan: dict[str, Any]) -> ModeResult:
    args, clients = bench.args, bench.clients
    title = "packet forwarding (the product)" if server.mode == "packet" else "decode/re-encode (baseline)"
    print(f"\n{title}, {server.media_workers} media workers")
    result = ModeResult(server.mode, [], [], [])
    began = time.monotonic()

    # 1 -> N: everything in client 0; the patient decodes, invitees count.
    print(" 1 -> N subscribers (the nurse publishes; the patient decodes, the others count frames)")
    print_header("N")
    consult = clients[0].call("open_consult", server.next_consult(), False, True)
    joined = 1
    for size in plan["subscribers"]:
        if size > joined:
            clients[0].call("add_invitees", consult, size - joined)
            joined = size
        time.sleep(args.settle)
        window = bench.measure(server, "1->N", size)
        result.one_to_n.append(window)
        print_window(window)
    clients[0].call("end_consults")
    caveat = "" if len(result.clean(result.one_to_n)) >= 2 else " (the server did not keep up: a lower bound)"
    print(f"  server CPU per extra subscriber: {100 * result.per_subscriber:.2f} % of a core{caveat}")

    # K concurrent 1:1 consults, spread over the client processes.
    print(f" K concurrent 1:1 consults (both publish; {plan['decoders']} patients decode, the others count)")
    print_header("K")
    opened: list[tuple[int, str]] = []
    for size in plan["consults"]:
        calls: dict[int, list[tuple[str, tuple[Any, ...]]]] = {}
        for index in range(len(opened), size):
            spec = server.next_consult()
            calls.setdefault(index % len(clients), []).append(
                ("open_consult", (spec, True, index < plan["decoders"]))
            )
        # Each client opens its consults one after another, the clients in parallel.
        rounds = max((len(v) for v in calls.values()), default=0)
        for step in range(rounds):
            batch = {c: v[step] for c, v in calls.items() if step < len(v)}
            for client_index, value in call_all(clients, batch).items():
                opened.append((client_index, value))
        time.sleep(args.settle)
        window = bench.measure(server, "K", size)
        result.consults.append(window)
        print_window(window)
        if size != plan["consults"][-1] and not result.generated(window):
            print("  (stopping here: the clients could not keep up; see the direct path)")
            break
        if size != plan["consults"][-1] and window.delivered_pct < 97:
            print("  (stopping here: the server dropped frames)")
            break
    largest = result.largest_consults()
    if largest is not None:
        print(
            f"  server CPU per consult at K={largest.size}: {100 * largest.server_cpu / largest.size:.2f} %"
            " of a core"
        )

    # Late joiners: an interpreter joins one of the running consults, one at a time, at the
    # largest K the machine carried cleanly (not in a step where the load generators starved).
    if largest is not None and largest.size < len(opened):
        print(f"  (ending the consults beyond K={largest.size} before the late joiners)")
        extra = opened[largest.size :]
        del opened[largest.size :]
        ending: dict[int, list[str]] = {}
        for client_index, consult_id in extra:
            ending.setdefault(client_index, []).append(consult_id)
        call_all(clients, {c: ("end_consults", (ids,)) for c, ids in ending.items()})
        time.sleep(args.settle)
    for step in range(min(plan["late"], len(opened))):
        client_index, consult_id = opened[step]
        result.late.append(clients[client_index].call("late_join", consult_id))
    if result.late:
        times = [f"{late['first_frame_s']:.2f}" for late in result.late]
        middle = statistics.median(late["first_frame_s"] for late in result.late)
        print(
            f" late joiners (into consults at K={len(opened)}): first decoded frame of every publisher after"
        )
        errors = sum(int(late["decode_errors"]) for late in result.late)
        print(
            f"  {', '.join(times)} s (median {middle:.2f} s), {errors} decode errors;"
            " median breakdown from media:offer:"
        )
        for key, name in (
            ("answer_s", "answer"),
            ("subscriber_offer_s", "subscriber offer"),
            ("connected_s", "subscribing connection connected"),
            ("first_packet_s", "first video packet"),
            ("complete_frame_s", "complete frame from every publisher"),
        ):
            print(f"    {name:38s} {statistics.median(late[key] for late in result.late):.3f} s")
    call_all(clients, {i: ("end_consults", ()) for i in range(len(clients))})
    print(f" ({time.monotonic() - began:.0f} s)")
    return result


def plan_for(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    if args.quick:
        return {
            "packet": {"subscribers": [1, 4], "consults": [2, 4], "decoders": 2, "late": 3},
            "reencode": {"subscribers": [1, 3], "consults": [2], "decoders": 2, "late": 1},
        }
    return {
        "packet": {
            "subscribers": [1, 2, 4, 7],
            "consults": [1, 2, 4, 8, 12, 16, 20, 24, 28, 32],
            "decoders": 4,
            "late": 5,
        },
        "reencode": {"subscribers": [1, 2, 3, 4], "consults": [1, 2, 3], "decoders": 2, "late": 3},
    }


def ratio(baseline: float, product: float) -> float:
    return round(baseline / product, 1) if product > 0 else float("nan")


def finite(value: float, digits: int) -> float | None:
    """JSON has no NaN: a figure that could not be measured is null."""
    return round(value, digits) if value == value and abs(value) != float("inf") else None


def run(args: argparse.Namespace) -> dict[str, object]:
    began = time.monotonic()
    if not CLIP_PATH.exists():
        print(f"making the clip once: {CLIP_PATH}")
        make_clip(CLIP_PATH)
    plans = plan_for(args)
    most = max(plan["consults"][-1] for plan in plans.values()) + 1
    log_dir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    processes = {mode: start_server(mode, most, args.media_workers, log_dir) for mode in plans}
    context = multiprocessing.get_context("spawn")
    clients = [ClientHandle(index, context) for index in range(args.client_processes)]
    servers: dict[str, Server] = {}
    try:
        kbps = call_all(clients, {i: ("load", (str(CLIP_PATH), i == 0)) for i in range(len(clients))})[0]
        for mode, process in processes.items():
            servers[mode] = server_ready(mode, process, log_dir)
        print(
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, aiortc clients in {len(clients)}"
            f" processes, {args.window:g} s windows after {args.settle:g} s to settle"
            f" (servers and clients ready after {time.monotonic() - began:.0f} s)"
        )
        print(
            f"clip: {WIDTH}x{HEIGHT} VP8 {kbps:.0f} kbit/s at {FPS} fps, keyframe every"
            f" {GOP_FRAMES / FPS:.1f} s, + Opus 32 kbit/s, looped from {CLIP_PATH}"
        )
        bench = Bench(args, clients)
        results = {mode: run_mode(bench, servers[mode], plans[mode]) for mode in plans}
    finally:
        for client in clients:
            client.close()
        for process in processes.values():
            if process.stdin is not None and not process.stdin.closed:
                process.stdin.close()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return summarize(results, time.monotonic() - began, log_dir)


def summarize(results: dict[str, ModeResult], seconds: float, log_dir: Path) -> dict[str, object]:
    packet, reencode = results["packet"], results["reencode"]
    per_sub_ratio = ratio(reencode.per_subscriber, packet.per_subscriber)
    common = [w.size for w in reencode.consults if w.size in {p.size for p in packet.consults}]
    at = common[-1] if common else None
    per_consult_ratio = ratio(reencode.per_consult(at), packet.per_consult(at))
    largest = packet.largest_consults()
    assert largest is not None
    per_consult = largest.server_cpu / largest.size
    capacity = (os.cpu_count() or 1) * 0.85 / per_consult
    late = statistics.median(late["first_frame_s"] for late in packet.late) if packet.late else float("nan")
    clean = [w for w in packet.one_to_n + packet.consults if packet.generated(w)]
    starved_errors = sum(w.decode_errors for w in packet.one_to_n + packet.consults) - sum(
        w.decode_errors for w in clean
    )
    packet_errors = sum(w.decode_errors for w in clean) + sum(
        int(late["decode_errors"]) for late in packet.late
    )
    print("\nsummary")
    print(
        f"  server CPU per extra subscriber: packet {100 * packet.per_subscriber:.2f} %,"
        f" re-encode {100 * reencode.per_subscriber:.2f} % of a core: {per_sub_ratio}x less"
    )
    print(
        f"  server CPU per 1:1 consult at K={at}: packet {100 * packet.per_consult(at):.2f} %,"
        f" re-encode {100 * reencode.per_consult(at):.2f} % of a core: {per_consult_ratio}x less"
    )
    print(
        f"  consults at 85 % of {os.cpu_count()} cores: {capacity:.0f}"
        f" (from {100 * per_consult:.2f} % of a core per consult measured at K={largest.size},"
        f" {largest.delivered_pct:.2f} % of frames delivered, {largest.decode_errors} decode errors there)"
    )
    print(
        f"  late joiner's first frame: {late:.2f} s (median); decode errors (packet forwarding, whole"
        f" run): {packet_errors}"
        + (f", and {starved_errors} in steps where the clients could not keep up" if starved_errors else "")
    )
    print(f"  server logs: {log_dir}; run took {seconds:.0f} s")
    cores = os.cpu_count() or 1
    big = [w for w in packet.consults if w.size >= 16 and packet.generated(w)]
    held = [w for w in big if w.delivered_pct >= 99 and w.decode_errors == 0 and w.server_cpu < 0.85 * cores]
    if held:
        consults_goal = f"met (at K={held[-1].size})"
    elif big:
        consults_goal = f"NOT met (K={big[-1].size}: {big[-1].delivered_pct:.1f} % delivered)"
    else:
        consults_goal = (
            f"not shown (measured cleanly up to K={largest.size}; at that K the CPU"
            f" extrapolates to {capacity:.0f} consults)"
        )
    goals = [
        ("per extra subscriber >= 10x less than re-encoding", "met" if per_sub_ratio >= 10 else "NOT met"),
        ("per 1:1 consult >= 5x less", "met" if per_consult_ratio >= 5 else "NOT met"),
        (">= 16 consults at < 85 % CPU, >= 99 % delivered, no decode errors", consults_goal),
        ("late joiner's first frame < 0.5 s", "met" if late < 0.5 else "NOT met"),
    ]
    for name, verdict in goals:
        print(f"  goal {name}: {verdict}")
    return {
        "cpu_ratio_per_subscriber": finite(per_sub_ratio, 1),
        "cpu_ratio_per_consult": finite(per_consult_ratio, 1),
        "consults_at_85pct": round(capacity),
        "consults_measured": largest.size,
        "frames_delivered_pct": finite(largest.delivered_pct, 2),
        "decode_errors": packet_errors,
        "late_join_first_frame_s": finite(late, 3),
        "packet_cpu_pct_per_subscriber": finite(100 * packet.per_subscriber, 2),
        "reencode_cpu_pct_per_subscriber": finite(100 * reencode.per_subscriber, 2),
        "packet_cpu_pct_per_consult": finite(100 * per_consult, 2),
        "added_latency_ms": finite(
            statistics.median(w.added_ms for w in packet.one_to_n + packet.consults), 1
        ),
        "reencode_added_latency_ms": finite(
            statistics.median(w.added_ms for w in reencode.one_to_n + reencode.consults), 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps, 3 s windows: under a minute")
    parser.add_argument("--window", type=float, help="seconds per measurement window (10; 3 with --quick)")
    parser.add_argument("--settle", type=float, help="seconds to wait after joins (3; 1 with --quick)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--media-workers", type=int, help="server media workers (default: one per core)")
    parser.add_argument("--serve", choices=("packet", "reencode"), help=argparse.SUPPRESS)
    parser.add_argument("--consults", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_main(args.serve, args.consults, args.media_workers)
        return
    args.window = args.window or (3.0 if args.quick else 10.0)
    args.settle = args.settle if args.settle is not None else (1.0 if args.quick else 3.0)
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
