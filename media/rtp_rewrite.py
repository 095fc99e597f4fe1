"""Per-subscriber RTP rewriting: one continuous outgoing stream whatever the sources behind it.

A subscriber's sender has its own SSRC, payload type numbers and header extension ids (all from
its own negotiation), so every forwarded packet gets a new header. Its sequence numbers and
timestamps must also be continuous: when the subscriber switches to another publisher, pauses or
resumes, the receiver must see neither a jump (its jitter buffer would wait for thousands of
"lost" packets, or think time went backwards) nor a reset. So the outgoing numbers are the incoming
ones plus an offset, and the offset is chosen again at every (re)start so that the next packet
follows the last one sent, its timestamp advanced by the wall-clock time that passed.

Keeping offsets (instead of renumbering packets one by one) preserves gaps: a packet lost
upstream is also missing downstream under its own number, so the subscriber NACKs it, and when
the retransmission arrives late it still lands in its slot. A packet the forwarder drops on
purpose (a malformed payload) must not leave a gap, so the offset closes it (``skip``).

Everything here runs for every forwarded packet, so the header is written in place into a buffer
built once per subscriber, and the only allocation is the outgoing packet itself.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Final

# Written at offset 1 of the header: marker|payload type, sequence number, timestamp, SSRC.
_FIXED: Final = struct.Struct("!BHII")
_WORD: Final = struct.Struct("!I")
_SEQ: Final = struct.Struct("!H")

_ONE_BYTE_PROFILE: Final = 0xBEDE
_TWO_BYTE_PROFILE: Final = 0x1000
_ABS_SEND_TIME_LENGTH: Final = 3


@dataclass(frozen=True, slots=True)
class HeaderExtensionIds:
    """Negotiated ids of the header extensions the forwarder writes (None: not negotiated)."""

    mid: int | None = None
    abs_send_time: int | None = None
    audio_level: int | None = None


class HeaderWriter:
    """A subscriber's RTP header, built once, then patched in place for each packet.

    The extensions written are MID (so a browser can demultiplex before it learns the SSRC),
    abs-send-time (what the subscriber's bandwidth estimation reads) and, for audio, the
    audio level the publisher measured (what active-speaker detection reads).
    """

    __slots__ = ("_abs_offset", "_abs_prefix", "_buffer", "_level_offset", "_ssrc")

    def __init__(self, ssrc: int, mid: str | None, ids: HeaderExtensionIds, *, audio_level: bool) -> None:
        elements: list[tuple[int, bytes]] = []
        if ids.mid is not None and mid is not None:
            elements.append((ids.mid, mid.encode()))
        if ids.abs_send_time is not None:
            elements.append((ids.abs_send_time, bytes(_ABS_SEND_TIME_LENGTH)))
        if audio_level and ids.audio_level is not None:
            elements.append((ids.audio_level, b"\x7f"))
        one_byte = all(0 < x_id < 15 and 0 < len(value) <= 16 for x_id, value in elements)

        body = bytearray()
        offsets: dict[int, int] = {}
        for x_id, value in elements:
            if one_byte:
                body.append((x_id << 4) | (len(value) - 1))
            else:
                body += bytes((x_id, len(value)))
            offsets[x_id] = len(body)
            body += value
        body += bytes(-len(body) % 4)

        header = bytearray(12)
        header[0] = 0x80  # version 2, no padding, no CSRC
        if body:
            header[0] |= 0x10  # extension present
            header += struct.pack("!HH", _ONE_BYTE_PROFILE if one_byte else _TWO_BYTE_PROFILE, len(body) // 4)
            base = len(header)
            header += body
        else:
            base = 0
        self._buffer = header
        self._ssrc = ssrc
        self._abs_offset = 0
        self._abs_prefix = 0
        self._level_offset = 0
        if ids.abs_send_time is not None:
            self._abs_offset = base + offsets[ids.abs_send_time]
            # The byte before the value (id/length) is constant: write it with the value as one word.
            self._abs_prefix = header[self._abs_offset - 1] << 24
        if audio_level and ids.audio_level is not None:
            self._level_offset = base + offsets[ids.audio_level]

    @property
    def header_length(self) -> int:
        return len(self._buffer)

    def write(
        self,
        marker_pt: int,
        sequence_number: int,
        timestamp: int,
        abs_send_time: int,
        level: int,
        payload: bytes,
    ) -> bytes:
        """The packet: this header (with these values) followed by ``payload``."""
        buffer = self._buffer
        _FIXED.pack_into(buffer, 1, marker_pt, sequence_number, timestamp, self._ssrc)
        if self._abs_offset:
            _WORD.pack_into(buffer, self._abs_offset - 1, self._abs_prefix | abs_send_time)
        if self._level_offset:
            buffer[self._level_offset] = level
        return b"".join((buffer, payload))


class SequenceMapper:
    """Maps a source's sequence numbers and timestamps onto a subscriber's continuous numbering."""

    __slots__ = (
        "clock_rate",
        "last_sent_at",
        "last_sequence",
        "last_timestamp",
        "sent_any",
        "seq_offset",
        "start_sequence",
        "ts_offset",
    )

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        # Start in the lower half of the range, as aiortc and libwebrtc do, so SRTP's rollover
        # counter is not exercised in the first minutes.
        self.last_sequence = random.randrange(0x8000)
        self.last_timestamp = random.randrange(1 << 32)
        self.last_sent_at = 0.0
        self.sent_any = False
        self.seq_offset = 0
        self.ts_offset = 0
        self.start_sequence = 0

    def restart(self, sequence_number: int, timestamp: int, now: float, clock_rate: int) -> None:
        """Continue the outgoing stream from this incoming packet (a keyframe start or audio packet)."""
        if self.sent_any:
            # Advance the timestamp by the time that passed, at least one tick, so the receiver
            # neither sees time stand still nor jump (its jitter estimate and playout follow it).
            elapsed = max(1, round((now - self.last_sent_at) * self.clock_rate))
        else:
            elapsed = 0
        self.clock_rate = clock_rate
        self.seq_offset = (self.last_sequence + 1 - sequence_number) & 0xFFFF
        self.ts_offset = (self.last_timestamp + elapsed - timestamp) & 0xFFFFFFFF
        self.start_sequence = sequence_number
        self.sent_any = True

    def is_before_start(self, sequence_number: int) -> bool:
        """A packet older than the (re)start point: from before a switch, it has no slot any more."""
        return ((sequence_number - self.start_sequence) & 0xFFFF) >= 0x8000

    def skip(self, sequence_number: int) -> None:
        """Close the gap an incoming packet we chose not to forward would leave.

        A hole in the numbering is not harmless: a receiver waits for it (aiortc's jitter buffer
        until 512 packets later) or NACKs it in vain. So the next packet takes this one's number.
        Packets older than it can no longer be placed (their numbers moved) and will be dropped.
        """
        if ((sequence_number - self.start_sequence) & 0xFFFF) < 0x8000:
            self.seq_offset = (self.seq_offset - 1) & 0xFFFF
            self.start_sequence = (sequence_number + 1) & 0xFFFF


class RetransmissionCache:
    """The last packets sent to one subscriber, by outgoing sequence number, to answer its NACKs.

    Slots are a fixed list indexed by the low bits of the sequence number: storing costs one list
    assignment and no allocation; an entry is checked against its own header when read back.
    """

    __slots__ = ("_mask", "_slots")

    def __init__(self, size: int) -> None:
        if size < 1 or size & (size - 1):
            raise ValueError("the retransmission cache size must be a power of two")
        self._mask = size - 1
        self._slots: list[bytes | None] = [None] * size

    def put(self, sequence_number: int, packet: bytes) -> None:
        self._slots[sequence_number & self._mask] = packet

    def get(self, sequence_number: int) -> bytes | None:
        packet = self._slots[sequence_number & self._mask]
        if packet is None or ((packet[2] << 8) | packet[3]) != sequence_number:
            return None
        return packet

    def clear(self) -> None:
        self._slots = [None] * (self._mask + 1)


def rtp_header_length(packet: bytes) -> int:
    """Length of an RTP header including CSRCs and extensions (the packet is assumed well formed)."""
    length = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        length += 4 + 4 * ((packet[length + 2] << 8) | packet[length + 3])
    return length


def wrap_rtx(packet: bytes, payload_type: int, sequence_number: int, ssrc: int) -> bytes:
    """An RFC 4588 retransmission of ``packet``: RTX payload type, sequence number and SSRC, and the
    original sequence number in front of the payload."""
    length = rtp_header_length(packet)
    header = bytearray(packet[:length])
    header[1] = (packet[1] & 0x80) | payload_type
    _SEQ.pack_into(header, 2, sequence_number)
    _WORD.pack_into(header, 8, ssrc)
    return b"".join((header, packet[2:4], packet[length:]))
