"""``media:link_report``'s payload: small non-negative integers or a ``bad_payload`` that names
the field, never what was sent (signaling/messages.py through the guard every event passes)."""

from __future__ import annotations

import pytest

from signaling.errors import ErrorCode, SignalingError
from signaling.guard import validate
from signaling.messages import MAX_MESSAGE_BYTES, MAX_REPORTED_PACKETS, MediaLinkReport

GOOD = {"audio_received": 48, "audio_lost": 2, "video_received": 110, "video_lost": 0}


def refusal(data: object) -> SignalingError:
    with pytest.raises(SignalingError) as caught:
        validate(MediaLinkReport, (data,), MAX_MESSAGE_BYTES)
    return caught.value


def test_a_page_report_is_read_as_sent_and_video_may_be_left_out() -> None:
    report = validate(MediaLinkReport, (GOOD,), MAX_MESSAGE_BYTES)
    assert (report.audio_received, report.audio_lost, report.video_received, report.video_lost) == (
        48,
        2,
        110,
        0,
    )
    audio_only = validate(MediaLinkReport, ({"audio_received": 50, "audio_lost": 0},), MAX_MESSAGE_BYTES)
    assert (audio_only.video_received, audio_only.video_lost) == (0, 0)
    assert audio_only.queue_ms is None  # no new sender report since the last one
    assert validate(MediaLinkReport, ({**GOOD, "queue_ms": 40},), MAX_MESSAGE_BYTES).queue_ms == 40
    most = {name: MAX_REPORTED_PACKETS for name in GOOD}
    assert validate(MediaLinkReport, (most,), MAX_MESSAGE_BYTES).audio_lost == MAX_REPORTED_PACKETS


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"audio_received": -1}, "audio_received"),  # negative
        ({"audio_lost": MAX_REPORTED_PACKETS + 1}, "audio_lost"),  # absurd
        ({"video_lost": 10**18}, "video_lost"),
        ({"audio_received": 47.5}, "audio_received"),  # not a count
        ({"audio_received": "48"}, "audio_received"),  # text
        ({"video_received": True}, "video_received"),  # a boolean is not a count
        ({"audio_lost": None}, "audio_lost"),
        ({"interval_s": 1}, "interval_s"),  # unknown fields are refused
        ({"queue_ms": -1}, "queue_ms"),
        ({"queue_ms": 10**6}, "queue_ms"),  # over 10 s: no queue, a broken clock
        ({"queue_ms": 2.5}, "queue_ms"),
        ({"queue_ms": True}, "queue_ms"),
    ],
)
def test_a_bad_report_is_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    error = refusal({**GOOD, **change})
    assert error.code is ErrorCode.BAD_PAYLOAD and field in error.message
    assert "10000000" not in error.message and "47.5" not in error.message


def test_a_report_without_its_audio_counts_or_not_an_object_is_refused() -> None:
    assert "audio_received" in refusal({"audio_lost": 0}).message
    assert refusal([48, 2]).code is ErrorCode.BAD_PAYLOAD
    assert refusal("48/2").code is ErrorCode.BAD_PAYLOAD
    with pytest.raises(SignalingError) as caught:
        validate(MediaLinkReport, (GOOD, GOOD), MAX_MESSAGE_BYTES)
    assert caught.value.code is ErrorCode.BAD_PAYLOAD


def test_an_oversized_report_is_refused_before_it_is_read() -> None:
    error = refusal({**GOOD, "padding": "x" * (MAX_MESSAGE_BYTES + 1)})
    assert error.code is ErrorCode.PAYLOAD_TOO_LARGE
