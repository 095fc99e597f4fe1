"""Audio first: when a participant's link cannot carry video, the video they receive pauses.

A pure state machine fed one :class:`LinkReading` of the participant's *download* per quality
sample (every 2 s). Pausing the video someone receives only helps the direction towards them, so
their upload does not count here (the camera caps of :mod:`media.link_policy` deal with that).

Why it does not flap (what the previous two-samples-in-a-row hysteresis did on a 150 kbit/s link):

* **A longer window.** Video pauses when, over the last ``window`` samples (10 s), the link lost
  on average 15 % or more, or when nearly every sample of it (all but one) was weak: a loss of
  15 % or more, a round trip of 800 ms or more, or a capacity below what video costs. Loss that
  comes in short bursts (2 s at 30 %, 3 s clean) averages out under the threshold, so video goes
  on between the bursts instead of pausing through the clean gaps. A window in which the page
  reported whole seconds without loss has its loss in bursts: its samples are not weak for their
  loss alone, and it pauses only at ``BURSTY_PAUSE_LOSS_PCT`` on average. Bursts straddle the 2 s
  samples, and two of them in 10 s averaged 15 % by chance (a pause at the end of a 20 s
  bursty stretch, and video back only after twice its clean gaps). Only two samples in a row
  that leave no doubt pause sooner: video over capacity, or 25 % loss that no burst explains.
* **What video costs against what the link carries.** While video flows, the participant's
  browser estimates the bandwidth it receives (REMB); below the cheapest video we send
  (``needed_bps``: the camera floor and audio) video cannot fit, whatever the loss says.
* **An overrun pauses within a second** (:meth:`VideoGate.check`, every 0.5 s, no window). When
  that estimate *falls* under what video costs and under ``OVERRUN_SHARE`` of what the server
  sent towards the participant in the last interval, and stays there at the next check, the link
  is delivering far less than it is given: its queue is full and drops audio with video. Waiting
  for two 2 s samples let a 150 kbit/s link's queue overflow for 2-4 s, and the patient lost a
  third to half of the audio in those seconds. Only a fall from where video fitted starts it: an
  estimate that is low because little is sent (a starved camera) or still climbing (after a
  resume, at the start) is no overrun, and a browser that sees only delay jitter from upstream
  scales its estimate to 0.85 of what it receives, above that share.
* **Probes after congestion.** While video is paused for congestion the server sends padding in
  the paused stream (:mod:`media.link_policy`), up to 100 small packets a second, and the page
  counts them with the audio: up to three times the evidence a second, so video is steady again
  1.7-3.2 s after the link clears instead of 6-7 s (bench.weak_networks, docs/performance.md).
  The probes give way to the audio: their rate halves at each page report while the link
  towards the participant queues, and grows again once it does not; once its queue is empty the
  rate comes straight back to what the link last carried, and while the link still loses packets
  it stays under the rate at which the probes last filled it (:class:`ProbeRate`).
* **Resume on evidence, and back off after a resume that failed.** While video is paused only
  audio flows, so evidence says whether the link is *clean* (under 0.5 % loss and a short round
  trip), never whether video would fit again. On receiver reports alone (clients that send no
  page reports), a pause for loss resumes at the first clean sample (a link that lost 15 % cannot
  look clean by chance) and a pause for congestion waits for two; a sample without a new report
  is no evidence either way. When the link turns weak again within ``failed_within`` samples of
  a resume, that resume failed: the next one waits twice as long, up to ``max_backoff``; a resume
  that holds resets it.

Why the page's own counts (:class:`PageEvidence`, ``media:link_report``), and how they are
judged. With video paused, Chromium sends receiver reports for audio only every ~5 s, and the
first one after the link clears still covers part of the bad period: resuming on them took
10-15 s. The page counts what it receives and reports every second, and sooner while video
is paused once it has received what would resume it (:attr:`VideoGate.packets_to_resume`).
While video flows, the page's figures since the last sample stand in for the receiver reports'
loss in that sample (:meth:`VideoGate.hear` keeps them, :meth:`VideoGate.observe` uses them).
While video is paused, each report is judged as it arrives, in packets, since a second of
audio (~50 packets) is weak evidence on its own: a link losing 2 % leaves a second without loss
one time in three. A report is clean when it lost under 0.5 % (in practice none of its
packets) and the round trip the newest receiver report measured (on any stream: the probes
bring one a second) was short. The
reports since the link turned weak (:class:`BadStretch`: the window that paused video and the
pause since) are what a resume is judged by; video resumes when the clean reports in a row (the
*spell*) cover

1. ``RESUME_PACKETS`` after a loss, twice that after congestion, doubled for every failed resume;
2. twice the longest clean spell that loss ended since the link turned weak: loss in bursts
   leaves clean gaps between them, of uneven length as the reports fall;
3. as many packets as the weak link would leave clean by chance less than once in 200 pauses:
   ``ln(spells / CHANCE)`` times its mean gap between losses (counting half a standard
   deviation fewer losses than seen, and one try per clean spell begun); after congestion,
   never less than for a link losing ``CONGESTED_LOSS_PCT``, since audio alone says nothing of
   whether video fits, and queues draining after the pause make the link look worse than it
   stays. At 15 % loss one report is enough; at 2 %, about seven;

but never before the page has reported ``MEASURED_PACKETS`` (~7 s of audio) of the weak link,
and never more than ``max_backoff`` times ``RESUME_PACKETS`` (~26 s). A report of no packets is
no evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

PAUSE_LOSS_PCT = 15.0
"""Loss at which audio suffers enough to give up video (the BAD quality level)."""
BURSTY_PAUSE_LOSS_PCT = 20.0
"""The average loss that pauses a window with clean seconds between its bursts: between them
video plays, and a pause would cost their clean seconds too. Bursts of 30 % for 2 s in every 5
average 12 % (1.3 points of spread over 10 s); bursts that lose most of their packets still pause."""
SEVERE_LOSS_PCT = 25.0
"""Loss that, two samples in a row, pauses at once: a 2 s burst fills at most one whole sample."""
CLEAN_LOSS_PCT = 0.5
"""Under this a report is clean: at most one packet lost of the ~250 audio packets an audio-only
report covers, which a link losing 2 % gives by chance in one report of 25."""
CLEAN_RTT_MS = 200.0
CONGESTED_LOSS_PCT = 2.0
CONGESTED_RTT_MS = 400.0
WEAK_RTT_MS = 800.0
RESUME_PACKETS = 40
"""The clean packets a resume after a loss needs at least: one page report (a second of 20 ms
audio frames is 50 packets)."""
MEASURED_PACKETS = 350
"""What the page must have reported since the link turned weak (~7 s of audio) before a clean
spell counts: that link's loss rate and the gaps between its bursts are what a spell is judged by."""
CHANCE = 1 / 200
"""How rarely a pause may end by chance while the link is as bad as during it."""
PROBE_START_PPS = 50.0
"""Padding packets a second in a stream paused for congestion, when the pause begins."""
PROBE_MAX_PPS = 100.0
"""The most probes a second (about 55 kbit/s with headers, twice audio's packets)."""
PROBE_MIN_PPS = 10.0
"""The fewest: enough for a receiver report on the stream every second, which measures the round
trip the probes' rate follows."""
PROBE_QUEUE_MS = 100.0
"""Queueing on the link towards the participant (their page's measure, else the newest round
trip over the least one seen) beyond which the probes are more than it carries beside the
audio: at 100 pps, a 150 kbit/s link's 300 ms queue stayed full and a 100 kbit/s link lost a
third of the audio until its page gave up the connection."""
PROBE_EMPTY_QUEUE_MS = 25.0
"""Queueing under which the link towards the participant carries everything it is sent: the
page's one-way measure varies by a few milliseconds on an idle link."""
PROBE_CEILING_SHARE = 0.85
"""Once the probes themselves have filled the link, reports that lose packets keep them under this
share of the rate that filled it: growing by half from there refilled a 100 kbit/s link's 300 ms
queue every 8 s or so, and the audio waiting in it was concealed a quarter of a second at a time
(at 85 %, 0.80-1.03 % of its 90 s were concealed instead of 1.3-1.7 %: docs/performance.md)."""
OVERRUN_SHARE = 0.6
"""Video overruns the link when the browser's estimate is under this share of what is sent to it:
a receiver that detects its queue growing estimates 0.85 of what it gets, so this means the link
delivers under ~70 % of what it is given."""


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
    calm_reports: int = 0
    """Page reports in this sample that lost nothing: the link had clean seconds beside its loss."""

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
        return loss >= PAUSE_LOSS_PCT or self.weak_beside_loss

    @property
    def weak_beside_loss(self) -> bool:
        """Weak whatever its loss: a long round trip, or video over capacity."""
        return (self.rtt_ms or 0.0) >= WEAK_RTT_MS or self.over_capacity

    @property
    def clean(self) -> bool:
        return (
            self.loss_pct is not None
            and self.loss_pct < CLEAN_LOSS_PCT
            and (self.rtt_ms or 0.0) < CLEAN_RTT_MS
            and not self.over_capacity
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One overrun check of the direction towards a participant while their video flows."""

    sent_bps: int
    """What the server sent them over the last interval, audio and video."""
    estimate_bps: int | None
    """What their browser estimates it can receive (REMB), None before any estimate."""
    needed_bps: int

    @property
    def overrun(self) -> bool:
        estimate = self.estimate_bps
        if estimate is None:
            return False
        return estimate < self.needed_bps and estimate < OVERRUN_SHARE * self.sent_bps


@dataclass(frozen=True, slots=True)
class PageEvidence:
    """What the participant's page counted of the audio (else the video) it received in one
    interval: the packets this link carried, and how many of them it lost (``media:link_report``
    less the holes the sender's own uplink left)."""

    packets: int
    lost: int

    def __add__(self, other: PageEvidence) -> PageEvidence:
        return PageEvidence(self.packets + other.packets, self.lost + other.lost)

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.lost / self.packets if self.packets else 0.0


NO_EVIDENCE = PageEvidence(0, 0)


@dataclass(frozen=True, slots=True)
class BadStretch:
    """What the page reported since the link last looked weak: the window that paused video (while
    it flowed, under video's load) and the pause since."""

    evidence: PageEvidence = NO_EVIDENCE
    """All of it, the current clean spell included."""
    spell: int = 0
    """Clean packets in a row, up to the latest report."""
    longest: int = 0
    """The longest clean spell that loss ended."""
    spells: int = 0
    """Clean spells begun: each is one more chance to resume by luck."""

    def then(self, evidence: PageEvidence, *, clean: bool) -> BadStretch:
        total = self.evidence + evidence
        if not clean:
            return BadStretch(total, 0, max(self.longest, self.spell), self.spells)
        return BadStretch(total, self.spell + evidence.packets, self.longest, self.spells + (self.spell == 0))


@dataclass(frozen=True, slots=True)
class ProbeRate:
    """The probes' rate while video is paused for congestion, following the queue the page
    measures on its link after each report, the way TCP follows its slow-start threshold. The
    rate halves while the link queues more than ``PROBE_QUEUE_MS`` (the probes must never cost
    the audio they make room for), and half the rate at which the queue began is what the link
    is known to carry beside the audio. Otherwise it grows by half per report; once the queue is
    empty it comes straight back to that known rate. Climbing from the floor by half per report
    alone, the probes were still at 27 a second two seconds after the 100 kbit/s link cleared:
    the resume waits on the packets they bring.

    While the reports still lose packets the link is as bad as when the probes themselves last
    filled it (``ceiling_pps``), and they stay under ``PROBE_CEILING_SHARE`` of that rate. A
    report that lost nothing lets them grow by half as before, so a link that cleared gets its
    probes (and its resume) as soon; on a bad link such a report is rare (one in 40 at 3 % loss),
    and the next lossy report brings them back under."""

    pps: float = PROBE_START_PPS
    carried_pps: float = PROBE_START_PPS
    """Half the rate at which the link last began to queue: what it carries beside the audio."""
    queued: bool = False
    """The last report found the link queueing: halving again drains it, and says nothing new
    about the rate that filled it."""
    drained: bool = False
    """A report since the pause began found the link's queue empty. The queue the first reports
    find is the video's, which the pause left in the link, not the probes'."""
    ceiling_pps: float | None = None
    """The rate at which the probes last filled the link once it had drained."""

    def after(self, queue_ms: float, *, lost: bool) -> ProbeRate:
        """The rate after a page report that measured ``queue_ms`` on the link, and lost packets
        or not."""
        if queue_ms > PROBE_QUEUE_MS:
            halved = max(PROBE_MIN_PPS, self.pps / 2)
            if self.queued:
                return replace(self, pps=halved)
            ceiling = self.pps if self.drained else self.ceiling_pps
            return replace(self, pps=halved, carried_pps=halved, queued=True, ceiling_pps=ceiling)
        grown = min(PROBE_MAX_PPS, self.pps * 1.5)
        if lost and self.ceiling_pps is not None:
            grown = min(grown, max(PROBE_MIN_PPS, PROBE_CEILING_SHARE * self.ceiling_pps))
        empty = queue_ms <= PROBE_EMPTY_QUEUE_MS
        if empty:
            grown = max(grown, self.carried_pps)
        return replace(self, pps=grown, queued=False, drained=self.drained or empty)


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
    heard: PageEvidence = NO_EVIDENCE
    """The page's reports since the last sample (while video flows, that sample's loss)."""
    heard_calm: int = 0
    """Of those reports, the ones that lost nothing."""
    rtt_ms: float | None = None
    """The latest round trip a sample measured (page reports carry none)."""
    stretch: BadStretch = BadStretch()
    """The page's reports since the link turned weak (forgotten while a whole window is not)."""
    overruns: int = 0
    """Overrun checks in a row (:meth:`check`)."""
    overruns_needed: int = 2
    last_estimate_bps: int | None = None
    """The browser's estimate at the last overrun check while video flowed."""
    probes: ProbeRate = ProbeRate()
    """The probes' rate while paused for congestion."""
    base_rtt_ms: float | None = None
    """The least round trip measured: the link with no queue."""

    @property
    def probe_pps(self) -> float:
        return self.probes.pps

    @property
    def clean_needed(self) -> int:
        """Clean samples in a row before video resumes: one after a loss, two after congestion,
        doubled for every resume that failed (up to ``max_backoff``)."""
        base = 1 if self.cause is PauseCause.LOSS else 2
        return min(self.max_backoff, base << self.failures)

    @property
    def spell_needed(self) -> int:
        """Clean packets in a row the page must report before video resumes (rules 1-3 above)."""
        most = self.max_backoff * RESUME_PACKETS
        base = RESUME_PACKETS * self.clean_needed
        return min(most, max(base, 2 * self.stretch.longest, self._chance_spell()))

    @property
    def packets_to_resume(self) -> int | None:
        """While paused, the clean packets the page's next report must bring for video to resume
        (if its round trip stays short); None while video flows. The page reports as soon as it
        has received that many since its last report without a loss (``media:link_report_wanted``)
        instead of at its next whole second, which the resume waited for half a second on average.
        It reports early only with what completes the spell, so its early reports add next to no
        tries at a resume: spells still begin where its whole-second reports do."""
        if not self.paused:
            return None
        stretch = self.stretch
        if stretch.spell == 0:  # the next report, if clean, begins a spell: one more try
            stretch = replace(stretch, spells=stretch.spells + 1)
        needed = replace(self, stretch=stretch).spell_needed - stretch.spell
        return max(1, needed, MEASURED_PACKETS - stretch.evidence.packets)

    def _chance_spell(self) -> int:
        """Rule 3: a spell that the weak link would show by chance less than once in
        ``1 / CHANCE`` pauses."""
        stretch = self.stretch
        before = stretch.evidence.packets - stretch.spell
        lost = stretch.evidence.lost  # all of it before the spell, which is clean
        gap = 0.0  # packets between two losses, on average
        if before > 0 and 100.0 * lost / before >= CLEAN_LOSS_PCT:
            gap = before / (lost - 0.5 * math.sqrt(lost))
        if self.cause is PauseCause.CONGESTION:
            gap = max(gap, 100.0 / CONGESTED_LOSS_PCT)
        return math.ceil(gap * math.log(max(1, stretch.spells) / CHANCE))

    def hear(
        self, evidence: PageEvidence, rtt_ms: float | None = None, queue_ms: float | None = None
    ) -> tuple[VideoGate, VideoDecision]:
        """One page report, with the round trip the newest receiver report measured and the queue
        the page measured on its link, if any: kept for the next sample while video flows, judged
        at once while it is paused. A report of no packets says nothing. A sample's round trip is
        up to 2 s older: a congested link's 600 ms kept its first clean reports after the queue
        drained from counting. The probes follow the page's queue, which is this link's alone;
        without one, the round trip's excess over the least seen, which also carries the uplink."""
        if evidence.packets <= 0:
            return self, VideoDecision.KEEP
        base_rtt_ms = _least(self.base_rtt_ms, rtt_ms)
        if queue_ms is None and rtt_ms is not None and base_rtt_ms is not None:
            queue_ms = rtt_ms - base_rtt_ms
        probes = self.probes
        if queue_ms is not None and self.cause is PauseCause.CONGESTION:
            probes = probes.after(queue_ms, lost=evidence.lost > 0)
        rtt_ms = self.rtt_ms if rtt_ms is None else rtt_ms
        clean = evidence.loss_pct < CLEAN_LOSS_PCT and (rtt_ms or 0.0) < CLEAN_RTT_MS
        gate = replace(
            self,
            heard=self.heard + evidence,
            heard_calm=self.heard_calm + (evidence.lost == 0),
            stretch=self.stretch.then(evidence, clean=clean),
            rtt_ms=rtt_ms,
            base_rtt_ms=base_rtt_ms,
            probes=probes,
        )
        if (
            not self.paused
            or not clean
            or gate.stretch.evidence.packets < MEASURED_PACKETS
            or gate.stretch.spell < gate.spell_needed
        ):
            return gate, VideoDecision.KEEP
        return gate._resumed(), VideoDecision.RESUME

    def check(self, delivery: Delivery) -> tuple[VideoGate, VideoDecision]:
        """One overrun check (every 0.5 s): pause for congestion when the estimate fell into an
        overrun and the next check finds it still there."""
        if self.paused:
            return replace(self, overruns=0, last_estimate_bps=None), VideoDecision.KEEP
        estimate, last = delivery.estimate_bps, self.last_estimate_bps
        # From where video fitted: an estimate still climbing after a resume (from what audio and
        # probes carried) may dip without the link being any worse than when video resumed.
        fell = estimate is not None and last is not None and estimate < last and last >= delivery.needed_bps
        overruns = self.overruns + 1 if delivery.overrun and (fell or self.overruns) else 0
        gate = replace(self, overruns=overruns, last_estimate_bps=estimate)
        if overruns < self.overruns_needed:
            return gate, VideoDecision.KEEP
        # What paused video is the overrun, not the page's reports before it: a resume is judged
        # by what the page reports from now on.
        return replace(gate._paused_for(PauseCause.CONGESTION), stretch=BadStretch()), VideoDecision.PAUSE

    def observe(self, reading: LinkReading) -> tuple[VideoGate, VideoDecision]:
        """One quality sample (every 2 s). The page's reports since the last one, if any, are its
        download loss; the receiver reports' figure stands only when the page sent none."""
        rtt_ms = reading.rtt_ms if reading.rtt_ms is not None else self.rtt_ms
        gate = replace(
            self, heard=NO_EVIDENCE, heard_calm=0, rtt_ms=rtt_ms, base_rtt_ms=_least(self.base_rtt_ms, rtt_ms)
        )
        if self.paused:
            if self.heard.packets:
                return gate, VideoDecision.KEEP  # judged as each report came
            return gate._while_paused(reading)
        if self.heard.packets:
            reading = replace(reading, loss_pct=self.heard.loss_pct, calm_reports=self.heard_calm)
        return gate._while_flowing(reading)

    def _while_flowing(self, reading: LinkReading) -> tuple[VideoGate, VideoDecision]:
        recent = (*self.recent, reading)[-self.window :]
        since_resume = None if self.since_resume is None else self.since_resume + 1
        failures = self.failures
        if since_resume is not None and since_resume > self.failed_within:
            since_resume, failures = None, 0  # the last resume held
        cause = _pause_cause(recent, self.window, self.weak_needed)
        if cause is None:
            # A whole window without a weak sample: what the page said before is no weak link's.
            stretch = self.stretch if any(r.weak for r in recent) else BadStretch()
            return replace(
                self, recent=recent, since_resume=since_resume, failures=failures, stretch=stretch
            ), VideoDecision.KEEP
        gate = replace(self, since_resume=since_resume, failures=failures)
        return gate._paused_for(cause), VideoDecision.PAUSE

    def _paused_for(self, cause: PauseCause) -> VideoGate:
        failures = self.failures
        if self.since_resume is not None and self.since_resume <= self.failed_within:
            failures += 1  # paused again soon after a resume: that resume failed
        return replace(
            self,
            paused=True,
            recent=(),
            cause=cause,
            clean_run=0,
            failures=failures,
            since_resume=None,
            overruns=0,
            last_estimate_bps=None,
            probes=ProbeRate(),
        )

    def _while_paused(self, reading: LinkReading) -> tuple[VideoGate, VideoDecision]:
        if reading.loss_pct is None:
            # No new report: with video paused the browser reports on audio every ~5 s only
            # (libwebrtc's audio RTCP interval), so a sample without one neither helps nor hurts.
            return self, VideoDecision.KEEP
        clean_run = self.clean_run + 1 if reading.clean else 0
        if clean_run < self.clean_needed:
            return replace(self, clean_run=clean_run), VideoDecision.KEEP
        return self._resumed(), VideoDecision.RESUME

    def _resumed(self) -> VideoGate:
        return replace(
            self, paused=False, recent=(), cause=None, clean_run=0, since_resume=0, stretch=BadStretch()
        )


def _least(known: float | None, measured: float | None) -> float | None:
    if measured is None:
        return known
    return measured if known is None else min(known, measured)


def _pause_cause(recent: Sequence[LinkReading], window: int, weak_needed: int) -> PauseCause | None:
    """Why video should pause now, or None.

    Two samples in a row are enough when they leave no doubt: video over the link's capacity
    (audio is drowning in the queue behind it), or a loss no 2 s burst can explain. Otherwise the
    judgement waits for a full window. Any sign of congestion in it makes the cause congestion:
    the loss of a link flooded by video says nothing about the link without it. Clean seconds in
    the window mean its loss came in bursts, judged by its average alone, at a higher bar.
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
    bursty = any(r.calm_reports for r in recent)
    losses = [r.loss_pct for r in recent if r.loss_pct is not None]
    if losses and sum(losses) / len(losses) >= (BURSTY_PAUSE_LOSS_PCT if bursty else PAUSE_LOSS_PCT):
        return cause
    if sum(r.weak_beside_loss if bursty else r.weak for r in recent) >= weak_needed:
        return cause
    return None
