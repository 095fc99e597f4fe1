"""Audio first: when a participant's link cannot carry video, the video they receive pauses.

A pure state machine fed one :class:`LinkReading` of the participant's *download* per quality
sample (every 2 s). Pausing the video someone receives only helps the direction towards them, so
their upload does not count here (the camera caps of :mod:`media.link_policy` deal with that).

Why it does not flap (what the previous two-samples-in-a-row hysteresis did on a 150 kbit/s link):

* **A longer window.** Video pauses when, over the last ``window`` samples (10 s), the link lost
  on average 15 % or more, or when nearly every sample of it (all but one) was weak: a loss of
  15 % or more, a round trip of 800 ms or more, or a capacity below what video costs. Loss that
  comes in short bursts (2 s at 30 %, 3 s clean) averages out under the threshold, so video goes
  on between the bursts instead of pausing through the clean gaps. Only two samples in a row
  that leave no doubt pause sooner: video over capacity, or 25 % loss that no burst explains.
* **What video costs against what the link carries.** While video flows, the participant's
  browser estimates the bandwidth it receives (REMB); below the cheapest video we send
  (``needed_bps``: the camera floor and audio) video cannot fit, whatever the loss says.
* **Resume on evidence, and back off after a resume that failed.** While video is paused only
  audio flows, so a sample says whether the link is *clean* (under 0.5 % loss and a short round
  trip), never whether video would fit again; a sample without a new receiver report is no
  evidence either way. A pause for loss resumes at the first clean sample
  (a link that lost 15 % cannot look clean by chance); a pause for congestion waits for two. When
  the link turns weak again within ``failed_within`` samples of a resume, that resume failed: the
  next one waits twice as many clean samples, up to ``max_backoff``; a resume that holds resets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

PAUSE_LOSS_PCT = 15.0
"""Loss at which audio suffers enough to give up video (the BAD quality level)."""
SEVERE_LOSS_PCT = 25.0
"""Loss that, two samples in a row, pauses at once: a 2 s burst fills at most one whole sample."""
CLEAN_LOSS_PCT = 0.5
"""Under this a report is clean: at most one packet lost of the ~250 audio packets an audio-only
report covers, which a link losing 2 % gives by chance in one report of 25."""
CLEAN_RTT_MS = 200.0
CONGESTED_LOSS_PCT = 2.0
CONGESTED_RTT_MS = 400.0
WEAK_RTT_MS = 800.0


class VideoDecision(StrEnum):
    KEEP = "keep"
    PAUSE = "pause"
    RESUME = "resume"


class PauseCause(StrEnum):
    LOSS = "loss"
    CONGESTION = "congestion"
    """Weak samples without enough loss on average: a long round trip, a capacity below video."""


@dataclass(frozen=True, slots=True)
class LinkReading:
    """One quality sample of the direction towards a participant."""

    loss_pct: float | None
    """Their own download loss (None: no fresh receiver report this interval)."""
    rtt_ms: float | None = None
    capacity_bps: int | None = None
    """What their browser estimates it can receive (REMB), while video flows; None otherwise."""
    needed_bps: int = 0
    """What the cheapest video they would receive costs, with its audio."""

    @property
    def over_capacity(self) -> bool:
        """Video does not fit: the estimate is under its cost *and* the link shows it (loss or a
        queue). A browser's estimate also stays low when little is sent to it (the other side's
        camera starved by its own uplink), which is no weakness of this link."""
        if self.capacity_bps is None or self.capacity_bps >= self.needed_bps:
            return False
        return (self.loss_pct or 0.0) >= CONGESTED_LOSS_PCT or (self.rtt_ms or 0.0) >= CONGESTED_RTT_MS

    @property
    def weak(self) -> bool:
        loss = self.loss_pct or 0.0
        return loss >= PAUSE_LOSS_PCT or (self.rtt_ms or 0.0) >= WEAK_RTT_MS or self.over_capacity

    @property
    def clean(self) -> bool:
        return (
            self.loss_pct is not None
            and self.loss_pct < CLEAN_LOSS_PCT
            and (self.rtt_ms or 0.0) < CLEAN_RTT_MS
            and not self.over_capacity
        )


@dataclass(frozen=True, slots=True)
class VideoGate:
    paused: bool = False
    recent: tuple[LinkReading, ...] = ()
    """The readings since the last decision, at most ``window`` of them."""
    cause: PauseCause | None = None
    clean_run: int = 0
    failures: int = 0
    """Resumes in a row that the link did not hold: each doubles the clean run the next one needs."""
    since_resume: int | None = None
    """Samples since the last resume, while it may still turn out to have failed."""
    window: int = 5
    failed_within: int = 6
    """A pause this many samples after a resume means the resume failed (the first full window
    after it was already weak)."""
    max_backoff: int = 32
    weak_needed: int = 4
    """Weak readings in a full window that pause video even when the loss averages less."""

    @property
    def clean_needed(self) -> int:
        """Clean samples in a row before video resumes: one after a loss, two after congestion,
        doubled for every resume that failed (up to ``max_backoff``)."""
        base = 1 if self.cause is PauseCause.LOSS else 2
        return min(self.max_backoff, base << self.failures)

    def observe(self, reading: LinkReading) -> tuple[VideoGate, VideoDecision]:
        if self.paused:
            return self._while_paused(reading)
        recent = (*self.recent, reading)[-self.window :]
        since_resume = None if self.since_resume is None else self.since_resume + 1
        failures = self.failures
        if since_resume is not None and since_resume > self.failed_within:
            since_resume, failures = None, 0  # the last resume held
        cause = _pause_cause(recent, self.window, self.weak_needed)
        if cause is None:
            return replace(
                self, recent=recent, since_resume=since_resume, failures=failures
            ), VideoDecision.KEEP
        if since_resume is not None:
            failures += 1  # paused again soon after a resume: that resume failed
        gate = replace(
            self, paused=True, recent=(), cause=cause, clean_run=0, failures=failures, since_resume=None
        )
        return gate, VideoDecision.PAUSE

    def _while_paused(self, reading: LinkReading) -> tuple[VideoGate, VideoDecision]:
        if reading.loss_pct is None:
            # No new report: with video paused the browser reports on audio every ~5 s only
            # (libwebrtc's audio RTCP interval), so a sample without one neither helps nor hurts.
            return self, VideoDecision.KEEP
        clean_run = self.clean_run + 1 if reading.clean else 0
        if clean_run < self.clean_needed:
            return replace(self, clean_run=clean_run), VideoDecision.KEEP
        gate = replace(self, paused=False, recent=(), cause=None, clean_run=0, since_resume=0)
        return gate, VideoDecision.RESUME


def _pause_cause(recent: Sequence[LinkReading], window: int, weak_needed: int) -> PauseCause | None:
    """Why video should pause now, or None.

    Two samples in a row are enough when they leave no doubt: video over the link's capacity
    (audio is drowning in the queue behind it), or a loss no 2 s burst can explain. Otherwise the
    judgement waits for a full window. Any sign of congestion in it makes the cause congestion:
    the loss of a link flooded by video says nothing about the link without it.
    """
    congested = any(r.over_capacity or (r.rtt_ms or 0.0) >= WEAK_RTT_MS for r in recent)
    cause = PauseCause.CONGESTION if congested else PauseCause.LOSS
    last_two = recent[-2:]
    if len(last_two) == 2 and (
        all(r.over_capacity for r in last_two)
        or all((r.loss_pct or 0.0) >= SEVERE_LOSS_PCT for r in last_two)
    ):
        return cause
    if len(recent) < window:
        return None
    losses = [r.loss_pct for r in recent if r.loss_pct is not None]
    if (losses and sum(losses) / len(losses) >= PAUSE_LOSS_PCT) or sum(r.weak for r in recent) >= weak_needed:
        return cause
    return None
