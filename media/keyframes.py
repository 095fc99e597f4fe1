"""Reading just enough of an RTP payload to forward it safely: is it well formed, does it start a keyframe.

A subscriber that joins (or switches source, or resumes) must not be given delta frames before a
keyframe: its decoder has nothing to apply them to, shows garbage or errors, and a browser answers
with more keyframe requests. So the forwarder holds a subscriber back until a packet that *starts*
a keyframe goes by. It must also drop payloads too short to be what they claim, so a broken
publisher cannot make the server read past a buffer or hand a decoder a truncated header.

Only the first bytes of a payload are read and nothing is allocated: this runs for every packet.

Formats:
- VP8, RFC 7741: payload descriptor, then the VP8 payload header whose P bit is 0 on keyframes; a
  keyframe also carries the start code 9d 01 2a, which we check so garbage does not pass as one.
- H.264, RFC 6184 (packetization-mode 1, what browsers use): single NAL units (types 1-23),
  STAP-A (24) and FU-A (28). A keyframe starts with SPS (7) [+ PPS (8)] and an IDR slice (5).
- Opus and other audio: every packet decodes on its own, so every packet is a "keyframe".
- RED (RFC 2198, :mod:`media.red`): the same, once its block headers hold together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from media import red

INVALID: Final = -1
DELTA: Final = 0
KEY_START: Final = 1

# Classifier signature: (payload, frame_start) -> INVALID | DELTA | KEY_START.
# ``frame_start`` says whether this packet's RTP timestamp differs from the previous packet's, i.e.
# the packet begins a new frame; H.264 needs it to tell the first packet of an IDR frame.
Classifier = Callable[[bytes, bool], int]

_VP8_START_CODE: Final = b"\x9d\x01\x2a"

_NAL_IDR: Final = 5
_NAL_SPS: Final = 7
_NAL_STAP_A: Final = 24
_NAL_FU_A: Final = 28


def vp8_descriptor_length(payload: bytes) -> int:
    """Length of the VP8 payload descriptor, or -1 if the payload is too short to hold it and data."""
    size = len(payload)
    if size < 2:
        return -1
    first = payload[0]
    pos = 1
    if first & 0x80:  # X: extended control bits follow
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: PictureID, 7 or 15 bits
            if size <= pos:
                return -1
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX byte
            pos += 1
    return pos if pos < size else -1


def classify_vp8(payload: bytes, frame_start: bool) -> int:
    """Classify a VP8 RTP payload. A keyframe starts at S=1, PID=0 with P=0 and the start code."""
    pos = vp8_descriptor_length(payload)
    if pos < 0:
        return INVALID
    if (payload[0] & 0x17) != 0x10:  # S set and partition index 0: first packet of a frame
        return DELTA
    if payload[pos] & 0x01:  # P (inverse keyframe flag) set: interframe
        return DELTA
    # Keyframe header: 3-byte frame tag, 3-byte start code, 2+2 bytes of size.
    if len(payload) < pos + 10 or payload[pos + 3 : pos + 6] != _VP8_START_CODE:
        return INVALID
    return KEY_START


def classify_h264(payload: bytes, frame_start: bool) -> int:
    """Classify an H.264 RTP payload (packetization-mode 1).

    A packet carrying an SPS starts a keyframe (browsers send SPS/PPS in-band before every IDR, as
    a STAP-A or single NALs). An IDR slice without SPS counts only when it begins the frame, for
    encoders that send parameter sets out of band; otherwise we would start mid-frame after the SPS.
    """
    size = len(payload)
    if size < 2:
        return INVALID
    header = payload[0]
    if header & 0x80:  # forbidden_zero_bit
        return INVALID
    nal_type = header & 0x1F
    if nal_type == _NAL_FU_A:
        fu_header = payload[1]
        if size < 3:
            return INVALID
        if not fu_header & 0x80:  # not the first fragment
            return DELTA
        inner = fu_header & 0x1F
        if inner == _NAL_SPS or (inner == _NAL_IDR and frame_start):
            return KEY_START
        return DELTA
    if nal_type == _NAL_STAP_A:
        pos = 1
        has_idr = False
        while pos < size:
            if pos + 2 > size:
                return INVALID
            length = (payload[pos] << 8) | payload[pos + 1]
            pos += 2
            if length == 0 or pos + length > size:
                return INVALID
            inner = payload[pos] & 0x1F
            if inner == _NAL_SPS:
                return KEY_START
            has_idr = has_idr or inner == _NAL_IDR
            pos += length
        return KEY_START if has_idr and frame_start else DELTA
    if 1 <= nal_type <= 23:
        if nal_type == _NAL_SPS or (nal_type == _NAL_IDR and frame_start):
            return KEY_START
        return DELTA
    # 0, 25-27 (STAP-B, MTAP), 29 (FU-B), 30-31: not sent by browsers in mode 1.
    return INVALID


def classify_audio(payload: bytes, frame_start: bool) -> int:
    """Audio frames (Opus, G.711, G.722) decode independently: any non-empty packet may start a stream."""
    return KEY_START if payload else INVALID


def classify_red(payload: bytes, frame_start: bool) -> int:
    """RED audio (RFC 2198) is valid when its blocks are and its primary frame is not empty."""
    return KEY_START if red.primary(payload) is not None else INVALID


@dataclass(frozen=True, slots=True)
class CodecTraits:
    """What forwarding needs to know about a codec: its clock, whether it is video, how to classify."""

    name: str
    clock_rate: int
    is_video: bool
    classify: Classifier


def traits_for(mime_type: str, clock_rate: int) -> CodecTraits | None:
    """Traits of a codec we can forward, or None (e.g. ``video/rtx``, which is unwrapped earlier)."""
    kind, _, name = mime_type.lower().partition("/")
    if kind == "video":
        if name == "vp8":
            return CodecTraits("vp8", clock_rate, True, classify_vp8)
        if name == "h264":
            return CodecTraits("h264", clock_rate, True, classify_h264)
        return None
    if kind == "audio":
        return CodecTraits(name, clock_rate, False, classify_red if name == "red" else classify_audio)
    return None
