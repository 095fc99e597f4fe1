"""Payload classification and per-subscriber rewriting, checked against aiortc's own RTP parser."""

from __future__ import annotations

import random
import struct

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx

from media.aiortc_seam import NegotiatedCodec
from media.keyframes import DELTA, INVALID, KEY_START, classify_audio, classify_h264, classify_vp8, traits_for
from media.rtp_forwarding import _OutgoingStream, match_codec
from media.rtp_rewrite import (
    HeaderExtensionIds,
    HeaderWriter,
    RetransmissionCache,
    SequenceMapper,
    rtp_header_length,
    wrap_rtx,
)

VP8_KEY_HEADER = bytes([0x50, 0x01, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])  # P=0, start code
VP8_DELTA_HEADER = bytes([0x51, 0x01, 0x00, 0x00, 0x00, 0x00])  # P=1


def vp8(descriptor: bytes, data: bytes) -> bytes:
    return descriptor + data


@pytest.mark.parametrize(
    "descriptor",
    [
        bytes([0x10]),  # S=1, PID=0, no extension
        bytes([0x90, 0x80, 0x12]),  # X, I with 7-bit PictureID
        bytes([0x90, 0x80, 0x81, 0x23]),  # X, I with 15-bit PictureID (as aiortc and Chrome send)
        bytes([0x90, 0xF0, 0x81, 0x23, 0x05, 0x40]),  # X, I, L, T, K
    ],
)
def test_vp8_keyframe_start_is_found_behind_any_descriptor(descriptor: bytes) -> None:
    assert classify_vp8(vp8(descriptor, VP8_KEY_HEADER + b"data"), True) == KEY_START
    assert classify_vp8(vp8(descriptor, VP8_DELTA_HEADER), True) == DELTA
    continuation = bytes([descriptor[0] & ~0x10]) + descriptor[1:]
    assert classify_vp8(vp8(continuation, VP8_KEY_HEADER), False) == DELTA  # S=0: not a frame start
    other_partition = bytes([descriptor[0] | 0x01]) + descriptor[1:]
    assert classify_vp8(vp8(other_partition, VP8_KEY_HEADER), False) == DELTA


def test_vp8_rejects_truncated_payloads_and_fake_keyframes() -> None:
    assert classify_vp8(b"", True) == INVALID
    assert classify_vp8(bytes([0x10]), True) == INVALID  # descriptor without data
    assert classify_vp8(bytes([0x90, 0x80]), True) == INVALID  # PictureID missing
    assert classify_vp8(bytes([0x90, 0x80, 0x81]), True) == INVALID  # long PictureID cut
    assert classify_vp8(bytes([0x10, 0x00, 0x00, 0x00, 0x11, 0x22, 0x33, 0, 0, 0, 0]), True) == INVALID


def test_h264_keyframe_starts_at_parameter_sets_or_a_frame_initial_idr() -> None:
    sps, pps, idr, slice_ = b"\x67\x42\x00\x1f", b"\x68\xce\x3c\x80", b"\x65\x88\x84", b"\x41\x9a\x02"

    def stap_a(*units: bytes) -> bytes:
        return b"\x18" + b"".join(struct.pack("!H", len(u)) + u for u in units)

    assert classify_h264(stap_a(sps, pps), True) == KEY_START
    assert classify_h264(stap_a(sps, pps, idr), False) == KEY_START
    assert classify_h264(sps, False) == KEY_START
    assert classify_h264(idr, True) == KEY_START
    assert classify_h264(idr, False) == DELTA  # an IDR that follows its SPS in the same frame
    fu_a_idr_start = bytes([0x7C, 0x85]) + b"\x88\x84"
    assert classify_h264(fu_a_idr_start, True) == KEY_START
    assert classify_h264(fu_a_idr_start, False) == DELTA
    assert classify_h264(bytes([0x7C, 0x05]) + b"\x88", True) == DELTA  # FU-A continuation
    assert classify_h264(slice_, True) == DELTA
    assert classify_h264(stap_a(slice_, slice_), True) == DELTA
    assert classify_h264(b"\x18\x00\x09\x67", True) == INVALID  # STAP-A length beyond the payload
    assert classify_h264(b"\x18\x00", True) == INVALID
    assert classify_h264(b"\x7c\x85", True) == INVALID  # FU-A without data
    assert classify_h264(b"\x19\x00\x00", True) == INVALID  # STAP-B: not used by browsers
    assert classify_h264(b"\xe5\x00", True) == INVALID  # forbidden bit set
    assert classify_h264(b"\x65", True) == INVALID


def test_no_payload_makes_a_classifier_raise() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        payload = rng.randbytes(rng.randrange(0, 24))
        frame_start = rng.random() < 0.5
        assert classify_vp8(payload, frame_start) in (INVALID, DELTA, KEY_START)
        assert classify_h264(payload, frame_start) in (INVALID, DELTA, KEY_START)
        assert classify_audio(payload, frame_start) in (INVALID, KEY_START)


def test_codec_traits() -> None:
    vp8_traits = traits_for("video/VP8", 90000)
    assert vp8_traits is not None and vp8_traits.is_video and vp8_traits.classify is classify_vp8
    opus = traits_for("audio/opus", 48000)
    assert opus is not None and not opus.is_video
    assert traits_for("video/rtx", 90000) is None
    assert traits_for("video/AV1", 90000) is None


def extensions_map(ids: HeaderExtensionIds) -> HeaderExtensionsMap:
    extensions = []
    for x_id, uri in (
        (ids.mid, "urn:ietf:params:rtp-hdrext:sdes:mid"),
        (ids.abs_send_time, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
        (ids.audio_level, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
    ):
        if x_id is not None:
            extensions.append(RTCRtpHeaderExtensionParameters(id=x_id, uri=uri))
    parsed = HeaderExtensionsMap()
    parsed.configure(RTCRtpParameters(headerExtensions=extensions))
    return parsed


@pytest.mark.parametrize(
    "ids",
    [
        HeaderExtensionIds(mid=1, abs_send_time=3, audio_level=2),
        HeaderExtensionIds(mid=4, abs_send_time=None, audio_level=None),
        HeaderExtensionIds(),
        HeaderExtensionIds(mid=15, abs_send_time=3, audio_level=2),  # id 15+: two-byte form
    ],
)
def test_header_writer_produces_what_aiortc_parses(ids: HeaderExtensionIds) -> None:
    writer = HeaderWriter(0xDEADBEEF, "1", ids, audio_level=True)
    packets = []
    for seq, ts, ast, level in ((65535, 0xFFFFFFFF, 0xFFFFFF, 0xFF), (0, 1, 0, 3), (7, 9000, 0x123456, 0x80)):
        data = writer.write(0x80 | 111, seq, ts, ast, level, b"payload")
        packets.append(data)
        packet = RtpPacket.parse(data, extensions_map(ids))
        assert (packet.marker, packet.payload_type, packet.sequence_number) == (1, 111, seq)
        assert (packet.timestamp, packet.ssrc, packet.payload) == (ts, 0xDEADBEEF, b"payload")
        assert packet.extensions.mid == ("1" if ids.mid else None)
        assert packet.extensions.abs_send_time == (ast if ids.abs_send_time else None)
        expected_level = (bool(level & 0x80), level & 0x7F) if ids.audio_level else None
        assert packet.extensions.audio_level == expected_level
        assert rtp_header_length(data) == writer.header_length == len(data) - len(b"payload")
    assert len(set(packets)) == 3  # each packet is its own bytes object, not a view of the buffer


def test_sequence_mapping_stays_continuous_across_restarts_and_wraps() -> None:
    mapper = SequenceMapper(90000)
    mapper.last_sequence, mapper.last_timestamp = 65534, 0xFFFFFF00

    def send(seq: int, ts: int, now: float) -> tuple[int, int]:
        out = ((seq + mapper.seq_offset) & 0xFFFF, (ts + mapper.ts_offset) & 0xFFFFFFFF)
        if ((out[0] - mapper.last_sequence) & 0xFFFF) < 0x8000:
            mapper.last_sequence, mapper.last_timestamp, mapper.last_sent_at = out[0], out[1], now
        return out

    mapper.restart(1000, 50_000, now=10.0, clock_rate=90000)
    assert send(1000, 50_000, 10.0) == (65535, 0xFFFFFF00)  # the very first packet: no time passed
    assert send(1001, 53_000, 10.033) == (0, (0xFFFFFF00 + 3000) & 0xFFFFFFFF)
    # Switch to another source whose numbers have nothing to do with the first one's, 2 s later.
    mapper.restart(40_000, 7, now=12.033, clock_rate=90000)
    assert mapper.is_before_start(39_999) and not mapper.is_before_start(40_001)
    seq, ts = send(40_000, 7, 12.033)
    assert seq == 1
    assert ts == (0xFFFFFF00 + 3000 + 2 * 90000) & 0xFFFFFFFF
    # A packet dropped on purpose leaves no hole; older packets lose their place.
    assert send(40_001, 7, 12.04) == (2, ts)
    mapper.skip(40_002)
    assert send(40_003, 3007, 12.07) == (3, ts + 3000)
    assert mapper.is_before_start(40_001)
    mapper.skip(39_000)  # from before the start: nothing to close
    assert send(40_004, 3007, 12.07) == (4, ts + 3000)


def test_retransmission_cache_and_rtx_round_trip() -> None:
    with pytest.raises(ValueError):
        RetransmissionCache(100)
    cache = RetransmissionCache(4)
    writer = HeaderWriter(1234, "0", HeaderExtensionIds(mid=1, abs_send_time=3), audio_level=False)
    first = writer.write(96, 10, 900, 5, -1, b"\x10abc")
    cache.put(10, first)
    assert cache.get(10) == first
    assert cache.get(14) is None  # same slot, other sequence number
    cache.put(14, writer.write(96, 14, 900, 5, -1, b"later"))
    assert cache.get(10) is None
    rtx = wrap_rtx(first, payload_type=97, sequence_number=555, ssrc=4321)
    parsed = RtpPacket.parse(rtx, extensions_map(HeaderExtensionIds(mid=1, abs_send_time=3)))
    assert (parsed.payload_type, parsed.sequence_number, parsed.ssrc) == (97, 555, 4321)
    original = unwrap_rtx(parsed, payload_type=96, ssrc=1234)
    assert (original.sequence_number, original.timestamp, original.payload) == (10, 900, b"\x10abc")
    cache.clear()
    assert cache.get(14) is None


def test_subscriber_codec_is_matched_by_format_not_payload_type() -> None:
    def codec(pt: int, mime: str, **parameters: object) -> NegotiatedCodec:
        return NegotiatedCodec(pt, mime, 90000, parameters, pt + 1)

    offered = (
        codec(100, "video/VP8"),
        codec(102, "video/H264", **{"packetization-mode": "1", "profile-level-id": "42001f"}),
        codec(104, "video/H264", **{"packetization-mode": "1", "profile-level-id": "42e01f"}),
        codec(106, "video/H264", **{"packetization-mode": "0", "profile-level-id": "42e01f"}),
    )
    mode1 = {"packetization-mode": "1"}
    assert match_codec(offered, "video/vp8", 90000, {}) == offered[0]
    assert match_codec(offered, "video/H264", 90000, {**mode1, "profile-level-id": "42e01f"}) == offered[2]
    assert match_codec(offered, "video/H264", 90000, {**mode1, "profile-level-id": "42e034"}) == offered[1]
    assert match_codec(offered, "video/H264", 90000, {**mode1, "profile-level-id": "640c1f"}) is None
    assert match_codec(offered[:1], "video/H264", 90000, mode1) is None
    assert match_codec(offered, "video/VP8", 48000, {}) is None


def test_holes_are_matched_with_the_numbers_a_receiver_report_covers() -> None:
    stream = _OutgoingStream("audio", 16)
    stream.note_gap(0xFFF0, 2)  # 0xFFEE and 0xFFEF never came from the publisher
    stream.note_gap(5, 3)  # nor 2-4, just after the numbers wrapped
    assert stream.holes_through(0xFFEF) == 0  # a report written before 0xFFF0 was sent knows of neither
    assert stream.holes_through(0xFFF5) == 2
    assert stream.holes_through(3) == 2
    assert stream.holes_through(10) == 5
    stream.fills += 1  # one came late, after all
    assert stream.holes_through(10) == 4
