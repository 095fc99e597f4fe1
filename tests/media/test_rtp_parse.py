"""media/rtp_parse.py parses what aiortc's RtpPacket.parse parses, and refuses what it refuses."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp_parse import parse_rtp

BROWSER_EXTENSIONS = HeaderExtensionsMap()
BROWSER_EXTENSIONS.configure(
    RTCRtpParameters(
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
            RTCRtpHeaderExtensionParameters(
                id=2, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            ),
            RTCRtpHeaderExtensionParameters(
                id=3,
                uri="http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            ),
            RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        ]
    )
)


def fields(packet: RtpPacket) -> dict[str, object]:
    return {name: value for name, value in vars(packet).items() if name != "extensions"} | {
        "extensions": vars(packet.extensions)
    }


def outcome(parse: object, data: bytes) -> object:
    """The packet's fields, or the type of what the parser raised (a header extension of the
    wrong length for its reader raises struct.error in both)."""
    try:
        return fields(parse(data, BROWSER_EXTENSIONS))  # type: ignore[operator]
    except Exception as refusal:
        return type(refusal)


def well_formed(
    payload_type: int,
    marker: int,
    sequence: int,
    timestamp: int,
    csrcs: list[int],
    extensions: bytes | None,
    padding: int,
    payload: bytes,
) -> bytes:
    first = 0x80 | (0x20 if padding else 0) | (0x10 if extensions is not None else 0) | len(csrcs)
    data = struct.pack("!BBHLL", first, (marker << 7) | payload_type, sequence, timestamp, 0xABCDEF)
    data += b"".join(struct.pack("!L", csrc) for csrc in csrcs)
    if extensions is not None:
        body = extensions + bytes(-len(extensions) % 4)
        data += struct.pack("!HH", 0xBEDE, len(body) // 4) + body
    data += payload
    if padding:
        data += bytes(padding - 1) + bytes([padding])
    return data


ONE_BYTE_EXTENSION = st.builds(
    lambda ext_id, value: bytes([(ext_id << 4) | (len(value) - 1)]) + value,
    st.integers(min_value=1, max_value=14),
    st.binary(min_size=1, max_size=4),
)
PACKETS = st.builds(
    well_formed,
    st.integers(min_value=0, max_value=127),
    st.integers(min_value=0, max_value=1),
    st.integers(min_value=0, max_value=0xFFFF),
    st.integers(min_value=0, max_value=0xFFFFFFFF),
    st.lists(st.integers(min_value=0, max_value=0xFFFFFFFF), max_size=3),
    st.none() | st.lists(ONE_BYTE_EXTENSION, max_size=4).map(b"".join),
    st.integers(min_value=0, max_value=8),
    st.binary(max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(data=PACKETS)
def test_a_well_formed_packet_parses_to_the_same_fields(data: bytes) -> None:
    assert outcome(parse_rtp, data) == outcome(RtpPacket.parse, data)


@settings(max_examples=600, deadline=None)
@given(
    data=PACKETS,
    cut=st.integers(min_value=0, max_value=80),
    flips=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=3),
)
def test_a_damaged_packet_gets_the_same_outcome(data: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    damaged = bytearray(data[: max(0, len(data) - cut)])
    for position, value in flips:
        if position < len(damaged):
            damaged[position] = value
    assert outcome(parse_rtp, bytes(damaged)) == outcome(RtpPacket.parse, bytes(damaged))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_random_bytes_get_the_same_outcome(data: bytes) -> None:
    assert outcome(parse_rtp, data) == outcome(RtpPacket.parse, data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80" * 11, b"\x40" + bytes(11), b"\x83" + bytes(11), b"\xa0" + bytes(11), b"\x90" + bytes(13)],
    ids=["empty", "short", "version 1", "truncated CSRC", "padding zero", "truncated extension"],
)
def test_malformed_packets_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        RtpPacket.parse(data, BROWSER_EXTENSIONS)
    with pytest.raises(ValueError):
        parse_rtp(data, BROWSER_EXTENSIONS)
