"""Audio first: when a participant's link degrades, their incoming video pauses before audio suffers.

A pure state machine fed one quality level per sample (every 2 s). Video pauses after
``pause_after`` bad samples in a row and resumes only after ``resume_after`` good ones in a row;
the asymmetry is the hysteresis that keeps a link at the edge from flapping between the two.
Before pausing, the publishers' bitrate already steps down to what the link reports (REMB), so a
pause is the second step, not the first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from media.quality import QualityLevel

BAD_FOR_VIDEO = frozenset({QualityLevel.BAD})
GOOD_FOR_VIDEO = frozenset({QualityLevel.GOOD, QualityLevel.FAIR})


class VideoDecision(StrEnum):
    KEEP = "keep"
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class VideoGate:
    paused: bool = False
    bad_run: int = 0
    good_run: int = 0
    pause_after: int = 2
    resume_after: int = 2

    def observe(self, level: QualityLevel) -> tuple[VideoGate, VideoDecision]:
        bad_run = self.bad_run + 1 if level in BAD_FOR_VIDEO else 0
        good_run = self.good_run + 1 if level in GOOD_FOR_VIDEO else 0
        if not self.paused and bad_run >= self.pause_after:
            return replace(self, paused=True, bad_run=0, good_run=0), VideoDecision.PAUSE
        if self.paused and good_run >= self.resume_after:
            return replace(self, paused=False, bad_run=0, good_run=0), VideoDecision.RESUME
        return replace(self, bad_run=bad_run, good_run=good_run), VideoDecision.KEEP
