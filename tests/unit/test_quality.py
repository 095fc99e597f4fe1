from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiortc.stats import RTCInboundRtpStreamStats, RTCRemoteInboundRtpStreamStats, RTCTransportStats

from media.quality import QualityLevel, QualityMeter, QualitySample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sample", "level"),
    [
        (QualitySample(0.5, 5, 40, 600), QualityLevel.GOOD),
        (QualitySample(3, 5, 40, 600), QualityLevel.FAIR),
        (QualitySample(0, 35, 40, 600), QualityLevel.FAIR),
        (QualitySample(6, 5, 40, 600), QualityLevel.POOR),
        (QualitySample(0, 5, 450, 600), QualityLevel.POOR),
        (QualitySample(20, 5, 40, 600), QualityLevel.BAD),
        (QualitySample(0, 5, 900, 600), QualityLevel.BAD),
        (QualitySample(0, 5, None, 600), QualityLevel.GOOD),
    ],
)
def test_levels(sample: QualitySample, level: QualityLevel) -> None:
    assert sample.level is level


def _report(
    at: datetime, received: int, lost: int, bytes_received: int, fraction_lost: float
) -> dict[str, object]:
    return {
        "in": RTCInboundRtpStreamStats(
            timestamp=at,
            type="inbound-rtp",
            id="in",
            ssrc=1,
            kind="video",
            transportId="t",
            packetsReceived=received,
            packetsLost=lost,
            jitter=900,
        ),
        "rin": RTCRemoteInboundRtpStreamStats(
            timestamp=at,
            type="remote-inbound-rtp",
            id="rin",
            ssrc=2,
            kind="video",
            transportId="t",
            packetsReceived=0,
            packetsLost=0,
            jitter=0,
            roundTripTime=0.12,
            fractionLost=fraction_lost,
        ),
        "t": RTCTransportStats(
            timestamp=at,
            type="transport",
            id="t",
            packetsSent=0,
            packetsReceived=0,
            bytesSent=0,
            bytesReceived=bytes_received,
            iceRole="controlled",
            dtlsState="connected",
        ),
    }


def test_the_meter_turns_cumulative_counters_into_interval_figures() -> None:
    meter = QualityMeter()
    assert meter.update(_report(T0, 1000, 10, 1_000_000, 0.0)) is None  # the first report is the baseline
    sample = meter.update(_report(T0 + timedelta(seconds=2), 1900, 110, 1_250_000, 0.02))
    assert sample is not None
    assert sample.loss_pct == pytest.approx(10.0)  # 100 lost of 1000 expected in the interval
    assert sample.bitrate_kbps == pytest.approx(1000.0)  # 250 kB in 2 s
    assert sample.rtt_ms == pytest.approx(120.0)
    assert sample.jitter_ms == pytest.approx(10.0)  # 900 ticks of the 90 kHz video clock
    assert sample.level is QualityLevel.POOR
    assert meter.update({}) is None
