"""How a participant's link would sound: a mean-opinion-score estimate by the ITU-T E-model (G.107).

The server measures each participant's link every 2 s (loss and jitter in each direction, round-trip
time, the audio codec). The nurse needs one word per person (good, fair, poor) and a reason she can
act on, and the record needs numbers a reader can weigh; a listening test is impossible, so this is
the planning model telephony uses to predict one, with the simplifications published in G.107:

* every parameter other than delay and loss keeps its G.107 default value (send and receive
  loudness, room noise, sidetone, echo loss; ``A = 0``), which gives the default rating
  ``R = 93.2``; echo is cancelled by the browsers, so of the delay impairment only the absolute
  delay term ``Idd`` remains:

      R = 93.2 - Idd(Ta) - Ie,eff

* ``Idd``, G.107's absolute-delay impairment with its default delay sensitivity (``sT = 1``,
  ``mT = 100 ms``): 0 for ``Ta ≤ 100 ms``, else
  ``25·((1 + X⁶)^(1/6) - 3·(1 + (X/3)⁶)^(1/6) + 2)`` with ``X = log2(Ta / 100)``;
* ``Ta``, the one-way mouth-to-ear delay of the leg between the participant and the server: half
  the round-trip time, plus a jitter buffer of twice the interarrival jitter (a usual planning
  rule for adaptive buffers), plus the codec's frame and look-ahead;
* G.107's effective equipment impairment ``Ie,eff = Ie + (95 - Ie) · Ppl / (Ppl / BurstR + Bpl)``
  with random loss (``BurstR = 1``): ``Ie`` the codec's equipment impairment, ``Bpl`` its
  packet-loss robustness;
* R → MOS (G.107 Annex B): 1 for ``R < 0``, 4.5 above 100, else
  ``1 + 0.035·R + R·(R - 60)·(100 - R)·7·10⁻⁶``. Between R = 0 and 6.5 that curve dips under 1;
  the estimate is held at 1 there, so it stays in [1, 4.5] and never rises as a link worsens.

Codec values. G.711 (PCMU, PCMA): ``Ie = 0``, ``Bpl = 25.1`` with packet-loss concealment (G.113
Appendix I; every browser conceals), 20 ms frames. For Opus, WebRTC's default codec, we know of no
ITU-T planning values on this scale; we take ``Ie = 0`` (at the 24-40 kbit/s browsers use for
speech Opus is at least as good as G.711 on the narrowband scale this model rates) and
``Bpl = 20``, below G.711's so that loss weighs a little more than for a codec with published
values, with a 20 ms frame plus 6.5 ms look-ahead. These are our assumptions, listed in
docs/records.md; a link whose codec is not known is rated as Opus.

Grades follow the user-satisfaction bands of ITU-T G.109: R ≥ 80 *good* (users satisfied),
60 ≤ R < 80 *fair* (some to many dissatisfied), below 60 *poor* (nearly all dissatisfied).

The estimate is per leg (participant ↔ server): what a listener hears from a speaker crosses two
legs, so a conversation is at most as good as the worse of the two people's legs.

Pure functions and values; nothing here knows where the measures come from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_R = 93.2
"""G.107's rating with every parameter at its default value: R0 - Is - Id(defaults) + A."""
MOS_MIN, MOS_MAX = 1.0, 4.5
GOOD_R, FAIR_R = 80.0, 60.0
"""G.109's lower limits of the "users satisfied" and "many users dissatisfied" bands."""
JITTER_BUFFER_FACTOR = 2.0
"""An adaptive jitter buffer holds about twice the interarrival jitter."""


class Grade(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class Direction(StrEnum):
    UPLOAD = "upload"
    """What the server receives from the participant."""
    DOWNLOAD = "download"
    """What the participant receives from the server."""


class Impairment(StrEnum):
    """What lowers a leg's rating most: the reason shown beside its grade."""

    LOSS = "loss"
    DELAY = "delay"
    JITTER = "jitter"


@dataclass(frozen=True, slots=True)
class CodecProfile:
    ie: float
    """Equipment impairment factor of the codec without loss."""
    bpl: float
    """Packet-loss robustness factor: the larger, the better it conceals lost packets."""
    delay_ms: float
    """Frame length plus look-ahead: delay the codec adds on its own."""


OPUS = CodecProfile(ie=0.0, bpl=20.0, delay_ms=26.5)
G711 = CodecProfile(ie=0.0, bpl=25.1, delay_ms=20.0)
CODECS: dict[str, CodecProfile] = {"opus": OPUS, "pcmu": G711, "pcma": G711}


def codec_profile(name: str | None) -> CodecProfile:
    """The E-model values of an audio codec by its SDP name (any case); unknown ones as Opus."""
    return CODECS.get((name or "").lower(), OPUS)


def delay_impairment(one_way_ms: float) -> float:
    """``Idd``: the impairment of a one-way delay of ``one_way_ms``, 0 up to 100 ms."""
    if one_way_ms <= 100.0:
        return 0.0
    x = math.log2(one_way_ms / 100.0)
    return 25.0 * (math.pow(1.0 + x**6, 1 / 6) - 3.0 * math.pow(1.0 + (x / 3.0) ** 6, 1 / 6) + 2.0)


def effective_equipment_impairment(loss_pct: float, codec: CodecProfile, burst_ratio: float = 1.0) -> float:
    """``Ie,eff`` for ``loss_pct`` percent of packets lost (random loss: ``burst_ratio`` 1)."""
    loss = min(max(loss_pct, 0.0), 100.0)
    return codec.ie + (95.0 - codec.ie) * loss / (loss / burst_ratio + codec.bpl)


def one_way_delay(rtt_ms: float | None, jitter_ms: float, codec: CodecProfile) -> float:
    """``Ta`` of one leg: half the round trip, the jitter buffer and the codec's own delay."""
    return max(rtt_ms or 0.0, 0.0) / 2.0 + JITTER_BUFFER_FACTOR * max(jitter_ms, 0.0) + codec.delay_ms


def rating(loss_pct: float, rtt_ms: float | None, jitter_ms: float, codec: CodecProfile = OPUS) -> float:
    """The transmission rating ``R`` of one leg (at most 93.2)."""
    delay = delay_impairment(one_way_delay(rtt_ms, jitter_ms, codec))
    return DEFAULT_R - delay - effective_equipment_impairment(loss_pct, codec)


def mos_from_rating(r: float) -> float:
    """G.107 Annex B's R → MOS, held at 1 where the curve would dip under it (0 < R < 6.5)."""
    if r <= 0.0:
        return MOS_MIN
    if r >= 100.0:
        return MOS_MAX
    return max(MOS_MIN, 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6)


def estimate_mos(
    loss_pct: float, rtt_ms: float | None, jitter_ms: float, codec: CodecProfile = OPUS
) -> float:
    return mos_from_rating(rating(loss_pct, rtt_ms, jitter_ms, codec))


def grade_of(r: float) -> Grade:
    return Grade.GOOD if r >= GOOD_R else Grade.FAIR if r >= FAIR_R else Grade.POOR


@dataclass(frozen=True, slots=True)
class LegMeasures:
    """What was measured of one direction of a link in one interval."""

    loss_pct: float
    jitter_ms: float


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a leg is not good: its largest impairment, with the measure behind it."""

    impairment: Impairment
    value: float
    """Percent of packets lost, or milliseconds of round-trip time or of jitter."""
    direction: Direction

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.impairment.value,
            "value": round(self.value, 1),
            "direction": self.direction.value,
        }


@dataclass(frozen=True, slots=True)
class LegScore:
    direction: Direction
    r: float
    mos: float
    grade: Grade
    reason: Reason | None
    """None when the leg is good."""


def score_leg(direction: Direction, leg: LegMeasures, rtt_ms: float | None, codec: CodecProfile) -> LegScore:
    """Rate one leg, and name what hurts it most when it is not good."""
    ta = one_way_delay(rtt_ms, leg.jitter_ms, codec)
    loss_part = effective_equipment_impairment(leg.loss_pct, codec) - codec.ie
    delay_part = delay_impairment(ta)
    r = DEFAULT_R - delay_part - codec.ie - loss_part
    grade = grade_of(r)
    reason: Reason | None = None
    if grade is not Grade.GOOD:
        if loss_part >= delay_part:
            reason = Reason(Impairment.LOSS, leg.loss_pct, direction)
        elif JITTER_BUFFER_FACTOR * leg.jitter_ms > (rtt_ms or 0.0) / 2.0:
            reason = Reason(Impairment.JITTER, leg.jitter_ms, direction)
        else:
            reason = Reason(Impairment.DELAY, rtt_ms or 0.0, direction)
    return LegScore(direction, r, mos_from_rating(r), grade, reason)


@dataclass(frozen=True, slots=True)
class LinkScore:
    """A participant's link in one interval: each measured direction, and the worse of them."""

    legs: tuple[LegScore, ...]

    @property
    def worst(self) -> LegScore:
        return min(self.legs, key=lambda leg: leg.r)

    @property
    def mos(self) -> float:
        return self.worst.mos

    @property
    def grade(self) -> Grade:
        return self.worst.grade

    @property
    def reason(self) -> Reason | None:
        return self.worst.reason

    def leg(self, direction: Direction) -> LegScore | None:
        return next((leg for leg in self.legs if leg.direction is direction), None)


def score_link(
    upload: LegMeasures | None,
    download: LegMeasures | None,
    rtt_ms: float | None,
    codec: str | None = None,
) -> LinkScore | None:
    """Score the directions that were measured; None when neither was (nothing flowed)."""
    profile = codec_profile(codec)
    legs = tuple(
        score_leg(direction, measures, rtt_ms, profile)
        for direction, measures in ((Direction.UPLOAD, upload), (Direction.DOWNLOAD, download))
        if measures is not None
    )
    return LinkScore(legs) if legs else None
