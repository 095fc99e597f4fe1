"""RED payloads (RFC 2198): what the SFU reads, unwraps and relabels, and what it refuses."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from hypothesis import given
from hypothesis import strategies as st

from media import red
from media.aiortc_seam import NegotiatedCodec
from media.keyframes import INVALID, KEY_START, traits_for
from media.red import RedBlock
from media.rtp_forwarding import _output_for

OPUS = 111
# Chromium's RED for a 20 ms Opus stream: the previous frame (960 ticks earlier), then the primary.
PREVIOUS, CURRENT = b"\x78previous-frame", b"\x78current"
CHROMIUM_RED = bytes([0x80 | OPUS, 0x0F, 0x00, len(PREVIOUS), OPUS]) + PREVIOUS + CURRENT

redundant_blocks = st.builds(
    RedBlock,
    payload_type=st.integers(0, 127),
    timestamp_offset=st.integers(0, (1 << 14) - 1),
    data=st.binary(max_size=1023),
)
primaries = st.builds(
    RedBlock, payload_type=st.integers(0, 127), timestamp_offset=st.just(0), data=st.binary()
)


def test_chromium_red_is_read_block_by_block() -> None:
    assert red.parse(CHROMIUM_RED) == (RedBlock(OPUS, 960, PREVIOUS), RedBlock(OPUS, 0, CURRENT))
    assert red.primary(CHROMIUM_RED) == (OPUS, CURRENT)
    assert red.wrap(red.parse(CHROMIUM_RED) or ()) == CHROMIUM_RED


def test_a_packet_with_only_its_primary_is_red_too() -> None:
    assert red.parse(bytes([OPUS]) + CURRENT) == (RedBlock(OPUS, 0, CURRENT),)
    assert red.primary(bytes([OPUS]) + CURRENT) == (OPUS, CURRENT)


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # no blocks at all
        bytes([0x80 | OPUS]),  # a redundant header cut short
        bytes([0x80 | OPUS, 0x0F, 0x00]),
        bytes([0x80 | OPUS, 0x0F, 0x00, 0x10]),  # headers without the final one
        bytes([0x80 | OPUS, 0x0F, 0x00, 0x10, OPUS]) + bytes(8),  # a length past the end
        bytes([0x80 | OPUS, 0x0F, 0x00, 0x03, OPUS]) + b"abc",  # an empty primary
        bytes([OPUS]),
    ],
)
def test_malformed_red_has_no_primary_and_is_never_forwarded(payload: bytes) -> None:
    assert red.primary(payload) is None
    traits = traits_for("audio/red", 48000)
    assert traits is not None and traits.classify(payload, True) == INVALID


def test_well_formed_red_starts_a_stream_like_any_audio() -> None:
    traits = traits_for("audio/RED", 48000)
    assert traits is not None and not traits.is_video
    assert traits.classify(CHROMIUM_RED, False) == KEY_START


def test_relabelling_changes_only_the_block_payload_types() -> None:
    relabelled = red.relabel(CHROMIUM_RED, {OPUS: 96})
    assert relabelled is not None
    assert red.parse(relabelled) == (RedBlock(96, 960, PREVIOUS), RedBlock(96, 0, CURRENT))
    assert red.relabel(CHROMIUM_RED, {100: 96}) is None  # a block of a type the subscriber lacks


def test_fmtp_names_the_inner_payload_type() -> None:
    assert red.inner_payload_type({"111/111": None}) == 111
    assert red.inner_payload_type(red.fmtp_parameters(96)) == 96
    assert red.inner_payload_type({"111/0": None}) is None
    assert red.inner_payload_type({"useinbandfec": 1}) is None


def test_wrap_refuses_what_the_format_cannot_say() -> None:
    with pytest.raises(ValueError):
        red.wrap([])
    with pytest.raises(ValueError):
        red.wrap([RedBlock(OPUS, 960, b"x")])  # a primary must be at offset 0
    with pytest.raises(ValueError):
        red.wrap([RedBlock(OPUS, 1 << 14, b"x"), RedBlock(OPUS, 0, b"y")])
    with pytest.raises(ValueError):
        red.wrap([RedBlock(OPUS, 960, bytes(1024)), RedBlock(OPUS, 0, b"y")])
    with pytest.raises(ValueError):
        red.wrap([RedBlock(128, 0, b"y")])


@given(st.lists(redundant_blocks, max_size=4), primaries)
def test_wrap_then_unwrap_gives_the_primary(redundant: list[RedBlock], primary: RedBlock) -> None:
    payload = red.wrap([*redundant, primary])
    assert red.parse(payload) == (*redundant, primary)
    assert red.primary(payload) == ((primary.payload_type, primary.data) if primary.data else None)
    relabelled = red.relabel(payload, {t: (t + 1) % 128 for t in range(128)})
    assert relabelled is not None and len(relabelled) == len(payload)


@given(st.binary(max_size=64))
def test_any_bytes_are_read_or_refused_never_raise(payload: bytes) -> None:
    blocks = red.parse(payload)
    red.primary(payload)
    red.relabel(payload, {OPUS: 96})
    if blocks is not None:
        assert red.wrap(blocks) == payload


def _negotiated(payload_type: int, mime_type: str, parameters: dict[str, object]) -> NegotiatedCodec:
    return NegotiatedCodec(payload_type, mime_type, 48000, parameters, None)


def _publisher(
    payload_type: int, mime_type: str, parameters: dict[str, int | str | None]
) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType=mime_type, clockRate=48000, channels=2, payloadType=payload_type, parameters=parameters
    )


PUBLISHER_OPUS = _publisher(OPUS, "audio/opus", {"useinbandfec": 1})
PUBLISHER_RED = _publisher(63, "audio/red", {"111/111": None})


def test_red_goes_as_red_relabelled_or_unwrapped_to_opus() -> None:
    inner = {OPUS: PUBLISHER_OPUS}.get
    with_red = (_negotiated(63, "audio/red", {"111/111": None}), _negotiated(OPUS, "audio/opus", {}))
    codec, change = _output_for(with_red, PUBLISHER_RED, inner)
    assert codec is with_red[0] and change is None  # unchanged

    renumbered = (_negotiated(63, "audio/red", {"96/96": None}), _negotiated(96, "audio/opus", {}))
    codec, change = _output_for(renumbered, PUBLISHER_RED, inner)
    assert codec is renumbered[0] and change is not None
    assert red.parse(change(CHROMIUM_RED) or b"") == (RedBlock(96, 960, PREVIOUS), RedBlock(96, 0, CURRENT))

    plain = (_negotiated(96, "audio/opus", {}),)
    codec, change = _output_for(plain, PUBLISHER_RED, inner)
    assert codec is plain[0] and change is not None
    assert change(CHROMIUM_RED) == CURRENT
    assert change(bytes([0]) + CURRENT) is None  # a primary that is not the negotiated Opus

    assert _output_for(plain, PUBLISHER_OPUS, inner) == (plain[0], None)
    assert _output_for((_negotiated(0, "audio/PCMU", {}),), PUBLISHER_RED, inner) == (None, None)
