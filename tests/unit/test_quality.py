from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiortc.stats import RTCInboundRtpStreamStats, RTCRemoteInboundRtpStreamStats, RTCTransportStats

from media.quality import QualityLevel, QualityMeter, QualitySample, Upstream

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
    at: datetime, received: int, lost: int, bytes_received: int, remote: tuple[datetime, int, int]
) -> dict[str, object]:
    """Our inbound counters, and the peer's latest receiver report: (time, received, lost)."""
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
            timestamp=remote[0],
            type="remote-inbound-rtp",
            id="rin",
            ssrc=2,
            kind="video",
            transportId="t",
            packetsReceived=remote[1],
            packetsLost=remote[2],
            jitter=0,
            roundTripTime=0.12,
            fractionLost=0.5,
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
    t1, t2 = T0 + timedelta(seconds=2), T0 + timedelta(seconds=4)
    assert meter.update(_report(T0, 1000, 10, 1_000_000, (T0, 500, 0))) is None  # the baseline
    sample = meter.update(_report(t1, 1900, 110, 1_250_000, (t1, 980, 20)))
    assert sample is not None
    assert sample.loss_pct == pytest.approx(10.0)  # upload: 100 lost of 1000; download: 20 of 500
    assert sample.bitrate_kbps == pytest.approx(1000.0)  # 250 kB in 2 s
    assert sample.rtt_ms == pytest.approx(120.0)
    assert sample.jitter_ms == pytest.approx(10.0)  # 900 ticks of the 90 kHz video clock
    assert sample.level is QualityLevel.POOR
    # The download direction's report is stale (a paused stream): it no longer counts.
    clean = meter.update(_report(t2, 2900, 110, 1_500_000, (t1, 980, 20)))
    assert clean is not None and clean.loss_pct == 0 and clean.rtt_ms is None
    assert meter.update({}) is None


def test_download_loss_comes_from_fresh_receiver_reports() -> None:
    meter = QualityMeter()
    t1 = T0 + timedelta(seconds=2)
    meter.update(_report(T0, 1000, 0, 1_000_000, (T0, 500, 0)))
    sample = meter.update(_report(t1, 2000, 0, 1_250_000, (t1, 800, 200)))
    assert sample is not None and sample.loss_pct == pytest.approx(40.0)  # 200 of 500
    assert sample.level is QualityLevel.BAD


def _stream(kind: str, stats_type: str, at: datetime, **counters: int) -> object:
    common = {
        "timestamp": at,
        "type": stats_type,
        "id": f"{stats_type}-{kind}",
        "kind": kind,
        "transportId": "t",
    }
    if stats_type == "inbound-rtp":
        return RTCInboundRtpStreamStats(ssrc=1, **common, **counters)
    return RTCRemoteInboundRtpStreamStats(ssrc=2, **common, **counters, roundTripTime=0.08, fractionLost=0)


def test_each_direction_is_measured_on_its_own_with_the_audio_jitter() -> None:
    def report(at: datetime, sent: int, remote_at: datetime, remote_lost: int) -> dict[str, object]:
        remote_received = 400 + 4 * remote_lost
        return {
            "in-audio": _stream("audio", "inbound-rtp", at, packetsReceived=500, packetsLost=0, jitter=480),
            "in-video": _stream("video", "inbound-rtp", at, packetsReceived=900, packetsLost=0, jitter=9000),
            "rin-audio": _stream(
                "audio",
                "remote-inbound-rtp",
                remote_at,
                packetsReceived=remote_received,
                packetsLost=remote_lost,
                jitter=960,
            ),
            "t": RTCTransportStats(
                timestamp=at,
                type="transport",
                id="t",
                packetsSent=0,
                packetsReceived=0,
                bytesSent=sent,
                bytesReceived=0,
                iceRole="controlled",
                dtlsState="connected",
            ),
        }

    meter = QualityMeter()
    t1 = T0 + timedelta(seconds=2)
    meter.update(report(T0, 0, T0, 0))
    sample = meter.update(report(t1, 500_000, t1, 100))
    assert sample is not None
    # Audio's jitter speaks for each direction: 480 and 960 ticks of the 48 kHz clock.
    assert sample.upload is not None and sample.upload.jitter_ms == pytest.approx(10.0)
    assert sample.download is not None and sample.download.jitter_ms == pytest.approx(20.0)
    assert sample.download.loss_pct == pytest.approx(100.0 * 100 / 500) and sample.upload.loss_pct == 0
    assert sample.jitter_ms == pytest.approx(100.0)  # the level still looks at the worst stream
    assert sample.sent_kbps == pytest.approx(2000.0) and sample.interval_s == pytest.approx(2.0)
    data = sample.to_json()
    assert data["upload"] == {"loss_pct": 0.0, "jitter_ms": 10.0} and data["interval_s"] == 2.0
    # No fresh receiver report: the download direction was not measured this time.
    later = meter.update(report(t1 + timedelta(seconds=2), 600_000, t1, 100))
    assert later is not None and later.download is None and later.to_json()["download"] is None


def test_a_new_connection_counts_its_bytes_from_zero() -> None:
    meter = QualityMeter()
    t1, t2 = T0 + timedelta(seconds=2), T0 + timedelta(seconds=4)
    meter.update(_report(T0, 1000, 0, 5_000_000, (T0, 500, 0)))
    meter.update(_report(t1, 2000, 0, 5_250_000, (t1, 900, 0)))
    # The participant published again: the new connection's counters start over.
    sample = meter.update(_report(t2, 100, 0, 125_000, (t2, 100, 0)))
    assert sample is not None and sample.bitrate_kbps == pytest.approx(500.0)


def test_packets_the_publishers_link_lost_are_not_the_subscribers_loss() -> None:
    """The server forwards under continuous numbers: what the patient's uplink lost is a hole the
    nurse's receiver reports count as lost. Net of those holes, the nurse's clean link lost nothing."""
    meter = QualityMeter()
    t1 = T0 + timedelta(seconds=2)
    meter.update(_report(T0, 1000, 0, 1_000_000, (T0, 500, 0)), {"rin": Upstream(holes=40)})
    # 600 packets sent, 120 reported lost: all of them holes the publisher's link left.
    sample = meter.update(_report(t1, 2000, 0, 1_250_000, (t1, 980, 120)), {"rin": Upstream(holes=160)})
    assert sample is not None and sample.download is not None
    assert sample.download.loss_pct == 0 and sample.loss_pct == 0
    assert sample.level is QualityLevel.GOOD


def test_a_subscribers_own_loss_shows_beside_the_publishers_holes() -> None:
    meter = QualityMeter()
    t1 = T0 + timedelta(seconds=2)
    meter.update(_report(T0, 1000, 0, 1_000_000, (T0, 500, 0)))
    # 500 sent; 150 reported lost, 50 of them holes: the subscriber's own link lost 100 of 500.
    sample = meter.update(_report(t1, 2000, 0, 1_250_000, (t1, 850, 150)), {"rin": Upstream(holes=50)})
    assert sample is not None and sample.download is not None
    assert sample.download.loss_pct == pytest.approx(20.0)
    assert sample.level is QualityLevel.BAD


def test_jitter_the_publishers_uplink_added_is_not_the_subscribers() -> None:
    def report(at: datetime, lost: int) -> dict[str, object]:
        return {
            "rin-audio": _stream(
                "audio",
                "remote-inbound-rtp",
                at,
                packetsReceived=400 + 100 * lost,
                packetsLost=lost,
                jitter=4800,
            ),
            "in-audio": _stream("audio", "inbound-rtp", at, packetsReceived=500, packetsLost=0, jitter=0),
        }

    meter = QualityMeter()
    t1 = T0 + timedelta(seconds=2)
    upstream = {"remote-inbound-rtp-audio": Upstream(jitter_ms=90.0)}
    meter.update(report(T0, 0), upstream)
    sample = meter.update(report(t1, 1), upstream)
    # The subscriber reports 100 ms (4800 ticks at 48 kHz); 90 ms of it came with the publisher's stream.
    assert sample is not None and sample.download is not None
    assert sample.download.jitter_ms == pytest.approx(10.0)
