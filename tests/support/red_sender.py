"""An aiortc publisher that sends its microphone the way Chromium does with RED (RFC 2198).

aiortc can neither negotiate nor send ``audio/red``, so this one does both by hand: its offer
names RED first on the audio line (``a=rtpmap:63 red/48000/2``, ``a=fmtp:63 96/96``, as Chromium
writes it over its own Opus number), and once the server's answer puts RED first it sends each
20 ms Opus frame of a 440 Hz tone with the previous frame as a redundant block, as RTP packets
written through the forwarding seam's :class:`~media.aiortc_seam.SenderPort`. If the answer has
no RED, it sends plain Opus, as Chromium would. Test code only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import re

import numpy as np
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.rtp import RtpPacket
from av import AudioFrame

from media.aiortc_seam import SenderPort

FRAME_SAMPLES = 960  # 20 ms at 48 kHz
TONE_HZ = 440


def _tone(index: int) -> AudioFrame:
    t = (np.arange(FRAME_SAMPLES) + index * FRAME_SAMPLES) / 48000
    mono = (8000 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)
    frame = AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = 48000
    frame.pts = index * FRAME_SAMPLES
    frame.time_base = fractions.Fraction(1, 48000)
    return frame


def with_red_first(sdp: str, red_payload_type: int = 63) -> str:
    """``sdp`` with ``red/48000/2`` over the audio line's Opus added as its first payload type."""
    opus = re.search(r"a=rtpmap:(\d+) opus/48000/2", sdp)
    assert opus is not None, "no Opus to carry"
    lines: list[str] = []
    for line in sdp.splitlines():
        if line.startswith("m=audio "):
            fields = line.split()
            line = " ".join([*fields[:3], str(red_payload_type), *fields[3:]])
        lines.append(line)
        if line == f"a=rtpmap:{opus.group(1)} opus/48000/2":
            pt, inner = red_payload_type, opus.group(1)
            lines += [f"a=rtpmap:{pt} red/48000/2", f"a=fmtp:{pt} {inner}/{inner}"]
    return "\r\n".join(lines) + "\r\n"


def _red(payload_type: int, previous: bytes, primary: bytes) -> bytes:
    """RFC 2198 by hand: the previous frame (960 ticks earlier) in full, then the primary."""
    if not previous:
        return bytes([payload_type]) + primary
    header = (0x80 | payload_type) << 24 | 960 << 10 | len(previous)
    return header.to_bytes(4, "big") + bytes([payload_type]) + previous + primary


def first_audio_payload(sdp: str) -> tuple[int, str]:
    """The first payload type of the audio line and its encoding name (lower case)."""
    line = next(line for line in sdp.splitlines() if line.startswith("m=audio "))
    payload_type = int(line.split()[3])
    name = re.search(rf"a=rtpmap:{payload_type} ([^/]+)/", sdp)
    assert name is not None
    return payload_type, name.group(1).lower()


class RedPublisher:
    """Publishes one microphone (a tone) with RED when the server agrees to it."""

    def __init__(self) -> None:
        self.connection = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self._transceiver = self.connection.addTransceiver("audio", direction="sendonly")
        self._port = SenderPort(self._transceiver, lambda: None, self._ignore_nack)
        self.sent_red = 0
        self.sent_plain = 0
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    async def _ignore_nack(sequence_number: int) -> None:
        return None

    async def offer(self) -> dict[str, object]:
        offer = await self.connection.createOffer()
        sdp = with_red_first(offer.sdp)
        await self.connection.setLocalDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        return {"type": "offer", "sdp": sdp, "sources": {self._transceiver.mid: "microphone"}}

    async def accept(self, answer: dict[str, str]) -> None:
        await self.connection.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        payload_type, name = first_audio_payload(answer["sdp"])
        if name == "red":
            opus = re.search(rf"a=fmtp:{payload_type} (\d+)/", answer["sdp"])
            assert opus is not None
            self._task = asyncio.ensure_future(self._send(payload_type, int(opus.group(1))))
        else:
            self._task = asyncio.ensure_future(self._send(None, payload_type))

    async def _send(self, red_payload_type: int | None, opus_payload_type: int) -> None:
        while not self._port.ready:
            await asyncio.sleep(0.02)
        encoder = OpusEncoder()
        previous = b""
        sequence = 1000
        for index in range(1_000_000):
            payloads, timestamp = encoder.encode(_tone(index))
            for frame in payloads:
                payload_type, payload = opus_payload_type, frame
                if red_payload_type is not None:
                    payload_type, payload = red_payload_type, _red(opus_payload_type, previous, frame)
                packet = RtpPacket(payload_type, 0, sequence, timestamp, self._port.ssrc, payload)
                self.sent_plain += red_payload_type is None
                self.sent_red += red_payload_type is not None
                previous = frame
                sequence = (sequence + 1) & 0xFFFF
                with contextlib.suppress(ConnectionError):
                    await self._port.send(packet.serialize())
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._port.close()
        await self.connection.close()
