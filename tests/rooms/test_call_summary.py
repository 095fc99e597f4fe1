"""Quality windows in the session log (rooms/quality_log.py) and the summary of a call (call_summary)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rooms.call_quality import LegMeasures, LinkScore, score_link
from rooms.call_summary import CallSummary, logged_summary, summarize, summary_event
from rooms.quality_log import (
    WINDOW_SECONDS,
    LinkSample,
    LoggedWindow,
    MediaPath,
    QualityWindow,
    VideoState,
    fold,
)
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CONSULT = "c-1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def scored(loss: float) -> LinkScore:
    score = score_link(LegMeasures(0, 5), LegMeasures(loss, 5), rtt_ms=60)
    assert score is not None
    return score


def sample(
    second: float,
    loss: float = 0,
    video: VideoState = VideoState.ON,
    path: MediaPath = MediaPath.DIRECT,
    bytes_: int = 1000,
) -> LinkSample:
    return LinkSample(at(second), 2.0, scored(loss), video, bytes_, path, {"loss_pct": str(loss)})


def run(participant: str, samples: list[LinkSample]) -> list[QualityWindow]:
    """Fold the samples; every window that closed, then the one still open (as a consult's end does)."""
    window: QualityWindow | None = None
    closed: list[QualityWindow] = []
    for s in samples:
        window, done = fold(window, participant, s)
        if done is not None:
            closed.append(done)
    assert window is not None
    return [*closed, window]


# -- windows -------------------------------------------------------------------------------------


def test_samples_with_the_same_grade_and_video_share_a_window() -> None:
    [window] = run("p", [sample(2), sample(4, loss=1), sample(6)])
    assert window.start == at(0) and window.end == at(6) and window.seconds == 6
    assert window.bytes == 3000
    assert window.mos_min == pytest.approx(scored(1).mos)
    assert window.mos_mean == pytest.approx((2 * scored(0).mos + 2 * scored(1).mos + 2 * scored(0).mos) / 6)


def test_a_new_grade_or_video_state_closes_the_window() -> None:
    windows = run(
        "p", [sample(2), sample(4, loss=8), sample(6, loss=8), sample(8, loss=8, video=VideoState.PAUSED)]
    )
    assert [(w.grade, w.video, w.seconds) for w in windows] == [
        (scored(0).grade, VideoState.ON, 2),
        (scored(8).grade, VideoState.ON, 4),
        (scored(8).grade, VideoState.PAUSED, 2),
    ]


def test_a_window_spans_at_most_thirty_seconds() -> None:
    windows = run("p", [sample(second) for second in range(2, 62, 2)])
    assert all((w.end - w.start).total_seconds() <= WINDOW_SECONDS for w in windows)
    assert [w.seconds for w in windows] == [30, 30]


def test_a_relay_seen_once_marks_the_window() -> None:
    [window] = run("p", [sample(2), sample(4, path=MediaPath.TURN), sample(6, path=MediaPath.UNKNOWN)])
    assert window.path is MediaPath.TURN


def test_a_logged_window_reads_back() -> None:
    [window] = run("p", [sample(2), sample(4, loss=1)])
    event = window.to_event(CONSULT, at(10))
    assert event.kind is EventKind.MEDIA_QUALITY and event.actor_id == "p" and event.at == at(10)
    assert event.detail["loss_pct"] == "1" and event.detail["grade"] == "good"
    assert event.detail["mos"] == f"{scored(1).mos:.2f}"
    back = LoggedWindow.from_event(event)
    assert back is not None
    assert (back.start, back.end, back.scored_seconds, back.bytes) == (at(0), at(4), 4.0, 2000)
    assert back.video is VideoState.ON and back.path is MediaPath.DIRECT
    assert back.mos_min == pytest.approx(scored(1).mos, abs=0.005)


def test_an_unscored_sample_keeps_no_score() -> None:
    silent = LinkSample(at(2), 2.0, None, VideoState.ON, 0, MediaPath.UNKNOWN)
    [window] = run("p", [silent])
    detail = window.to_event(CONSULT, at(2)).detail
    assert "mos" not in detail and "grade" not in detail and detail["scored_seconds"] == "0.0"


def test_quality_entries_from_before_windows_are_skipped() -> None:
    old = SessionEvent(CONSULT, EventKind.MEDIA_QUALITY, at(5), "p", None, None, {"level": "good"})
    assert LoggedWindow.from_event(old) is None


# -- the summary ---------------------------------------------------------------------------------


def event(kind: EventKind, second: float, actor: str, role: Role | None) -> SessionEvent:
    return SessionEvent(CONSULT, kind, at(second), actor, role)


def consult_log() -> list[SessionEvent]:
    """A nurse and a patient with video for 60 s, except 30 s when the patient chose audio only;
    the patient's link went through TURN and dropped once; a companion stayed on audio only."""
    log = [
        event(EventKind.CREATED, -600, "system", None),
        event(EventKind.ADMITTED, -10, "nurse", Role.NURSE),
        event(EventKind.JOINED, 0, "patient", Role.PATIENT),
        event(EventKind.JOINED, 0, "nurse", Role.NURSE),
        event(EventKind.JOINED, 0, "companion", Role.COMPANION),
        event(EventKind.DROPPED, 40, "patient", Role.PATIENT),
        event(EventKind.RETURNED, 42, "patient", Role.PATIENT),
        event(EventKind.ENDED, 61, "nurse", Role.NURSE),
    ]
    windows = [
        *run("nurse", [sample(s) for s in range(2, 62, 2)]),
        *run(
            "patient",
            [sample(s, loss=8, path=MediaPath.TURN) for s in range(2, 32, 2)]
            + [sample(s, video=VideoState.OFF) for s in range(32, 62, 2)],
        ),
        *run("companion", [sample(s, video=VideoState.OFF) for s in range(2, 62, 2)]),
    ]
    return log + [w.to_event(CONSULT, at(61)) for w in windows]


def test_the_summary_of_a_call() -> None:
    summary = summarize(consult_log())
    assert summary is not None
    assert summary.started_at == at(0) and summary.ended_at == at(61)
    # 90 samples of 2 s: 15 of the patient's at 8 % loss, the other 75 clean
    clean, lossy = scored(0).mos, scored(8).mos
    assert summary.mos_mean == pytest.approx((75 * clean + 15 * lossy) / 90, abs=0.01)
    assert summary.mos_worst == pytest.approx(lossy, abs=0.005)
    # the companion's audio only does not count; the patient's second half does
    assert summary.video_seconds == pytest.approx(30)
    assert summary.audio_only_seconds == pytest.approx(30)
    assert summary.video_limited_share == pytest.approx(0.5)
    assert summary.reconnections == 1
    assert summary.media_path is MediaPath.TURN
    assert summary.data_bytes == 90 * 1000


def test_everyone_direct_is_direct_and_anyone_unknown_is_unknown() -> None:
    log = [e for e in consult_log() if e.kind is not EventKind.MEDIA_QUALITY]
    direct = log + [
        w.to_event(CONSULT, at(61)) for w in run("nurse", [sample(2)]) + run("patient", [sample(2)])
    ]
    summary = summarize(direct)
    assert summary is not None and summary.media_path is MediaPath.DIRECT
    unknown = direct + [
        w.to_event(CONSULT, at(61)) for w in run("companion", [sample(2, path=MediaPath.UNKNOWN)])
    ]
    summary = summarize(unknown)
    assert summary is not None and summary.media_path is MediaPath.UNKNOWN


def test_a_call_without_samples_is_summarized_without_scores() -> None:
    log = [e for e in consult_log() if e.kind is not EventKind.MEDIA_QUALITY]
    summary = summarize(log)
    assert summary is not None
    assert summary.mos_mean is None and summary.mos_worst is None
    assert summary.video_seconds == 0 and summary.video_limited_share is None
    assert summary.media_path is MediaPath.UNKNOWN
    assert "mos_mean" not in summary.to_detail()


def test_no_call_no_summary() -> None:
    never_joined = [event(EventKind.CREATED, 0, "system", None), event(EventKind.ENDED, 60, "s", Role.NURSE)]
    assert summarize(never_joined) is None
    assert summary_event(CONSULT, never_joined, at(61)) is None


def test_the_summary_is_appended_once_and_reads_back() -> None:
    log = consult_log()
    entry = summary_event(CONSULT, log, at(62))
    assert entry is not None and entry.kind is EventKind.CALL_SUMMARY and entry.at == at(62)
    log.append(entry)
    assert summary_event(CONSULT, log, at(63)) is None
    back = logged_summary(log)
    assert back is not None and back == CallSummary.from_detail(entry.detail)
    original = summarize(log)
    assert original is not None
    assert back.mos_mean == pytest.approx(original.mos_mean or 0, abs=0.005)
    assert back.audio_only_seconds == original.audio_only_seconds
    assert logged_summary(log[:-1]) is None


def test_overlapping_windows_are_counted_once() -> None:
    log = [e for e in consult_log() if e.kind is not EventKind.MEDIA_QUALITY]
    both = run("nurse", [sample(s) for s in range(2, 22, 2)]) + run(
        "patient", [sample(s) for s in range(12, 32, 2)]
    )
    summary = summarize(log + [w.to_event(CONSULT, at(61)) for w in both])
    assert summary is not None
    assert summary.video_seconds == pytest.approx(30) and summary.audio_only_seconds == 0
