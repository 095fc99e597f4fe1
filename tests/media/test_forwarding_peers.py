"""Packet forwarding between real aiortc peers on loopback.

Topology: a publisher client (real VP8/H.264 video and Opus audio encoders) connects to a server
peer connection; each subscriber client connects to its own server peer connection; the
:class:`media.rtp_forwarding.Forwarder` joins them. Subscribers decode with aiortc's real decoders.
Tests wait on conditions (with generous timeouts) and assert behaviour, never speed.

Test-only instrumentation wraps a few aiortc methods on client instances (to count keyframe
requests and NACKs at the publisher, drop chosen packets, and look at what a subscriber receives).
"""

from __future__ import annotations

import asyncio
import fractions
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import aioice.ice
import numpy as np
import pytest
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket, RtpPacket
from av import VideoFrame

from media.aiortc_seam import (
    ABS_SEND_TIME_URI,
    MID_URI,
    install_fast_receive,
    offer_opus_fec,
    remote_inbound_stats_id,
)
from media.keyframes import KEY_START, classify_h264, classify_vp8
from media.quality import QualityLevel, QualityMeter, QualitySample, Upstream
from media.rtp_forwarding import Forwarder, ForwardingPolicy, PublishedTrack, Subscription

TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice skips 127.0.0.1 and would use the machine's other interfaces; use loopback only."""

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    monkeypatch.setattr(aioice.ice, "get_host_addresses", host_addresses)


class DecodeErrors(logging.Handler):
    """Counts aiortc's 'failed to decode' warnings (logged by every receiver's decoder thread)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            self.count += 1


@pytest.fixture
def decode_errors() -> Iterator[DecodeErrors]:
    handler = DecodeErrors()
    log = logging.getLogger("aiortc.rtcrtpreceiver")
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)


async def until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait for a condition; fail with ``what`` if it does not come true in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


class ManualClock:
    """A monotonic clock that moves only when told, to make rate limits deterministic."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TextureTrack(VideoStreamTrack):
    """A scrolling random texture at 30 fps: keyframes span many packets and deltas are real work."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(1)
        self._luma = rng.integers(0, 256, (240, 320), dtype=np.uint8)
        self._chroma = np.full((120, 320), 128, dtype=np.uint8)
        self._count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._count += 1
        luma = np.roll(self._luma, 3 * self._count, axis=1)
        frame = VideoFrame.from_ndarray(np.vstack([luma, self._chroma]), format="yuv420p")
        frame.pts = pts
        frame.time_base = fractions.Fraction(time_base)
        return frame


def new_peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


@dataclass
class RtpView:
    payload_type: int
    ssrc: int
    sequence_number: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpView | None:
    if len(data) < 12 or 192 <= data[1] <= 223:  # RTCP
        return None
    try:
        packet = RtpPacket.parse(data)
    except ValueError:
        return None
    return RtpView(packet.payload_type, packet.ssrc, packet.sequence_number, packet.payload)


def is_keyframe_start(codec: str, payload: bytes | None) -> bool:
    assert payload is not None
    classify = classify_vp8 if codec == "VP8" else classify_h264
    return classify(payload, True) == KEY_START


class Publisher:
    """The publishing client: encodes video and audio, counts the keyframe requests and NACKs it gets,
    and can drop or alter chosen outgoing RTP packets (before SRTP)."""

    def __init__(self, video_codec: str = "VP8") -> None:
        self.pc = new_peer()
        self.video: RTCRtpTransceiver = self.pc.addTransceiver(TextureTrack(), direction="sendonly")
        self.audio: RTCRtpTransceiver = self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        codecs = RTCRtpSender.getCapabilities("video").codecs
        self.video.setCodecPreferences(
            [c for c in codecs if c.mimeType == f"video/{video_codec}"][:1]
            + [c for c in codecs if c.mimeType == "video/rtx"]
        )
        self.keyframe_requests = 0
        self.nacked: list[int] = []
        self.answer_nacks = True
        # Called with each outgoing RTP packet; returns the bytes to send (None: drop).
        self.outgoing_filter: Callable[[bytes, RtpView], bytes | None] | None = None
        self.video_seen: list[RtpView] = []

        sender: Any = self.video.sender
        send_keyframe, retransmit = sender._send_keyframe, sender._retransmit

        def count_keyframe_request() -> None:
            self.keyframe_requests += 1
            send_keyframe()

        async def count_nack(sequence_number: int) -> None:
            self.nacked.append(sequence_number)
            if self.answer_nacks:
                await retransmit(sequence_number)

        sender._send_keyframe = count_keyframe_request
        sender._retransmit = count_nack

    def install_filter(self) -> None:
        transport: Any = self.video.sender.transport
        send_rtp = transport._send_rtp
        video_ssrc = self.video.sender._ssrc

        async def filtered(data: bytes) -> None:
            view = parse_rtp(data)
            if view is not None and view.ssrc == video_ssrc:
                self.video_seen.append(view)
                if self.outgoing_filter is not None:
                    replaced = self.outgoing_filter(data, view)
                    if replaced is None:
                        return
                    data = replaced
            await send_rtp(data)

        transport._send_rtp = filtered

    async def send_raw(self, data: bytes) -> None:
        """Send any plain RTP packet through the publisher's SRTP session (as a broken client would)."""
        transport: Any = self.video.sender.transport
        await transport._send_rtp(data)


@dataclass
class Received:
    video_frames: int = 0
    audio_frames: int = 0
    keyframes_received: int = 0
    first_video_payload: bytes | None = None
    video_packets: int = 0
    # Breaks in the video stream as received: a sequence number that is not the previous one + 1,
    # a timestamp that goes back. A continuous stream has none, whatever happens at the server.
    sequence_breaks: int = 0
    timestamp_reversals: int = 0
    last_video: tuple[int, int] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class SubscriberClient:
    """The subscribing client: decodes what it gets, remembers the first video packet and counts
    the keyframes it receives. (A delta frame before any keyframe fails to decode in libvpx and
    FFmpeg's H.264 decoder, which the ``decode_errors`` fixture counts.)"""

    def __init__(self, video_codec: str) -> None:
        self.video_codec = video_codec
        self.pc = new_peer()
        self.received = Received()
        self.pc.on("track", self._on_track)

    def receiver(self, kind: str) -> Any:
        return next(t.receiver for t in self.pc.getTransceivers() if t.kind == kind)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            receiver = self.receiver("video")
            handle = receiver._handle_rtp_packet

            async def spy(packet: RtpPacket, arrival_time_ms: int) -> None:
                if self.received.first_video_payload is None:
                    self.received.first_video_payload = packet.payload
                self.received.video_packets += 1
                last = self.received.last_video
                if last is not None:
                    self.received.sequence_breaks += (packet.sequence_number - last[0]) & 0xFFFF != 1
                    self.received.timestamp_reversals += (packet.timestamp - last[1]) & 0xFFFFFFFF >= 1 << 31
                self.received.last_video = (packet.sequence_number, packet.timestamp)
                self.received.keyframes_received += is_keyframe_start(self.video_codec, packet.payload)
                await handle(packet, arrival_time_ms)

            receiver._handle_rtp_packet = spy
        self.received.tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    assert isinstance(frame, VideoFrame)
                    self.received.video_frames += 1
                else:
                    self.received.audio_frames += 1
        except MediaStreamError:
            return

    async def close(self) -> None:
        await self.pc.close()
        for task in self.received.tasks:
            task.cancel()


def server_peer(inline: bool) -> RTCPeerConnection:
    """A server-side connection; ``inline`` handles its SRTP datagrams in the socket's callback
    once connected, as the SFU's connections do (``media/peers.py``)."""
    connection = new_peer()
    if inline:

        @connection.on("connectionstatechange")
        def on_state() -> None:
            if connection.connectionState == "connected":
                for transceiver in connection.getTransceivers():
                    assert install_fast_receive(transceiver.receiver.transport)

    return connection


@dataclass
class Room:
    forwarder: Forwarder
    video_codec: str
    publisher: Publisher
    server_publisher: RTCPeerConnection
    published: dict[str, PublishedTrack]
    inline: bool
    server_subscribers: list[RTCPeerConnection] = field(default_factory=list)
    subscribers: list[SubscriberClient] = field(default_factory=list)
    subscriptions: list[dict[str, Subscription]] = field(default_factory=list)

    async def add_subscriber(
        self, video_codec: str | None = None
    ) -> tuple[SubscriberClient, dict[str, Subscription]]:
        """A subscriber client, connected through its own server peer; ``video_codec`` limits the
        video codecs that leg negotiates (as with a browser that lacks the publisher's codec)."""
        server = server_peer(self.inline)
        client = SubscriberClient(self.video_codec)
        subscriptions: dict[str, Subscription] = {}
        for kind in ("video", "audio"):
            transceiver = server.addTransceiver(kind, direction="sendonly")
            if kind == "video" and video_codec is not None:
                codecs = RTCRtpSender.getCapabilities("video").codecs
                transceiver.setCodecPreferences([c for c in codecs if c.mimeType == f"video/{video_codec}"])
            subscriptions[kind] = self.forwarder.subscribe(transceiver, self.published[kind])
        self.server_subscribers.append(server)
        self.subscribers.append(client)
        self.subscriptions.append(subscriptions)
        await negotiate(server, client.pc)
        return client, subscriptions


RoomFactory = Callable[..., Awaitable[Room]]


@pytest.fixture(params=["inline", "task"])
async def make_room(request: pytest.FixtureRequest) -> AsyncIterator[RoomFactory]:
    """Rooms whose server side runs the per-packet path inline (the product: datagrams handled in
    the socket's callback, packets sent without aiortc's coroutines) or through aiortc's receive
    task and send coroutines; every test runs both ways, since the two must behave the same."""
    inline = request.param == "inline"
    rooms: list[Room] = []

    async def make(
        video_codec: str = "VP8",
        policy: ForwardingPolicy | None = None,
        clock: Callable[[], float] | None = None,
        keep_decoding: bool = False,
        forwarder: Forwarder | None = None,
    ) -> Room:
        if forwarder is None:
            policy = replace(policy or ForwardingPolicy(), inline_send=inline)
            forwarder = Forwarder(policy, clock=clock) if clock else Forwarder(policy)
        publisher = Publisher(video_codec)
        server = server_peer(inline)
        published: dict[str, PublishedTrack] = {}

        @server.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next(t for t in server.getTransceivers() if t.receiver.track is track)
            published[track.kind] = forwarder.publish(transceiver, keep_decoding=keep_decoding)

        room = Room(forwarder, video_codec, publisher, server, published, inline)
        rooms.append(room)
        await negotiate(publisher.pc, server)
        publisher.install_filter()
        assert set(published) == {"video", "audio"}
        return room

    yield make
    for room in rooms:
        await room.forwarder.close()
        for client in room.subscribers:
            await client.close()
        for pc in [room.publisher.pc, room.server_publisher, *room.server_subscribers]:
            await pc.close()


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_encoded_media_is_forwarded_and_decodes(
    make_room: RoomFactory, decode_errors: DecodeErrors, codec: str
) -> None:
    room = await make_room(codec)
    client, subscriptions = await room.add_subscriber()
    await until(
        lambda: client.received.video_frames >= 30 and client.received.audio_frames >= 30,
        "the subscriber decodes video and audio",
    )
    assert decode_errors.count == 0
    # Nothing before the first keyframe: the very first packet the subscriber got starts one.
    assert is_keyframe_start(codec, client.received.first_video_payload)
    assert subscriptions["video"].stats.starts == 1 and subscriptions["audio"].stats.starts == 1

    # RTCP still flows on both legs: the server's receiver reports reach the publisher, the
    # server's sender reports reach the subscriber, and both describe the packets really sent.
    async def stats_of(owner: Any, kind: str) -> Any:
        report = await owner.getStats()
        return next((s for s in report.values() if s.type == kind), None)

    publisher_sender = room.publisher.video.sender
    subscriber_receiver = client.receiver("video")
    remote_inbound: Any = None
    remote_outbound: Any = None

    async def reports_arrived() -> None:
        nonlocal remote_inbound, remote_outbound
        while True:
            remote_inbound = await stats_of(publisher_sender, "remote-inbound-rtp")
            remote_outbound = await stats_of(subscriber_receiver, "remote-outbound-rtp")
            if remote_inbound and remote_outbound and remote_outbound.packetsSent > 0:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(reports_arrived(), TIMEOUT)
    assert remote_inbound.packetsReceived > 0
    assert remote_outbound.packetsSent <= subscriptions["video"].stats.packets_sent


async def test_a_subscriber_without_the_publishers_codec_gets_nothing(
    make_room: RoomFactory, caplog: pytest.LogCaptureFixture
) -> None:
    room = await make_room("H264")
    client, subscriptions = await room.add_subscriber(video_codec="VP8")
    await until(lambda: client.received.audio_frames >= 20, "audio flows")
    video = subscriptions["video"]
    await until(lambda: video.stats.dropped_incompatible_codec > 0, "the video is refused")
    assert video.stats.packets_sent == 0 and client.received.video_packets == 0
    assert "negotiated no codec that can carry the publisher's video/H264" in caplog.text


async def test_late_subscriber_starts_at_a_keyframe_it_asked_for(
    make_room: RoomFactory, decode_errors: DecodeErrors
) -> None:
    room = await make_room()
    first, _ = await room.add_subscriber()
    await until(lambda: first.received.video_frames >= 30, "the first subscriber decodes video")
    requests_before = room.publisher.keyframe_requests
    keyframes_before = room.published["video"].stats.keyframes

    # aiortc's VP8 encoder makes a keyframe every 3000 frames (100 s), so the late subscriber can
    # only see a picture soon if its arrival made the server ask for one.
    late, _ = await room.add_subscriber()
    await until(lambda: late.received.video_frames >= 10, "the late subscriber decodes video")
    assert room.publisher.keyframe_requests > requests_before
    assert room.published["video"].stats.keyframes > keyframes_before
    assert is_keyframe_start("VP8", late.received.first_video_payload)
    assert decode_errors.count == 0
    assert first.received.video_frames > 30  # the first subscriber went on undisturbed


async def test_keyframe_requests_reach_the_publisher_rate_limited(
    make_room: RoomFactory, decode_errors: DecodeErrors
) -> None:
    clock = ManualClock()
    room = await make_room(clock=clock)
    client, subscriptions = await room.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")
    video = room.published["video"]
    subscription = subscriptions["video"]
    clock.now += 10  # a fresh rate-limit window
    sent_before = video.stats.keyframe_requests_sent
    received_before = subscription.stats.keyframe_requests_received
    requests_before = room.publisher.keyframe_requests

    receiver = client.receiver("video")
    media_ssrc = receiver.getSynchronizationSources()[0].source
    for _ in range(10):
        await receiver._send_rtcp_pli(media_ssrc)
    await until(
        lambda: subscription.stats.keyframe_requests_received >= received_before + 10,
        "the server gets 10 PLIs",
    )
    await until(lambda: room.publisher.keyframe_requests > requests_before, "a PLI reaches the publisher")
    assert video.stats.keyframe_requests_sent == sent_before + 1  # one per window, not ten
    assert video.stats.keyframe_requests_suppressed >= 9

    # A suppressed request is deferred, not forgotten: it goes out when the window ends
    # (unless a keyframe arrived in between, which then already answered it).
    keyframes_now = video.stats.keyframes
    clock.now += 1
    await until(
        lambda: (
            video.stats.keyframe_requests_sent == sent_before + 2 or video.stats.keyframes > keyframes_now
        ),
        "the deferred request is settled",
    )
    assert decode_errors.count == 0


async def test_lost_packets_are_recovered_by_nack_on_both_legs(
    make_room: RoomFactory, decode_errors: DecodeErrors
) -> None:
    room = await make_room()
    client, subscriptions = await room.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")

    # Upstream: the publisher's network loses one video packet (its retransmission gets through).
    dropped: list[int] = []

    def drop_one(data: bytes, view: RtpView) -> bytes | None:
        if not dropped and len(room.publisher.video_seen) > 5:
            dropped.append(view.sequence_number)
            return None
        return data

    room.publisher.outgoing_filter = drop_one
    await until(
        lambda: bool(dropped) and dropped[0] in room.publisher.nacked, "the server NACKs the lost packet"
    )
    await until(
        lambda: room.published["video"].stats.losses_recovered >= 1, "the retransmission fills the gap"
    )

    # Downstream: the link to the subscriber loses one forwarded video packet (dropped as it
    # arrives, before the subscriber's receiver sees it, so the subscriber NACKs it).
    video_ssrc = room.server_subscribers[0].getTransceivers()[0].sender._ssrc
    receiver: Any = client.receiver("video")
    receive = receiver._handle_rtp_packet
    lost_downstream: list[int] = []

    async def lossy(packet: RtpPacket, arrival_time_ms: int) -> None:
        if not lost_downstream and packet.ssrc == video_ssrc:
            lost_downstream.append(packet.sequence_number)
            return
        await receive(packet, arrival_time_ms)

    receiver._handle_rtp_packet = lossy
    video = subscriptions["video"]
    await until(lambda: video.stats.retransmissions_sent >= 1, "the server answers the subscriber's NACK")
    frames = client.received.video_frames
    await until(lambda: client.received.video_frames >= frames + 15, "the subscriber keeps decoding")
    assert decode_errors.count == 0
    assert room.published["video"].stats.losses_unrecovered == 0


async def test_a_paused_subscription_resends_nothing(make_room: RoomFactory) -> None:
    """Video paused for a weak link: resending what that link lost would spend what the pause saves."""
    room = await make_room()
    client, subscriptions = await room.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")
    video = subscriptions["video"]
    cached = video._mapper.last_sequence
    await video._on_nack(cached)
    assert video.stats.retransmissions_sent == 1
    video.pause()
    await video._on_nack(cached)
    assert (video.stats.nacks_received, video.stats.retransmissions_sent) == (2, 1)
    video.resume()
    await video._on_nack(cached)
    assert video.stats.retransmissions_sent == 2


async def test_unrecovered_loss_brings_a_keyframe(make_room: RoomFactory) -> None:
    room = await make_room()
    client, _ = await room.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")
    keyframes_received = client.received.keyframes_received
    requests_before = room.publisher.keyframe_requests

    # The publisher loses a packet and cannot retransmit it (e.g. it left its history).
    room.publisher.answer_nacks = False
    dropped: list[int] = []

    def drop_one(data: bytes, view: RtpView) -> bytes | None:
        if not dropped:
            dropped.append(view.sequence_number)
            return None
        return data

    room.publisher.outgoing_filter = drop_one
    video = room.published["video"]
    await until(lambda: video.stats.losses_unrecovered >= 1, "the server gives the lost packet up")
    await until(lambda: room.publisher.keyframe_requests > requests_before, "the server asks for a keyframe")
    await until(
        lambda: client.received.keyframes_received > keyframes_received,
        "the subscriber decodes a fresh keyframe",
    )


async def test_garbage_from_a_publisher_is_dropped_and_the_room_goes_on(
    make_room: RoomFactory,
) -> None:
    """What a broken or hostile client can get through SRTP: packets on SSRCs and payload types it
    never announced, and malformed payloads in its own stream. (libsrtp itself stops malformed
    headers, replays, and - by moving its replay window - a wild sequence jump kills the sender's
    own stream before the forwarder sees it; test_published_track.py feeds such packets to the
    forwarder directly.)"""
    room = await make_room()
    client, subscriptions = await room.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")
    video = room.published["video"]
    last = room.publisher.video_seen[-1]
    rng = random.Random(3)
    sequence = iter(range(1000, 2000))  # increasing, or the client's own SRTP refuses to send them

    def header(payload_type: int, ssrc: int) -> bytes:
        seq = next(sequence).to_bytes(2, "big")
        return bytes([0x80, payload_type]) + seq + rng.randbytes(4) + ssrc.to_bytes(4, "big")

    garbage = [
        *(header(last.payload_type, 0x12345678) + rng.randbytes(rng.randrange(0, 1200)) for _ in range(20)),
        header(50, 0x1234567A) + rng.randbytes(30),  # a payload type nobody negotiated
    ]
    for packet in garbage:
        await room.publisher.send_raw(packet)

    # The publisher's own stream carries malformed payloads for a while, in sequence.
    mangled: list[int] = []

    def mangle_payloads(data: bytes, view: RtpView) -> bytes | None:
        if len(mangled) < 6:
            mangled.append(view.sequence_number)
            bad = [b"\x90", b"", rng.randbytes(1)][len(mangled) % 3]  # descriptor cut short, nothing
            return data[: len(data) - len(view.payload)] + bad
        return data

    frames, audio, keyframes = (
        client.received.video_frames,
        client.received.audio_frames,
        client.received.keyframes_received,
    )
    room.publisher.outgoing_filter = mangle_payloads
    await until(lambda: len(mangled) == 6, "the malformed packets are sent")
    await until(lambda: video.stats.packets_invalid >= 6, "the server sees the malformed payloads")
    await until(lambda: video.stats.packets_foreign_ssrc >= 1, "the server ignores the foreign SSRC")

    # The room goes on: the subscriber gets a fresh keyframe and decodes on; audio never stopped.
    await until(
        lambda: client.received.keyframes_received > keyframes, "the picture recovers with a keyframe"
    )
    await until(
        lambda: client.received.video_frames >= frames + 15 and client.received.audio_frames >= audio + 15,
        "video and audio keep flowing",
    )
    for pc in [room.publisher.pc, room.server_publisher, *room.server_subscribers, client.pc]:
        assert pc.connectionState == "connected"
    assert subscriptions["video"].stats.send_errors == 0


async def test_switching_pausing_and_resubscribing_keep_the_subscriber_stream_continuous(
    make_room: RoomFactory, decode_errors: DecodeErrors
) -> None:
    room_a = await make_room()
    room_b = await make_room(forwarder=room_a.forwarder)  # a second publisher, same forwarder
    forwarder = room_a.forwarder
    client, subscriptions = await room_a.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes the first publisher")
    # Move the subscription to another publisher, pause and resume it, then end it and subscribe
    # the same transceiver again (as the SFU reuses transceivers): the subscriber must see one
    # unbroken stream throughout.
    video = subscriptions["video"]
    video.switch(room_b.published["video"])
    assert video.waiting_for_keyframe
    await until(lambda: video.stats.starts == 2, "the subscription restarts on the new source's keyframe")
    frames = client.received.video_frames
    await until(lambda: client.received.video_frames >= frames + 10, "frames of the new source decode")
    video.pause()
    assert video.paused and video.source is room_b.published["video"]
    sent = video.stats.packets_sent
    video.resume()
    await until(lambda: video.stats.starts == 3, "the subscription resumes at a keyframe")
    await until(lambda: video.stats.packets_sent > sent + 10, "forwarding resumes")
    transceiver = room_a.server_subscribers[0].getTransceivers()[0]
    forwarder.unsubscribe(video)
    again = forwarder.subscribe(transceiver, room_a.published["video"])
    await until(
        lambda: again.stats.starts == 1 and again.stats.packets_sent > 10, "the new subscription forwards"
    )
    frames = client.received.video_frames
    await until(lambda: client.received.video_frames >= frames + 10, "the subscriber keeps decoding")
    assert decode_errors.count == 0
    assert client.received.sequence_breaks == 0
    assert client.received.timestamp_reversals == 0
    assert video.stats.retransmissions_missed == 0 and again.stats.retransmissions_missed == 0


async def test_a_paused_subscription_probes_the_link_and_resumes_after_the_probes(
    make_room: RoomFactory, decode_errors: DecodeErrors
) -> None:
    """Video paused for congestion: padding in the paused stream is counted by the subscriber as
    packets its link carried (what its page reports), and the stream resumes after the probes
    without a hole in the numbering or a frame that fails to decode."""
    room = await make_room()
    client, subscriptions = await room.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")
    video = subscriptions["video"]
    video.probe(100.0)  # nothing to probe while video flows
    video.pause()
    sent_before_pause = video.stats.packets_sent
    await until(lambda: client.received.video_packets >= sent_before_pause, "what was in flight arrives")
    received, frames, packets = (
        await inbound_video_packets(client),
        client.received.video_frames,
        client.received.video_packets,
    )
    sent = (video.stats.packets_sent, video.stats.bytes_sent)
    video.probe(20.0)
    prober = video._probing
    video.probe(100.0)  # one prober per pause, however often asked: a new rate for it
    assert video._probing is prober and video._probe_interval == 0.01
    await until(lambda: video.stats.probes_sent >= 30, "probes go out")
    await until(lambda: client.received.video_packets >= packets + 30, "probes arrive")
    assert await inbound_video_packets(client) >= received + 30
    assert client.received.video_frames == frames  # padding is no picture
    assert sent == (video.stats.packets_sent, video.stats.bytes_sent)  # overrun checks count media only
    video.resume()
    probes = video.stats.probes_sent
    await until(lambda: client.received.video_frames >= frames + 10, "video resumes at a keyframe")
    assert video.stats.probes_sent == probes  # no more once video flows
    assert client.received.sequence_breaks == 0 and client.received.timestamp_reversals == 0
    assert decode_errors.count == 0


async def test_a_paused_streams_sender_reports_say_when_they_were_sent(make_room: RoomFactory) -> None:
    """While nothing is forwarded (video paused for a weak link), each sender report still carries
    the time it was sent and the same instant on the RTP clock (RFC 3550 6.4.1): with the last
    packet's time in all of them, a receiver answering an older one made the round trip negative
    or seconds long, and the link looked congested long after it was clean."""
    room = await make_room()
    client, subscriptions = await room.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")
    reports: list[tuple[float, RtcpSenderInfo]] = []
    receiver = client.receiver("video")
    handle = receiver._handle_rtcp_packet

    async def spy(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            reports.append((time.time(), packet.sender_info))
        await handle(packet)

    receiver._handle_rtcp_packet = spy
    subscriptions["video"].pause()
    await until(lambda: len(reports) >= 3, "three sender reports while paused")
    ntp_epoch_offset, scale = 2_208_988_800, 1 << 32
    for arrived, info in reports:
        assert abs(info.ntp_timestamp / scale - ntp_epoch_offset - arrived) < 0.25, "dated when sent"
    for (_, earlier), (_, later) in itertools.pairwise(reports):
        seconds = (later.ntp_timestamp - earlier.ntp_timestamp) / scale
        ticks = (later.rtp_timestamp - earlier.rtp_timestamp) & 0xFFFFFFFF
        assert seconds > 0.25  # aiortc sends one every 0.5-1.5 s
        assert abs(ticks / 90_000 - seconds) < 0.005, "the RTP clock carried on at 90 kHz"
        assert later.packet_count == earlier.packet_count  # nothing sent: the counts stay


async def inbound_video_packets(client: SubscriberClient) -> int:
    """What the subscriber's own statistics say it received of video (what a page reports)."""
    stats = await client.pc.getStats()
    return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp" and s.kind == "video")


async def test_keep_decoding_lets_the_server_read_frames_too(make_room: RoomFactory) -> None:
    room = await make_room(keep_decoding=True)
    client, _ = await room.add_subscriber()
    server_track = next(
        t.receiver.track for t in room.server_publisher.getTransceivers() if t.kind == "video"
    )
    frame = await asyncio.wait_for(server_track.recv(), TIMEOUT)
    assert isinstance(frame, VideoFrame)
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")


@pytest.mark.parametrize("make_room", ["inline"], indirect=True)
async def test_a_packet_whose_header_extension_cannot_be_read_is_dropped_and_the_connection_stays(
    make_room: RoomFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A client's packet can pass SRTP with a header extension of the wrong length for its reader
    (abs-send-time of one byte: struct.error) or a MID that is not UTF-8 (UnicodeDecodeError).
    The product's inline path drops it quietly; raised into the socket's callback, the event loop
    would log a traceback at error level for each such packet. (aiortc's own receive task, the
    "task" rooms, dies of the first: not the product's path.)"""
    caplog.set_level(logging.WARNING)
    room = await make_room()
    client, _ = await room.add_subscriber()
    await until(lambda: client.received.video_frames >= 10, "the subscriber decodes video")
    ids = {extension.uri: extension.id for extension in room.publisher.video._headerExtensions}
    abs_send_time, mid = ids[ABS_SEND_TIME_URI], ids[MID_URI]

    def with_extension(sequence: int, element: bytes) -> bytes:
        body = element + bytes(-len(element) % 4)
        header = bytes([0x90, 96]) + sequence.to_bytes(2, "big") + bytes(4) + (0x1234567B).to_bytes(4, "big")
        return header + b"\xbe\xde" + (len(body) // 4).to_bytes(2, "big") + body + bytes(20)

    for sequence in range(3000, 3010):
        await room.publisher.send_raw(with_extension(sequence, bytes([abs_send_time << 4, 0x01])))
        await room.publisher.send_raw(with_extension(sequence + 100, bytes([(mid << 4) | 1, 0xFF, 0xFE])))
    frames = client.received.video_frames
    await until(lambda: client.received.video_frames >= frames + 15, "video keeps flowing")
    for pc in [room.publisher.pc, room.server_publisher, *room.server_subscribers, client.pc]:
        assert pc.connectionState == "connected"
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


async def test_inline_rooms_take_srtp_datagrams_around_the_receive_queue(make_room: RoomFactory) -> None:
    """Inline, the server's SRTP datagrams never enter aioice's queue (the receive task sees only
    STUN and DTLS); through the task, every one does. Both forward the same."""
    room = await make_room()
    agent: Any = next(
        t.receiver.transport for t in room.server_publisher.getTransceivers()
    ).transport._connection
    queued_srtp = [0]
    queue_datagram = agent.data_received

    def counting(data: bytes, component: int) -> None:
        queued_srtp[0] += 127 < data[0] < 192
        queue_datagram(data, component)

    agent.data_received = counting
    client, _ = await room.add_subscriber()
    before = room.published["video"].stats.packets_received
    await until(lambda: client.received.video_frames >= 20, "the subscriber decodes video")
    arrived = room.published["video"].stats.packets_received - before
    assert arrived > 0
    if room.inline:
        assert queued_srtp[0] == 0
    else:
        assert queued_srtp[0] >= arrived


async def test_what_the_publishers_uplink_lost_is_not_the_subscribers_loss(make_room: RoomFactory) -> None:
    """The patient's uplink loses a fifth of its audio; the nurse's link loses nothing. The nurse's
    receiver reports count the holes as lost, but her own link is measured clean."""
    room = await make_room()
    client, subscriptions = await room.add_subscriber()
    await until(lambda: client.received.audio_frames >= 20, "the subscriber hears audio")

    transport: Any = room.publisher.audio.sender.transport
    audio_ssrc = room.publisher.audio.sender._ssrc
    send_rtp = transport._send_rtp
    sent = [0]

    async def lossy_uplink(data: bytes) -> None:
        view = parse_rtp(data)
        if view is not None and view.ssrc == audio_ssrc:
            sent[0] += 1
            if sent[0] % 5 == 0:
                return
        await send_rtp(data)

    transport._send_rtp = lossy_uplink
    audio = subscriptions["audio"]
    server = room.server_subscribers[0]
    sender = next(t.sender for t in server.getTransceivers() if t.kind == "audio")
    stats_id = remote_inbound_stats_id(sender)
    meter, plain = QualityMeter(), QualityMeter()

    async def measure() -> tuple[QualitySample | None, QualitySample | None]:
        report = dict(await server.getStats())
        return meter.update(report, {stats_id: Upstream(audio.upstream_holes)}), plain.update(report)

    await measure()  # the baseline
    samples: list[tuple[QualitySample, QualitySample]] = []
    while len(samples) < 3:
        await asyncio.sleep(2)
        net, raw = await measure()
        if net is not None and raw is not None and net.download is not None and raw.download is not None:
            samples.append((net, raw))
    assert audio.upstream_holes > 20
    # Without the holes taken out, the nurse would be blamed for the patient's 20 %.
    assert max(raw.download.loss_pct for _, raw in samples if raw.download) > 10
    assert all(net.download is not None and net.download.loss_pct < 3 for net, _ in samples)
    assert all(net.level is QualityLevel.GOOD for net, _ in samples)


async def test_the_publishers_encoder_hears_the_loss_its_listeners_see(make_room: RoomFactory) -> None:
    """Our receiver reports on the publisher's audio say at least the worst listener's loss, so a
    browser's Opus encoder adds in-band FEC for a listener whose own link is weak."""
    room = await make_room()
    client, _ = await room.add_subscriber()
    await until(lambda: client.received.audio_frames >= 10, "the subscriber hears audio")

    async def reported_fraction() -> float:
        stats = await room.publisher.audio.sender.getStats()
        return max((s.fractionLost for s in stats.values() if s.type == "remote-inbound-rtp"), default=-1)

    fractions: list[float] = []
    room.published["audio"].report_downstream_loss(0.12)

    async def poll_reports() -> bool:
        fractions.append(await reported_fraction())
        return fractions[-1] >= 30  # 12 % in 1/256 units

    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not await poll_reports():
        assert asyncio.get_running_loop().time() < deadline, f"reports said {fractions[-5:]}"
        await asyncio.sleep(0.2)
    room.published["audio"].report_downstream_loss(0.0)
    while await poll_reports():
        assert asyncio.get_running_loop().time() < deadline + TIMEOUT, "the floor stayed"
        await asyncio.sleep(0.2)


async def test_the_server_answers_opus_with_in_band_fec() -> None:
    """A browser adds FEC to its Opus only when the answer says ``useinbandfec=1``."""
    offer_opus_fec()
    client, server = new_peer(), new_peer()
    client.addTransceiver("audio", direction="sendrecv")
    try:
        await negotiate(client, server)
        assert server.localDescription is not None and client.localDescription is not None
        for sdp in (server.localDescription.sdp, client.localDescription.sdp):
            fmtp = [line for line in sdp.splitlines() if line.startswith("a=fmtp:96 ")]
            assert fmtp and "useinbandfec=1" in fmtp[0]
    finally:
        await client.close()
        await server.close()
