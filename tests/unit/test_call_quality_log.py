"""Signaling's reading of a QUALITY event (signaling/call_quality.py): scored, and robust to gaps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rooms.call_quality import Grade
from rooms.quality_log import MediaPath, VideoState
from signaling.call_quality import sample_of, score_json

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DATA: dict[str, object] = {
    "level": "poor",
    "loss_pct": 8.0,
    "jitter_ms": 12.0,
    "rtt_ms": 100.0,
    "bitrate_kbps": 600.0,
    "sent_kbps": 200.0,
    "interval_s": 2.0,
    "upload": {"loss_pct": 0.0, "jitter_ms": 5.0},
    "download": {"loss_pct": 8.0, "jitter_ms": 10.0},
    "codec": "opus",
    "path": "turn",
    "video": "paused",
}


def test_a_sample_is_scored_and_accounted() -> None:
    sample = sample_of(DATA, AT)
    assert sample.score is not None and sample.score.grade is Grade.FAIR
    assert sample.video is VideoState.PAUSED and sample.path is MediaPath.TURN
    assert sample.bytes == 200_000  # 800 kbit/s both ways for 2 s
    assert sample.measures["codec"] == "opus" and "upload" not in sample.measures
    payload = score_json(DATA, sample.score)
    assert payload["grade"] == "fair" and payload["mos"] == pytest.approx(3.41, abs=0.005)
    assert payload["reason"] == {"code": "loss", "value": 8.0, "direction": "download"}
    assert payload["download"] == {"loss_pct": 8.0, "jitter_ms": 10.0, "mos": payload["mos"]}


def test_a_sample_with_nothing_flowing_or_unknown_values() -> None:
    sample = sample_of({"rtt_ms": None, "upload": None, "download": None, "video": "sideways"}, AT)
    assert sample.score is None and sample.seconds == 2.0 and sample.bytes == 0
    assert sample.video is VideoState.ON and sample.path is MediaPath.UNKNOWN
    assert score_json({}, None) == {"mos": None, "grade": None, "reason": None}
