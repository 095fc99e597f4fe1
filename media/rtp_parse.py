"""RTP parsing for the per-packet path: aiortc's ``RtpPacket.parse``, result for result, in fewer steps.

aiortc's parser builds a packet through its keyword constructor, which makes a ``HeaderExtensions``
that the header-extension map then replaces with another, and unpacks the header with three
``struct`` calls on sliced copies. A media worker parses every packet it receives, so
:func:`parse_rtp` fills the same ``RtpPacket`` attributes directly, with one precompiled unpack
and one ``HeaderExtensions``. It raises ``ValueError`` for exactly the packets aiortc's parser
refuses (``tests/media/test_rtp_parse.py`` runs both on random and mutated packets).
"""

from __future__ import annotations

from struct import Struct
from typing import Final

from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

_FIXED: Final = Struct("!BBHLL")
_EXTENSION_HEADER: Final = Struct("!HH")
_FIXED_LENGTH: Final = 12


def parse_rtp(data: bytes, extensions_map: HeaderExtensionsMap) -> RtpPacket:
    """``RtpPacket.parse(data, extensions_map)``, the same packet or the same refusal."""
    size = len(data)
    if size < _FIXED_LENGTH:
        raise ValueError(f"RTP packet length is less than {_FIXED_LENGTH} bytes")
    first, marker_and_type, sequence_number, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != 2:
        raise ValueError("RTP packet has invalid version")
    csrc_count = first & 0x0F
    position = _FIXED_LENGTH + 4 * csrc_count
    if size < position:
        raise ValueError("RTP packet has truncated CSRC")

    packet = RtpPacket.__new__(RtpPacket)
    packet.version = 2
    packet.marker = marker_and_type >> 7
    packet.payload_type = marker_and_type & 0x7F
    packet.sequence_number = sequence_number
    packet.timestamp = timestamp
    packet.ssrc = ssrc
    packet.csrc = list(Struct(f"!{csrc_count}L").unpack_from(data, _FIXED_LENGTH)) if csrc_count else []

    if first & 0x10:
        if size < position + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        profile, length = _EXTENSION_HEADER.unpack_from(data, position)
        position += 4
        end = position + 4 * length
        if size < end:
            raise ValueError("RTP packet has truncated extension value")
        packet.extensions = extensions_map.get(profile, data[position:end])
        position = end
    else:
        packet.extensions = HeaderExtensions()

    if first & 0x20:
        padding = data[-1]
        if not padding or padding > size - position:
            raise ValueError("RTP packet padding length is invalid")
        packet.padding_size = padding
        packet.payload = data[position:-padding]
    else:
        packet.padding_size = 0
        packet.payload = data[position:]
    return packet
