"""What the clients count and report: complete frames and audio packets at the RTP level, and
the decode errors of the subscribers that do decode.

Decoding 640x480 for every subscriber would starve the server of CPU, so most subscribers only
look at packets (through ``media.aiortc_seam.ReceiverTap``) and the orchestrator matches them
against what the publishers sent (``ClientReport``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiortc.rtp import RtpPacket

GRACE = 0.5  # a frame arriving later than this after the window counts as not delivered


class DecodeErrors(logging.Handler):
    """Counts aiortc's "failed to decode" warnings (its decoder threads log and carry on)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            self.count += 1


@dataclass(frozen=True)
class StreamReport:
    """One subscription's arrivals around a window, sent from a client process to the orchestrator."""

    subscriber: str
    publisher: str
    kind: str
    frames: list[tuple[int, float]]  # (RTP timestamp, arrival) of complete video frames
    audio: int  # audio packets that arrived in the window
    video_packets: int  # video packets that arrived in the window


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
        self.video: list[float] = []  # arrival of every video packet
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
        self.video.append(now)
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

    def take(self, since: float, until: float) -> StreamReport:
        """Video frames that arrived from 1 s before the window to ``GRACE`` after it (the
        orchestrator picks those sent in the window); audio packets that arrived in it."""
        frames = [(ts, t) for ts, t in self.frames if since - 1 <= t <= until + GRACE]
        audio = sum(1 for t in self.audio if since <= t <= until)
        video = sum(1 for t in self.video if since <= t <= until)
        self.frames = [(ts, t) for ts, t in self.frames if t > until - 2]
        self.audio = [t for t in self.audio if t > until - 2]
        self.video = [t for t in self.video if t > until - 2]
        return StreamReport(self.subscriber, self.publisher, self.kind, frames, audio, video)


@dataclass(frozen=True)
class ClientReport:
    """What one client process sent and received around a window."""

    publishers: dict[str, list[tuple[int, float]]]  # (RTP timestamp, send time) by publisher
    audio_sent: dict[str, int]  # audio packets sent in the window, by publisher
    streams: list[StreamReport]
    decode_errors: int
    tap_errors: int
