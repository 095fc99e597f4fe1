"""Audio redundancy, RFC 2198 (``audio/red``): reading, unwrapping and re-labelling RED payloads.

A RED packet carries, besides its own (the *primary*) audio frame, copies of earlier frames, so a
receiver that lost a packet finds that frame again in the next one. Chromium sends Opus this way
when RED is the first audio codec of the negotiated description. The SFU forwards RED unchanged
to subscribers who negotiated it too; for the others it keeps only the primary frame.

The payload is a list of block headers, then the blocks' data in the same order:

* every header but the last: 4 bytes, ``F=1 | block PT (7) | timestamp offset (14) | length (10)``;
* the last header: 1 byte, ``F=0 | block PT (7)``; its block (the primary) is the rest of the
  payload and its timestamp is the packet's own.

A publisher's RED payload is untrusted: everything here answers None for a malformed one
(truncated headers, lengths past the end, no blocks at all) instead of raising, so a broken sender
costs its own packets and never the forwarding path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

MIME_TYPE: Final = "audio/red"
_MORE: Final = 0x80
_MAX_OFFSET: Final = (1 << 14) - 1
_MAX_LENGTH: Final = (1 << 10) - 1


@dataclass(frozen=True, slots=True)
class RedBlock:
    """One frame in a RED payload: its payload type, how far before the packet's timestamp it
    was (0 for the primary) and its encoded data."""

    payload_type: int
    timestamp_offset: int
    data: bytes


def _headers(payload: bytes) -> tuple[list[tuple[int, int, int]], int, int] | None:
    """The redundant blocks' ``(payload type, offset, length)``, the primary's payload type and
    where the data starts; None when the headers run past the payload or the lengths do."""
    redundant: list[tuple[int, int, int]] = []
    position = 0
    end = len(payload)
    while position < end:
        first = payload[position]
        if not first & _MORE:
            start = position + 1
            if start + sum(length for _, _, length in redundant) > end:
                return None
            return redundant, first & 0x7F, start
        if position + 4 > end:
            return None
        word = int.from_bytes(payload[position + 1 : position + 4], "big")
        redundant.append((first & 0x7F, word >> 10, word & _MAX_LENGTH))
        position += 4
    return None  # no final header: not RED (an empty payload included)


def parse(payload: bytes) -> tuple[RedBlock, ...] | None:
    """All blocks, oldest first and the primary last, or None if the payload is malformed."""
    found = _headers(payload)
    if found is None:
        return None
    redundant, primary_type, position = found
    blocks: list[RedBlock] = []
    for payload_type, offset, length in redundant:
        blocks.append(RedBlock(payload_type, offset, payload[position : position + length]))
        position += length
    blocks.append(RedBlock(primary_type, 0, payload[position:]))
    return tuple(blocks)


def primary(payload: bytes) -> tuple[int, bytes] | None:
    """The primary block's payload type and data (what a subscriber without RED is sent), or None
    if the payload is malformed or its primary frame is empty (nothing a decoder could use)."""
    found = _headers(payload)
    if found is None:
        return None
    redundant, primary_type, position = found
    data = payload[position + sum(length for _, _, length in redundant) :]
    return (primary_type, data) if data else None


def wrap(blocks: Sequence[RedBlock]) -> bytes:
    """A RED payload of ``blocks`` (the last is the primary, whose offset must be 0).
    Raises ValueError for what the format cannot express."""
    if not blocks or blocks[-1].timestamp_offset != 0:
        raise ValueError("a RED payload ends with its primary block, at offset 0")
    headers = bytearray()
    for block in blocks[:-1]:
        if not 0 <= block.timestamp_offset <= _MAX_OFFSET or len(block.data) > _MAX_LENGTH:
            raise ValueError("a redundant block's offset or length does not fit its header")
        headers.append(_MORE | _payload_type(block.payload_type))
        headers += ((block.timestamp_offset << 10) | len(block.data)).to_bytes(3, "big")
    headers.append(_payload_type(blocks[-1].payload_type))
    return b"".join((headers, *(block.data for block in blocks)))


def relabel(payload: bytes, payload_types: Mapping[int, int]) -> bytes | None:
    """The payload with each block's payload type replaced as ``payload_types`` says (a subscriber
    whose Opus has another number); None if it is malformed or carries a type not in the map."""
    found = _headers(payload)
    if found is None:
        return None
    redundant, primary_type, start = found
    headers = bytearray(payload[:start])
    position = 0
    for payload_type, _, _ in redundant:
        mapped = payload_types.get(payload_type)
        if mapped is None:
            return None
        headers[position] = _MORE | mapped
        position += 4
    mapped = payload_types.get(primary_type)
    if mapped is None:
        return None
    headers[position] = mapped
    return b"".join((headers, payload[start:]))


def inner_payload_type(parameters: Mapping[str, object]) -> int | None:
    """The payload type a RED codec's ``fmtp`` names for all its blocks (``111/111`` → 111), or
    None when there is no such line or it names different types."""
    for key in parameters:
        types = key.split("/")
        if len(types) >= 2 and all(t.isdigit() for t in types) and len(set(types)) == 1:
            return int(types[0])
    return None


def fmtp_parameters(inner_payload_type: int) -> dict[str, int | str | None]:
    """The codec parameters of RED over ``inner_payload_type`` as aiortc writes them in SDP:
    ``a=fmtp:<red> 111/111`` (a redundant block and the primary, both of that type)."""
    return {f"{inner_payload_type}/{inner_payload_type}": None}


def _payload_type(value: int) -> int:
    if not 0 <= value <= 0x7F:
        raise ValueError("an RTP payload type is 7 bits")
    return value
