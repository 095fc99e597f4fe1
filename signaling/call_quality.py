"""Scoring each quality sample for the pages, and keeping its windows in the session log.

The media plane measures every participant's link every 2 s (a ``QUALITY`` event). Here each
sample is read into the domain's values, scored by the E-model (``rooms/call_quality.py``: MOS,
grade and reason, per direction), and the score joins what the consult's pages hear
(``media:quality``). The sample then folds into the participant's window (``rooms/quality_log.py``),
which goes into the session log as a ``media_quality`` entry when it closes, or when the consult
ends (:meth:`CallQualityLog.close`). The windows live in this node's :class:`NodeState`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from media.backend import MediaEvent
from rooms.call_quality import Direction, LegMeasures, LinkScore, score_link
from rooms.quality_log import LinkSample, MediaPath, VideoState, fold
from rooms.store.base import ConsultStore
from signaling.node_state import NodeState

SAMPLE_SECONDS = 2.0
"""The media plane's interval, for a sample that does not say its own."""
LOGGED_MEASURES = ("level", "loss_pct", "jitter_ms", "rtt_ms", "bitrate_kbps", "sent_kbps", "codec")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _leg(value: object) -> LegMeasures | None:
    if not isinstance(value, Mapping):
        return None
    return LegMeasures(_number(value.get("loss_pct")) or 0.0, _number(value.get("jitter_ms")) or 0.0)


def _video(value: object) -> VideoState:
    return VideoState(str(value)) if value in set(VideoState) else VideoState.ON


def _path(value: object) -> MediaPath:
    return MediaPath(str(value)) if value in set(MediaPath) else MediaPath.UNKNOWN


def sample_of(data: Mapping[str, object], at: datetime) -> LinkSample:
    """One ``QUALITY`` event's data as the domain's scored sample."""
    codec = data.get("codec")
    score = score_link(
        _leg(data.get("upload")),
        _leg(data.get("download")),
        _number(data.get("rtt_ms")),
        codec if isinstance(codec, str) else None,
    )
    seconds = _number(data.get("interval_s")) or SAMPLE_SECONDS
    kbps = (_number(data.get("bitrate_kbps")) or 0.0) + (_number(data.get("sent_kbps")) or 0.0)
    return LinkSample(
        at=at,
        seconds=seconds,
        score=score,
        video=_video(data.get("video")),
        bytes=max(0, round(kbps * 125.0 * seconds)),
        path=_path(data.get("path")),
        measures={key: str(data[key]) for key in LOGGED_MEASURES if data.get(key) is not None},
    )


def score_json(data: Mapping[str, object], score: LinkScore | None) -> dict[str, object]:
    """What the pages hear besides the measures: the MOS of the link and of each direction, its
    grade, and the reason when it is not good (all None when nothing flowed)."""
    scored: dict[str, object] = {
        "mos": round(score.mos, 2) if score else None,
        "grade": score.grade.value if score else None,
        "reason": score.reason.to_json() if score and score.reason else None,
    }
    for direction in Direction:
        measures = data.get(direction.value)
        leg = score.leg(direction) if score else None
        if isinstance(measures, Mapping) and leg is not None:
            scored[direction.value] = {**measures, "mos": round(leg.mos, 2)}
    return scored


class CallQualityLog:
    def __init__(self, consults: ConsultStore, state: NodeState, clock: Callable[[], datetime]) -> None:
        self._consults = consults
        self._state = state
        self._clock = clock

    async def observe(self, event: MediaEvent) -> dict[str, object]:
        """Score one sample, log the window it closed, and return the ``media:quality`` payload."""
        at = self._clock()
        sample = sample_of(event.data, at)
        key = (event.room_id, event.participant_id)
        window, closed = fold(self._state.quality_windows.get(key), event.participant_id, sample)
        self._state.quality_windows[key] = window
        if closed is not None:
            await self._consults.append_log(event.room_id, [closed.to_event(event.room_id, at)])
        return {"participant_id": event.participant_id, **event.data, **score_json(event.data, sample.score)}

    async def close(self, consult_id: str) -> None:
        """The consult ended: every open window of it goes into the log (and leaves this node)."""
        keys = [key for key in self._state.quality_windows if key[0] == consult_id]
        if not keys:
            return
        at = self._clock()
        windows = [self._state.quality_windows.pop(key) for key in keys]
        await self._consults.append_log(consult_id, [w.to_event(consult_id, at) for w in windows])
