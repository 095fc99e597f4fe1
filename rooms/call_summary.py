"""What the call was like, for the record: one ``call_summary`` entry when the consult ends.

Computed from the session log's own entries (the ``media_quality`` windows of
:mod:`rooms.quality_log`, the joins and the returns), so it can be computed again from an archived
log and gives the same answer:

* ``mos_mean``, ``mos_worst``: the mean of every participant's estimated MOS weighted by the
  seconds it held, and the lowest one; absent when nothing was measured;
* ``video_seconds``, ``audio_only_seconds``: of the time measured for the people the consult is
  about (the patient and staff; everyone, when none of them was measured), the time when all of
  them were receiving video, and the time when at least one was not (audio only by choice, or video
  paused by the server for a weak link): what was seen remotely;
* ``reconnections``: connections that dropped and came back (``returned``);
* ``media_path``: ``turn`` when anyone's media went through a TURN relay, ``direct`` when everyone's
  was known to go straight to the server, else ``unknown``;
* ``data_bytes``: bytes the server exchanged with all participants, both ways;
* ``started_at``, ``ended_at``: the first join and the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rooms.quality_log import LoggedWindow, MediaPath, VideoState, either_path
from rooms.roles import STAFF_ROLES, Role
from rooms.session_log import EventKind, SessionEvent

CLINICAL_ROLES = STAFF_ROLES | {Role.PATIENT}
"""Whose video counts for what was seen remotely: not a companion's or an interpreter's choice."""


@dataclass(frozen=True, slots=True)
class CallSummary:
    started_at: datetime
    ended_at: datetime
    mos_mean: float | None
    mos_worst: float | None
    video_seconds: float
    audio_only_seconds: float
    reconnections: int
    media_path: MediaPath
    data_bytes: int

    @property
    def video_limited_share(self) -> float | None:
        """The fraction of the measured time with limited video, or None when none was measured."""
        measured = self.video_seconds + self.audio_only_seconds
        return self.audio_only_seconds / measured if measured > 0 else None

    def to_detail(self) -> dict[str, str]:
        detail = {
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "video_seconds": f"{self.video_seconds:.1f}",
            "audio_only_seconds": f"{self.audio_only_seconds:.1f}",
            "reconnections": str(self.reconnections),
            "media_path": self.media_path.value,
            "data_bytes": str(self.data_bytes),
        }
        if self.mos_mean is not None and self.mos_worst is not None:
            detail["mos_mean"] = f"{self.mos_mean:.2f}"
            detail["mos_worst"] = f"{self.mos_worst:.2f}"
        return detail

    @classmethod
    def from_detail(cls, detail: Mapping[str, str]) -> CallSummary:
        """Read a logged summary back; raises ``KeyError`` or ``ValueError`` for a malformed one."""
        return cls(
            started_at=datetime.fromisoformat(detail["started_at"]),
            ended_at=datetime.fromisoformat(detail["ended_at"]),
            mos_mean=float(detail["mos_mean"]) if "mos_mean" in detail else None,
            mos_worst=float(detail["mos_worst"]) if "mos_worst" in detail else None,
            video_seconds=float(detail["video_seconds"]),
            audio_only_seconds=float(detail["audio_only_seconds"]),
            reconnections=int(detail["reconnections"]),
            media_path=MediaPath(detail["media_path"]),
            data_bytes=int(detail["data_bytes"]),
        )


def _covered_seconds(spans: Iterable[tuple[datetime, datetime]]) -> float:
    """How long the union of the spans lasts (overlaps counted once)."""
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


def _scored(windows: Iterable[LoggedWindow]) -> list[LoggedWindow]:
    """The windows that carry an estimated MOS over some time: the only ones that score the call."""
    return [w for w in windows if w.mos_mean is not None and w.scored_seconds > 0]


def _mos_mean(scored: Sequence[LoggedWindow]) -> float | None:
    """The mean MOS weighted by the seconds each window held it; None when nothing was scored."""
    weight = sum(w.scored_seconds for w in scored)
    if weight <= 0:
        return None
    return sum((w.mos_mean or 0.0) * w.scored_seconds for w in scored) / weight


def _mos_worst(scored: Iterable[LoggedWindow]) -> float | None:
    """The lowest MOS any scored window saw; None when none recorded one."""
    lows = [w.mos_min for w in scored if w.mos_min is not None]
    return min(lows) if lows else None


def _clinical(windows: Sequence[LoggedWindow], roles: Mapping[str, Role | None]) -> Sequence[LoggedWindow]:
    """The windows of the people the consult is about; everyone's when none of them was measured."""
    return [w for w in windows if roles.get(w.participant_id) in CLINICAL_ROLES] or windows


def _limited_seconds(windows: Iterable[LoggedWindow]) -> float:
    """How long at least one of the windows' participants was not receiving video."""
    return _covered_seconds((w.start, w.end) for w in windows if w.video is not VideoState.ON)


def _media_path(windows: Iterable[LoggedWindow]) -> MediaPath:
    """TURN when anyone relayed, DIRECT when everyone was known to go straight, else UNKNOWN."""
    paths: dict[str, MediaPath] = {}
    for w in windows:
        paths[w.participant_id] = either_path(paths.get(w.participant_id, MediaPath.UNKNOWN), w.path)
    seen = set(paths.values())
    if MediaPath.TURN in seen:
        return MediaPath.TURN
    return MediaPath.DIRECT if seen == {MediaPath.DIRECT} else MediaPath.UNKNOWN


def _ended_at(ordered: Sequence[SessionEvent]) -> datetime:
    """The last ``ended`` entry, or the log's last entry when the consult was never ended."""
    ended = [e.at for e in ordered if e.kind is EventKind.ENDED]
    return ended[-1] if ended else ordered[-1].at


def summarize(events: Sequence[SessionEvent]) -> CallSummary | None:
    """The call's summary from its log; None when nobody joined (there was no call)."""
    ordered = sorted(events, key=lambda e: e.at)
    joins = [e for e in ordered if e.kind is EventKind.JOINED]
    if not joins:
        return None
    roles = {e.actor_id: e.actor_role for e in joins}
    windows = [w for e in ordered if (w := LoggedWindow.from_event(e)) is not None]
    scored = _scored(windows)
    clinical = _clinical(windows, roles)
    measured = _covered_seconds((w.start, w.end) for w in clinical)
    limited = _limited_seconds(clinical)
    return CallSummary(
        started_at=joins[0].at,
        ended_at=_ended_at(ordered),
        mos_mean=_mos_mean(scored),
        mos_worst=_mos_worst(scored),
        video_seconds=measured - limited,
        audio_only_seconds=limited,
        reconnections=sum(1 for e in ordered if e.kind is EventKind.RETURNED),
        media_path=_media_path(windows),
        data_bytes=sum(w.bytes for w in windows),
    )


def summary_event(consult_id: str, events: Sequence[SessionEvent], at: datetime) -> SessionEvent | None:
    """The ``call_summary`` entry to append at ``at``; None when there was no call, or the log
    already has its summary (a consult closed twice is summarized once)."""
    if any(e.kind is EventKind.CALL_SUMMARY for e in events):
        return None
    summary = summarize(events)
    if summary is None:
        return None
    return SessionEvent(consult_id, EventKind.CALL_SUMMARY, at, "system", None, None, summary.to_detail())


def logged_summary(events: Sequence[SessionEvent]) -> CallSummary | None:
    """The summary the log holds, or None (no call, the consult still going, or unreadable)."""
    entry = next((e for e in reversed(events) if e.kind is EventKind.CALL_SUMMARY), None)
    if entry is None:
        return None
    try:
        return CallSummary.from_detail(entry.detail)
    except (KeyError, ValueError):
        return None
