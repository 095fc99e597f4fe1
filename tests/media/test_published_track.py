"""A published track's packet rules, fed packet by packet with a manual clock.

Packets go into a real aiortc receiver (no network) through the hook the seam installs, exactly
as its DTLS transport would deliver them; the NACKs and PLIs the receiver would send are captured.
This reaches what SRTP keeps real clients from sending (wild sequence jumps, replays).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtcrtpparameters import (
    RTCRtcpFeedback,
    RTCRtpCodecParameters,
    RTCRtpDecodingParameters,
    RTCRtpReceiveParameters,
    RTCRtpRtxParameters,
)
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RtpPacket

from media.rtp_forwarding import Forwarder, ForwardingPolicy, PublishedTrack

SSRC, RTX_SSRC, VP8_PT, RTX_PT = 0x1111, 0x2222, 97, 98
DESCRIPTOR = bytes([0x90, 0x80, 0x81, 0x23])  # X, I, 15-bit PictureID, S=1, PID=0
KEY = DESCRIPTOR + bytes([0x50, 0x01, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]) + bytes(40)
DELTA = DESCRIPTOR + bytes([0x51, 0x01, 0x00]) + bytes(40)
POLICY = ForwardingPolicy()


class ManualClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Fixture:
    clock: ManualClock
    forwarder: Forwarder
    track: PublishedTrack
    receiver: Any
    sent: list[tuple[str, int, list[int]]] = field(default_factory=list)

    async def feed(
        self, seq: int, payload: bytes = DELTA, *, ssrc: int = SSRC, pt: int = VP8_PT, ts: int | None = None
    ) -> None:
        packet = RtpPacket(
            payload_type=pt,
            sequence_number=seq & 0xFFFF,
            timestamp=seq * 3000 if ts is None else ts,
            ssrc=ssrc,
        )
        packet.payload = payload
        await self.receiver._handle_rtp_packet(packet, arrival_time_ms=0)

    def plis(self) -> int:
        return sum(1 for kind, _, _ in self.sent if kind == "pli")

    def nacks(self) -> list[list[int]]:
        return [lost for kind, _, lost in self.sent if kind == "nack"]

    def addressed_to(self) -> set[int]:
        return {ssrc for _, ssrc, _ in self.sent}


def video_transceiver(connection: RTCPeerConnection) -> RTCRtpTransceiver:
    return connection.addTransceiver("video", direction="recvonly")


@pytest.fixture
async def fx() -> AsyncIterator[Fixture]:
    connection = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transceiver = video_transceiver(connection)
    receiver: Any = transceiver.receiver
    receiver._track = RemoteStreamTrack(kind="video")  # what applying a remote description does
    feedback = [RTCRtcpFeedback(type="nack"), RTCRtcpFeedback(type="nack", parameter="pli")]
    await receiver.receive(
        RTCRtpReceiveParameters(
            codecs=[
                RTCRtpCodecParameters("video/VP8", 90000, payloadType=VP8_PT, rtcpFeedback=feedback),
                RTCRtpCodecParameters("video/rtx", 90000, payloadType=RTX_PT, parameters={"apt": VP8_PT}),
            ],
            encodings=[
                RTCRtpDecodingParameters(
                    ssrc=SSRC, payloadType=VP8_PT, rtx=RTCRtpRtxParameters(ssrc=RTX_SSRC)
                )
            ],
        )
    )
    clock = ManualClock()
    forwarder = Forwarder(POLICY, clock=clock)
    track = forwarder.publish(transceiver)
    fixture = Fixture(clock, forwarder, track, receiver)

    async def nack(media_ssrc: int, lost: list[int]) -> None:
        fixture.sent.append(("nack", media_ssrc, list(lost)))

    async def pli(media_ssrc: int) -> None:
        fixture.sent.append(("pli", media_ssrc, []))

    receiver._send_rtcp_nack = nack
    receiver._send_rtcp_pli = pli
    yield fixture
    await forwarder.close()
    await connection.close()


async def test_gaps_are_nacked_again_and_then_given_up_for_a_keyframe(fx: Fixture) -> None:
    await fx.feed(100, KEY)
    for seq in (101, 102, 103):
        await fx.feed(seq)
    await fx.feed(106)
    assert fx.nacks() == [[104, 105]]  # at once
    fx.clock.now += POLICY.renack_interval / 2
    await fx.feed(107)
    assert fx.nacks() == [[104, 105]]  # not yet again
    fx.clock.now += POLICY.renack_interval
    await fx.feed(108)
    assert fx.nacks() == [[104, 105], [104, 105]]
    await fx.feed(104)  # the retransmission
    assert fx.track.stats.losses_recovered == 1
    assert fx.plis() == 0

    fx.clock.now += POLICY.loss_timeout
    await fx.feed(109)
    assert fx.track.stats.losses_unrecovered == 1
    assert fx.plis() == 1  # the keyframe that repairs what 105 broke
    await fx.feed(105)  # too late: given up, and not a packet to forward any more
    assert fx.track.stats.losses_recovered == 1
    assert fx.track.stats.packets_duplicate == 1
    assert fx.addressed_to() == {SSRC}


async def test_rtx_retransmissions_are_unwrapped(fx: Fixture) -> None:
    await fx.feed(200, KEY)
    await fx.feed(202)
    assert fx.nacks() == [[201]]
    await fx.feed(7, (201).to_bytes(2, "big") + DELTA, ssrc=RTX_SSRC, pt=RTX_PT)
    assert fx.track.stats.losses_recovered == 1
    await fx.feed(8, b"", ssrc=RTX_SSRC, pt=RTX_PT)  # RTX padding, as bandwidth probes are
    await fx.feed(9, KEY, ssrc=RTX_SSRC)  # media on the RTX SSRC: malformed
    fx.clock.now += 10
    await fx.feed(10, KEY, ssrc=RTX_SSRC)  # ... and never a stream of its own
    assert fx.track.stats.packets_received == 3
    assert fx.track.ssrc == SSRC


async def test_keyframe_requests_are_rate_limited_deferred_and_cancelled_by_a_keyframe(fx: Fixture) -> None:
    assert not fx.track.request_keyframe()  # no packet yet: nobody to address it to
    await fx.feed(1)
    assert fx.plis() == 1  # the deferred request goes out with the first packet
    assert not fx.track.request_keyframe()
    assert fx.track.stats.keyframe_requests_suppressed == 1
    fx.clock.now += POLICY.keyframe_request_interval * 0.6
    await fx.feed(2)
    assert fx.plis() == 1
    fx.clock.now += POLICY.keyframe_request_interval * 0.6
    await fx.feed(3)
    assert fx.plis() == 2  # deferred, not lost

    # A subscriber attaching before its connection is ready does not ask yet: the keyframe could not
    # be forwarded and would use up the rate limit. It asks with the first packet once connected.
    other = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        subscription = fx.forwarder.subscribe(other.addTransceiver("video", direction="sendonly"), fx.track)
        assert fx.track.stats.keyframe_requests_suppressed == 1
        await fx.feed(4, KEY)
        fx.clock.now += 1
        await fx.feed(5)
        assert fx.plis() == 2
        # Not connected: it keeps waiting (and has not been sent a thing).
        assert subscription.waiting_for_keyframe and subscription.stats.packets_sent == 0
        subscription.switch(None)
        assert fx.track.subscriptions == ()
    finally:
        await other.close()


async def test_sequence_jumps_need_the_next_packet_to_confirm_them(fx: Fixture) -> None:
    for seq in (10, 11, 12):
        await fx.feed(seq, KEY if seq == 10 else DELTA)
    await fx.feed(12)
    assert fx.track.stats.packets_duplicate == 1
    await fx.feed(30_000)  # a jump forward, alone
    await fx.feed(12 - 500)  # a jump back, alone
    assert fx.track.stats.packets_out_of_range == 2
    await fx.feed(13)
    assert fx.nacks() == []  # the stray packets did not fake a loss
    await fx.feed(40_000)
    await fx.feed(40_001)  # confirmed: the publisher really restarted its numbering
    await fx.feed(40_002)
    assert fx.track.stats.packets_out_of_range == 3
    assert fx.track.stats.packets_accepted == 4 + 2
    assert fx.nacks() == []


async def test_a_second_ssrc_is_ignored_until_the_first_falls_silent(fx: Fixture) -> None:
    await fx.feed(1, KEY)
    await fx.feed(2, ssrc=0x3333)
    assert fx.track.stats.packets_foreign_ssrc == 1 and fx.track.ssrc == SSRC
    fx.clock.now += POLICY.ssrc_takeover_silence
    await fx.feed(500, KEY, ssrc=0x3333)
    assert fx.track.ssrc == 0x3333
    assert fx.track.stats.packets_accepted == 2


async def test_malformed_payloads_are_dropped_and_bring_a_keyframe(fx: Fixture) -> None:
    await fx.feed(1, KEY)
    await fx.feed(2, b"")
    await fx.feed(3, b"\x90")
    await fx.feed(4, DESCRIPTOR[:2])
    assert fx.track.stats.packets_invalid == 3
    assert fx.plis() == 1  # rate-limited: one for the three
    assert fx.nacks() == []  # they arrived; nothing to ask again


async def test_no_packet_breaks_the_receive_path(fx: Fixture) -> None:
    rng = random.Random(11)
    await fx.feed(0, KEY)
    for _ in range(3000):
        ssrc = rng.choice((SSRC, SSRC, RTX_SSRC, rng.randrange(1 << 32)))
        pt = rng.choice((VP8_PT, RTX_PT, 96, 0))
        fx.clock.now += rng.random() * 0.01
        await fx.feed(rng.randrange(1 << 16), rng.randbytes(rng.randrange(0, 60)), ssrc=ssrc, pt=pt)
    assert fx.track.handler_errors == 0
    assert fx.track.stats.packets_received > 500  # the rest had payload types nobody negotiated
    assert RTX_SSRC not in fx.addressed_to()


async def test_traffic_counts_outlive_the_track(fx: Fixture) -> None:
    """What metrics read (media.census): counted per packet, kept when the track is gone."""
    await fx.feed(200, KEY)
    await fx.feed(201)
    await fx.feed(201)  # a duplicate is received, then dropped
    during = fx.forwarder.traffic()
    assert (during.packets_in, during.payload_bytes_in) == (3, len(KEY) + 2 * len(DELTA))
    assert during.dropped_duplicate == 1
    fx.forwarder.unpublish(fx.track)
    assert fx.forwarder.traffic() == during
