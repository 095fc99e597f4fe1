"""Network quality per participant, from the RTCP-fed statistics of its server-side peer.

Loss is the worse of the two directions of the participant's *own* link: what the server lost of
the participant's upload, and what the participant's receiver reports lost of what the server sent
it. The server forwards packets under its own continuous sequence numbers, so a packet another
participant's uplink lost leaves a hole in the numbering that the receiver's reports count as lost
too; those holes (counted by the forwarder per outgoing stream) are taken out, and so is the jitter
the publisher's stream already had when it reached the server,
so a clean link is never blamed for someone else's (mediasoup and LiveKit score a consumer's stream
the same way: downstream loss net of what the producer's stream already lacked). Round-trip time
comes from those receiver reports; bitrate from the bytes the server received. The level is what
pages show, and what decides when video steps down to protect audio.

Download loss is that of the audio streams when there are any (what speech meets), else of the
worst stream. Each direction is also given on its own (``upload``, ``download``: loss and the
jitter of the audio stream, else of any stream), with the bytes the server sent and the interval
measured, so a mean-opinion score can be estimated per direction (``rooms/call_quality.py``, by
signaling).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

CLOCK_RATES = {"audio": 48_000, "video": 90_000}


class QualityLevel(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class DirectionSample:
    """One direction of a participant's link in one interval."""

    loss_pct: float
    jitter_ms: float
    """Of the audio stream when there is one (speech is what suffers), else of the worst stream."""

    def to_json(self) -> dict[str, object]:
        return {"loss_pct": round(self.loss_pct, 1), "jitter_ms": round(self.jitter_ms, 1)}


@dataclass(frozen=True, slots=True)
class QualitySample:
    loss_pct: float
    jitter_ms: float
    rtt_ms: float | None
    bitrate_kbps: float
    upload: DirectionSample | None = None
    """What the server received from the participant; None when they publish nothing."""
    download: DirectionSample | None = None
    """What the participant's receiver reported of what the server sends; None without a new report."""
    sent_kbps: float = 0.0
    """What the server sent the participant."""
    interval_s: float = 0.0

    @property
    def level(self) -> QualityLevel:
        rtt = self.rtt_ms or 0.0
        if self.loss_pct >= 15 or rtt >= 800:
            return QualityLevel.BAD
        if self.loss_pct >= 5 or rtt >= 400 or self.jitter_ms >= 60:
            return QualityLevel.POOR
        if self.loss_pct >= 2 or rtt >= 200 or self.jitter_ms >= 30:
            return QualityLevel.FAIR
        return QualityLevel.GOOD

    def to_json(self) -> dict[str, object]:
        return {
            "level": self.level.value,
            "loss_pct": round(self.loss_pct, 1),
            "jitter_ms": round(self.jitter_ms, 1),
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 1),
            "bitrate_kbps": round(self.bitrate_kbps, 1),
            "upload": self.upload.to_json() if self.upload else None,
            "download": self.download.to_json() if self.download else None,
            "sent_kbps": round(self.sent_kbps, 1),
            "interval_s": round(self.interval_s, 2),
        }


@dataclass(frozen=True, slots=True)
class Upstream:
    """What one stream the server forwards to the participant already lacked when it reached the
    server: none of it is the participant's link's doing."""

    holes: int = 0
    """Sequence numbers left empty because the publisher's link lost them (cumulative, as of the
    participant's latest receiver report on the stream)."""
    jitter_ms: float = 0.0
    """The interarrival jitter of the publisher's stream at the server, which forwarding keeps."""


@dataclass(slots=True)
class _Counters:
    at: datetime
    received: int
    lost: int
    bytes_received: int
    bytes_sent: int


class QualityMeter:
    """Turns successive cumulative stats reports of one peer into per-interval samples."""

    def __init__(self) -> None:
        self._previous: _Counters | None = None
        self._reports: dict[str, tuple[datetime, int, int, int]] = {}
        self.download_loss_pct = 0.0
        """The participant's own download loss in the latest sample that measured it."""

    def update(
        self, report: dict[str, Any], upstream: Mapping[str, Upstream] | None = None
    ) -> QualitySample | None:
        """This interval's sample, or None for the first report (the baseline) or an empty one.

        ``upstream`` gives, per ``remote-inbound-rtp`` stats id, what that outgoing stream already
        lacked at the server (:class:`Upstream`): not the participant's loss or jitter.
        """
        upstream = upstream or {}
        received = lost = bytes_received = bytes_sent = 0
        jitter_ms = 0.0
        remote_losses: dict[bool, float] = {}
        rtts: list[float] = []
        at: datetime | None = None
        upload_jitter: dict[bool, float] = {}
        download_jitter: dict[bool, float] = {}
        fresh_report = False
        for stats in report.values():
            kind = getattr(stats, "type", None)
            if kind == "inbound-rtp":
                received += stats.packetsReceived
                lost += max(0, stats.packetsLost)
                stream_jitter = _jitter_ms(stats)
                jitter_ms = max(jitter_ms, stream_jitter)
                _keep_worst(upload_jitter, stats.kind == "audio", stream_jitter)
                at = stats.timestamp
            elif kind == "remote-inbound-rtp":
                # A stream that stopped (paused video) gets no new receiver reports; its last one
                # stays in the statistics, so only reports newer than the last sample count, and
                # loss is taken from the cumulative counters between the two.
                before = upstream.get(stats.id, Upstream())
                holes = before.holes
                previous_report = self._reports.get(stats.id)
                self._reports[stats.id] = (stats.timestamp, stats.packetsLost, stats.packetsReceived, holes)
                if previous_report is None or previous_report[0] == stats.timestamp:
                    continue
                if stats.roundTripTime:
                    rtts.append(1000.0 * stats.roundTripTime)
                report_lost = stats.packetsLost - previous_report[1]
                # aiortc's packetsReceived is what the server sent less what the report says lost,
                # so lost + received is what the server sent in the interval.
                report_sent = report_lost + stats.packetsReceived - previous_report[2]
                if report_sent <= 0:
                    continue  # a report on a stream we sent nothing on (paused video) tells no loss
                fresh_report = True
                _keep_worst(
                    download_jitter, stats.kind == "audio", max(0.0, _jitter_ms(stats) - before.jitter_ms)
                )
                own_lost = report_lost - (holes - previous_report[3])
                _keep_worst(
                    remote_losses,
                    stats.kind == "audio",
                    100.0 * min(max(0, own_lost), report_sent) / report_sent,
                )
            elif kind == "transport":
                bytes_received += stats.bytesReceived
                bytes_sent += stats.bytesSent
                at = at or stats.timestamp
        if at is None:
            return None
        current = _Counters(at, received, lost, bytes_received, bytes_sent)
        previous, self._previous = self._previous, current
        if previous is None:
            return None
        seconds = max((current.at - previous.at).total_seconds(), 1e-3)
        expected = (current.received - previous.received) + (current.lost - previous.lost)
        upload_loss = 100.0 * (current.lost - previous.lost) / expected if expected > 0 else 0.0
        remote_loss = _voice(remote_losses)
        if fresh_report:
            self.download_loss_pct = remote_loss
        return QualitySample(
            loss_pct=max(upload_loss, remote_loss),
            jitter_ms=jitter_ms,
            rtt_ms=max(rtts) if rtts else None,
            bitrate_kbps=8.0 * _grown(current.bytes_received, previous.bytes_received) / seconds / 1000.0,
            upload=DirectionSample(upload_loss, _voice(upload_jitter)) if upload_jitter else None,
            download=DirectionSample(remote_loss, _voice(download_jitter)) if fresh_report else None,
            sent_kbps=8.0 * _grown(current.bytes_sent, previous.bytes_sent) / seconds / 1000.0,
            interval_s=seconds,
        )


def _grown(current: int, previous: int) -> int:
    """How much a byte counter grew; a counter that went back belongs to a new connection (the
    participant published again), which counted from zero."""
    return current - previous if current >= previous else current


def _jitter_ms(stats: Any) -> float:
    """A stream's interarrival jitter, from RTP clock ticks to milliseconds."""
    return 1000.0 * float(stats.jitter) / CLOCK_RATES.get(stats.kind, 90_000)


def _keep_worst(values: dict[bool, float], audio: bool, value: float) -> None:
    values[audio] = max(values.get(audio, 0.0), value)


def _voice(values: dict[bool, float]) -> float:
    """The audio streams' figure when there is audio, else the worst stream's: what speech meets,
    and for loss the exact one (audio has no retransmissions whose timing blurs the holes)."""
    return values[True] if True in values else max(values.values(), default=0.0)
