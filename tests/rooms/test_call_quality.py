"""The E-model estimate (rooms/call_quality.py) against values worked out by hand from G.107.

Each reference value below is derived in its comment from the formulas in the module docstring,
so a change to a constant or a formula shows up as a wrong number, not only as a moved threshold.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooms.call_quality import (
    G711,
    OPUS,
    CodecProfile,
    Direction,
    Grade,
    Impairment,
    LegMeasures,
    codec_profile,
    delay_impairment,
    effective_equipment_impairment,
    estimate_mos,
    grade_of,
    mos_from_rating,
    one_way_delay,
    rating,
    score_link,
)


def test_no_delay_impairment_up_to_100_ms() -> None:
    assert delay_impairment(0) == 0 and delay_impairment(100) == 0


def test_delay_impairment_at_200_ms() -> None:
    # X = log2(200/100) = 1: 2^(1/6) = 1.122462; (1 + (1/3)^6)^(1/6) = (1 + 1/729)^(1/6) = 1.000228;
    # Idd = 25 * (1.122462 - 3 * 1.000228 + 2) = 25 * 0.121777 = 3.0444
    assert delay_impairment(200) == pytest.approx(3.0444, abs=1e-3)


def test_delay_impairment_at_400_ms() -> None:
    # X = 2: 65^(1/6) = 2.005175; (1 + 64/729)^(1/6) = 1.087792^(1/6) = 1.014123;
    # Idd = 25 * (2.005175 - 3.042370 + 2) = 25 * 0.962805 = 24.070
    assert delay_impairment(400) == pytest.approx(24.070, abs=1e-3)


def test_loss_impairment_of_opus_and_g711() -> None:
    # Opus (Ie 0, Bpl 20), 8 % random loss: 95 * 8 / (8 + 20) = 27.142857
    assert effective_equipment_impairment(8, OPUS) == pytest.approx(27.142857, abs=1e-6)
    # G.711 with concealment (Ie 0, Bpl 25.1): 95 * 8 / (8 + 25.1) = 760 / 33.1 = 22.960725
    assert effective_equipment_impairment(8, G711) == pytest.approx(22.960725, abs=1e-6)
    assert effective_equipment_impairment(0, OPUS) == 0


def test_r_to_mos() -> None:
    # R = 93.2: 1 + 0.035 * 93.2 + 93.2 * 33.2 * 6.8 * 7e-6 = 1 + 3.262 + 0.147286 = 4.409286
    assert mos_from_rating(93.2) == pytest.approx(4.409286, abs=1e-6)
    # R = 100 and above: 4.5; R = 0 and below: 1
    assert mos_from_rating(100) == 4.5 and mos_from_rating(130) == 4.5
    assert mos_from_rating(0) == 1 and mos_from_rating(-20) == 1
    # R = 3: 1 + 0.105 + 3 * (-57) * 97 * 7e-6 = 0.989 under the curve: held at 1
    assert mos_from_rating(3) == 1


def test_one_way_delay_of_a_leg() -> None:
    # half the round trip + twice the jitter + Opus's 20 ms frame and 6.5 ms look-ahead
    assert one_way_delay(100, 10, OPUS) == pytest.approx(50 + 20 + 26.5)
    assert one_way_delay(None, 0, G711) == pytest.approx(20)


def test_a_clean_link_rates_the_g107_default() -> None:
    # Ta = 96.5 ms (no Idd), no loss: R = 93.2, MOS 4.41, good
    assert rating(0, 100, 10) == pytest.approx(93.2)
    assert estimate_mos(0, 100, 10) == pytest.approx(4.409286, abs=1e-6)


def test_eight_percent_loss_is_fair_and_named() -> None:
    # R = 93.2 - 27.142857 = 66.057143; MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6
    #   = 1 + 2.312000 + 66.057143 * 6.057143 * 33.942857 * 7e-6 = 3.312000 + 0.095068 = 3.407068
    score = score_link(LegMeasures(0, 5), LegMeasures(8, 10), rtt_ms=100, codec="opus")
    assert score is not None
    assert score.mos == pytest.approx(3.407068, abs=1e-5)
    assert score.grade is Grade.FAIR
    assert score.worst.direction is Direction.DOWNLOAD
    assert score.reason is not None and score.reason.to_json() == {
        "code": "loss",
        "value": 8.0,
        "direction": "download",
    }
    upload = score.leg(Direction.UPLOAD)
    assert upload is not None and upload.grade is Grade.GOOD and upload.reason is None


def test_a_long_round_trip_is_named_as_delay() -> None:
    # RTT 707 ms, jitter 10: Ta = 353.5 + 20 + 26.5 = 400 ms, Idd = 24.070, R = 69.130,
    # MOS = 1 + 2.419547 + 69.12991 * 9.12991 * 30.87009 * 7e-6 = 3.419547 + 0.136386 = 3.555933
    score = score_link(None, LegMeasures(0, 10), rtt_ms=707)
    assert score is not None and score.mos == pytest.approx(3.555933, abs=1e-5)
    assert score.grade is Grade.FAIR
    assert score.reason is not None and score.reason.impairment is Impairment.DELAY
    assert score.reason.value == 707


def test_jitter_that_outweighs_the_round_trip_is_named_as_jitter() -> None:
    # RTT 20, jitter 180: Ta = 10 + 360 + 26.5 = 396.5 ms, the buffer is most of it
    score = score_link(LegMeasures(0, 180), None, rtt_ms=20)
    assert score is not None and score.grade is Grade.FAIR
    assert score.reason is not None and score.reason.impairment is Impairment.JITTER
    assert score.reason.direction is Direction.UPLOAD


def test_grades_follow_the_g109_bands() -> None:
    assert grade_of(80) is Grade.GOOD and grade_of(79.99) is Grade.FAIR
    assert grade_of(60) is Grade.FAIR and grade_of(59.99) is Grade.POOR
    # 15 % loss on Opus: R = 93.2 - 95 * 15 / 35 = 52.49: poor
    score = score_link(LegMeasures(15, 5), None, rtt_ms=40)
    assert score is not None and score.grade is Grade.POOR


def test_codecs_by_sdp_name() -> None:
    assert codec_profile("opus") is OPUS and codec_profile("PCMU") is G711 and codec_profile("pcma") is G711
    assert codec_profile(None) is OPUS and codec_profile("G722") is OPUS


def test_nothing_measured_is_not_scored() -> None:
    assert score_link(None, None, rtt_ms=50) is None


LOSS = st.floats(0, 100, allow_nan=False)
RTT = st.one_of(st.none(), st.floats(0, 20_000, allow_nan=False))
JITTER = st.floats(0, 5_000, allow_nan=False)
CODEC = st.sampled_from([OPUS, G711])
ROUNDING = 1e-9
"""Monotone up to floating-point rounding."""


@settings(max_examples=300, deadline=None)
@given(loss=LOSS, rtt=RTT, jitter=JITTER, codec=CODEC)
def test_mos_stays_between_1_and_4_5(
    loss: float, rtt: float | None, jitter: float, codec: CodecProfile
) -> None:
    assert 1.0 <= estimate_mos(loss, rtt, jitter, codec) <= 4.5


@settings(max_examples=300, deadline=None)
@given(a=LOSS, b=LOSS, rtt=RTT, jitter=JITTER, codec=CODEC)
def test_more_loss_never_sounds_better(
    a: float, b: float, rtt: float | None, jitter: float, codec: CodecProfile
) -> None:
    low, high = sorted((a, b))
    assert estimate_mos(high, rtt, jitter, codec) <= estimate_mos(low, rtt, jitter, codec) + ROUNDING


@settings(max_examples=300, deadline=None)
@given(
    a=st.floats(0, 20_000, allow_nan=False), b=st.floats(0, 20_000, allow_nan=False), loss=LOSS, jitter=JITTER
)
def test_a_longer_round_trip_never_sounds_better(a: float, b: float, loss: float, jitter: float) -> None:
    low, high = sorted((a, b))
    assert estimate_mos(loss, high, jitter) <= estimate_mos(loss, low, jitter) + ROUNDING


@settings(max_examples=300, deadline=None)
@given(a=JITTER, b=JITTER, loss=LOSS, rtt=RTT)
def test_more_jitter_never_sounds_better(a: float, b: float, loss: float, rtt: float | None) -> None:
    low, high = sorted((a, b))
    assert estimate_mos(loss, rtt, high) <= estimate_mos(loss, rtt, low) + ROUNDING


@settings(max_examples=200, deadline=None)
@given(loss=LOSS, rtt=RTT, jitter=JITTER, other=LOSS)
def test_the_link_is_as_good_as_its_worse_direction(
    loss: float, rtt: float | None, jitter: float, other: float
) -> None:
    score = score_link(LegMeasures(loss, jitter), LegMeasures(other, jitter), rtt)
    assert score is not None
    assert score.mos == min(leg.mos for leg in score.legs)
    assert (score.reason is None) == (score.grade is Grade.GOOD)
