"""A participant's quality samples as the session log keeps them: in windows.

Every 2 s each participant's link is measured and scored (:mod:`rooms.call_quality`) and shown
live. The log keeps windows of those samples rather than each one: a window closes when the grade
or the video state changes, when it spans ``WINDOW_SECONDS``, and when the consult ends. Its
``media_quality`` entry says what the window held (its span, the seconds measured, the mean and
worst score, the video state, the bytes exchanged, the media path) and the last sample's measures.
So the summary when the consult ends (:mod:`rooms.call_summary`) is exact from the log's own
entries, and the log grows by a few entries a minute per participant instead of thirty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from rooms.call_quality import Grade, LinkScore
from rooms.session_log import EventKind, SessionEvent

WINDOW_SECONDS = 30.0


class VideoState(StrEnum):
    """Whether the participant was receiving video (and, when not, why)."""

    ON = "on"
    PAUSED = "paused"
    """The server paused it because the participant's link was weak (audio first)."""
    OFF = "off"
    """The participant chose audio only (which also stops their camera)."""


class MediaPath(StrEnum):
    """How a participant's media reached the server: straight, or through a TURN relay."""

    DIRECT = "direct"
    TURN = "turn"
    UNKNOWN = "unknown"


_PATH_WEIGHT = {MediaPath.UNKNOWN: 0, MediaPath.DIRECT: 1, MediaPath.TURN: 2}


def either_path(a: MediaPath, b: MediaPath) -> MediaPath:
    """Two observations of one participant's path: a relay seen once counts; knowing beats not."""
    return a if _PATH_WEIGHT[a] >= _PATH_WEIGHT[b] else b


@dataclass(frozen=True, slots=True)
class LinkSample:
    """One scored sample of a participant's link, as it arrived."""

    at: datetime
    seconds: float
    """The interval it measured, ending at ``at``."""
    score: LinkScore | None
    """None when nothing flowed in either direction."""
    video: VideoState
    bytes: int
    """Bytes the server exchanged with the participant in the interval, both ways."""
    path: MediaPath
    measures: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The sample's raw measures (loss, jitter, round trip, bitrate, codec), kept as logged text."""


def _grade(sample: LinkSample) -> Grade | None:
    return sample.score.grade if sample.score else None


@dataclass(frozen=True, slots=True)
class QualityWindow:
    """Consecutive samples of one participant with the same grade and video state."""

    participant_id: str
    start: datetime
    end: datetime
    seconds: float
    scored_seconds: float
    mos_seconds: float
    """The sum of each scored sample's MOS times its seconds (mean = this / ``scored_seconds``)."""
    mos_min: float | None
    grade: Grade | None
    video: VideoState
    bytes: int
    path: MediaPath
    last: LinkSample

    @classmethod
    def open(cls, participant_id: str, sample: LinkSample) -> QualityWindow:
        scored = sample.seconds if sample.score else 0.0
        return cls(
            participant_id=participant_id,
            start=sample.at - timedelta(seconds=sample.seconds),
            end=sample.at,
            seconds=sample.seconds,
            scored_seconds=scored,
            mos_seconds=sample.score.mos * scored if sample.score else 0.0,
            mos_min=sample.score.mos if sample.score else None,
            grade=_grade(sample),
            video=sample.video,
            bytes=sample.bytes,
            path=sample.path,
            last=sample,
        )

    def takes(self, sample: LinkSample) -> bool:
        """Whether ``sample`` continues this window (same grade and video, inside the span)."""
        return (
            sample.video is self.video
            and _grade(sample) is self.grade
            and (sample.at - self.start).total_seconds() <= WINDOW_SECONDS
        )

    def add(self, sample: LinkSample) -> QualityWindow:
        score = sample.score
        return replace(
            self,
            end=max(self.end, sample.at),
            seconds=self.seconds + sample.seconds,
            scored_seconds=self.scored_seconds + (sample.seconds if score else 0.0),
            mos_seconds=self.mos_seconds + (score.mos * sample.seconds if score else 0.0),
            mos_min=min(score.mos, self.mos_min if self.mos_min is not None else score.mos)
            if score
            else self.mos_min,
            bytes=self.bytes + sample.bytes,
            path=either_path(self.path, sample.path),
            last=sample,
        )

    @property
    def mos_mean(self) -> float | None:
        return self.mos_seconds / self.scored_seconds if self.scored_seconds > 0 else None

    def to_event(self, consult_id: str, at: datetime) -> SessionEvent:
        """The window's ``media_quality`` entry, logged at ``at`` (when it closed)."""
        detail: dict[str, str] = dict(self.last.measures)
        detail.update(
            {
                "from": self.start.isoformat(),
                "to": self.end.isoformat(),
                "seconds": f"{self.seconds:.1f}",
                "scored_seconds": f"{self.scored_seconds:.1f}",
                "video": self.video.value,
                "bytes": str(self.bytes),
                "path": self.path.value,
            }
        )
        score = self.last.score
        if score is not None and self.mos_mean is not None and self.mos_min is not None:
            detail.update(
                {
                    "grade": score.grade.value,
                    "mos": f"{score.mos:.2f}",
                    "mos_mean": f"{self.mos_mean:.2f}",
                    "mos_min": f"{self.mos_min:.2f}",
                }
            )
            if score.reason is not None:
                detail["reason"] = score.reason.impairment.value
                detail["reason_value"] = f"{score.reason.value:.1f}"
                detail["direction"] = score.reason.direction.value
        return SessionEvent(consult_id, EventKind.MEDIA_QUALITY, at, self.participant_id, None, None, detail)


def fold(
    window: QualityWindow | None, participant_id: str, sample: LinkSample
) -> tuple[QualityWindow, QualityWindow | None]:
    """The participant's window after ``sample``, and the window it closed (to log), if any."""
    if window is None:
        return QualityWindow.open(participant_id, sample), None
    if window.takes(sample):
        return window.add(sample), None
    return QualityWindow.open(participant_id, sample), window


@dataclass(frozen=True, slots=True)
class LoggedWindow:
    """A ``media_quality`` entry read back from the log."""

    participant_id: str
    start: datetime
    end: datetime
    scored_seconds: float
    mos_mean: float | None
    mos_min: float | None
    video: VideoState
    bytes: int
    path: MediaPath

    @classmethod
    def from_event(cls, event: SessionEvent) -> LoggedWindow | None:
        """None for another kind of entry, or a quality entry from before windows (no span)."""
        d = event.detail
        if event.kind is not EventKind.MEDIA_QUALITY or not {"from", "to", "video"} <= d.keys():
            return None
        try:
            return cls(
                participant_id=event.actor_id,
                start=datetime.fromisoformat(d["from"]),
                end=datetime.fromisoformat(d["to"]),
                scored_seconds=float(d.get("scored_seconds", "0")),
                mos_mean=float(d["mos_mean"]) if "mos_mean" in d else None,
                mos_min=float(d["mos_min"]) if "mos_min" in d else None,
                video=VideoState(d["video"]),
                bytes=int(d.get("bytes", "0")),
                path=MediaPath(d.get("path", MediaPath.UNKNOWN.value)),
            )
        except ValueError:
            return None
