"""What forwarding one RTP packet costs the server, in microseconds. Prints figures; asserts nothing.

Run: ``python -m bench.forwarding_micro [--packets N] [--quick] [--no-counters]`` (loopback only,
~50 s; ``--quick`` ~25 s). The last line is one JSON object with the figures.
``--no-counters`` turns off what metrics add to the per-packet path (the received-bytes counter)
and the census that sums the counters (run here every 0.1 s, ten times as often as a media worker
does), to measure what metrics cost.

1. Pieces, without network: aiortc's RTP parse, SRTP unprotect/protect, and our per-packet work.
2. A real room on 127.0.0.1: a publisher client, the server's publisher peer, K server subscriber
   peers, K subscriber clients (which count packets and do not decode). Prebuilt 1100-byte VP8 RTP
   packets (with MID and abs-send-time, like a browser's) go in through the publisher's SRTP; on
   the server we time ``RTCDtlsTransport._handle_rtp_data`` (aiortc's parse and routing, our
   receive hook, and for each subscriber: rewrite, SRTP protect, UDP send). SRTP unprotect of
   the incoming packet happens before that and is added from part 1.

3. The whole path, datagram in to datagrams out: publishers' datagrams come from another process
   (``bench.datagram_feed``) over UDP and the copies go back to sockets there, so the process's
   CPU is the server's. First loaded as ``bench.relay`` loads a server, 1 to 8 consults of two
   streams at a publisher's packet rate, read as the relay reads it (the slope of CPU over
   packets a second: ``whole_path_us_per_relayed_packet``, to set beside the relay's
   ``us_per_relayed_packet``); then one publisher at 4,000 packets a second to K subscribers,
   through aiortc's receive task and through the datagram fast path.
4. The interpreter's part of it: datagrams handed straight to the worker's fast-receive hook, the
   subscribers' sends going nowhere, so neither the kernel nor the event loop is in the figure.

It runs on uvloop, as the media workers do, so the UDP sends and receives it times are theirs.
"""

from __future__ import annotations

import asyncio
import copy
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aioice.ice
import uvloop
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

from media.aiortc_seam import install_fast_receive
from media.keyframes import classify_vp8
from media.rtp_forwarding import Forwarder, ForwardingPolicy, PublisherStats
from media.rtp_rewrite import HeaderExtensionIds, HeaderWriter

REPOSITORY = Path(__file__).resolve().parents[1]
PAYLOAD_SIZE = 1100
DESCRIPTOR = bytes([0x90, 0x80, 0x81, 0x23])
KEY = DESCRIPTOR + bytes([0x50, 0x01, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])
DELTA = bytes([0x80, 0x80, 0x81, 0x23, 0x51, 0x01, 0x00])  # continuation packets of delta frames
STREAM_RATE = 112.5
"""Packets a second of one publisher in bench.relay's consults: ~62 of video (493 kbit/s at 25 fps)
and 50 of audio (Opus every 20 ms). The streams here are all video; audio packets are smaller."""
CONSULT_STREAMS = (2, 4, 8, 16)
"""Streams for 1, 2, 4 and 8 consults, the consult counts of bench.relay's full run."""
BURST_RATE = 4000.0


def per_call_us(function: Callable[[], object], repeat: int = 20000) -> float:
    best = []
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(repeat):
            function()
        best.append((time.perf_counter_ns() - start) / repeat / 1000)
    return min(best)


def pieces() -> dict[str, float]:
    key = os.urandom(28)  # AES-128-GCM: 16-byte key + 12-byte salt
    profile = Policy.SRTP_PROFILE_AEAD_AES_128_GCM
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx_policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    rx_policy.window_size = 1024
    rx = Session(rx_policy)
    writer = HeaderWriter(1234, "0", HeaderExtensionIds(mid=1, abs_send_time=3), audio_level=False)
    payload = DELTA + bytes(PAYLOAD_SIZE - len(DELTA))
    plain = writer.write(97, 1, 2, 3, -1, payload)
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(
                    id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
                ),
            ]
        )
    )
    sequence = iter(range(1 << 30))
    protected = [tx.protect(writer.write(97, seq, 2, 3, -1, payload)) for seq in range(60000)]
    unprotect_next = iter(protected)
    tx_next = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    stats = PublisherStats()

    def count_bytes() -> None:
        stats.payload_bytes_received += len(payload)

    return {
        "aiortc RtpPacket.parse (1100 B, 2 extensions)": per_call_us(
            lambda: RtpPacket.parse(plain, extensions)
        ),
        "SRTP unprotect (AES-128-GCM)": per_call_us(lambda: rx.unprotect(next(unprotect_next)), repeat=10000),
        "SRTP protect (AES-128-GCM)": per_call_us(
            lambda: tx_next.protect(writer.write(97, next(sequence) & 0xFFFF, 2, 3, -1, payload)),
            repeat=10000,
        ),
        "our header rewrite (HeaderWriter.write)": per_call_us(
            lambda: writer.write(97, 5, 2, 3, -1, payload)
        ),
        "our VP8 classification": per_call_us(lambda: classify_vp8(payload, True)),
        "metrics byte counter (one add, call included)": per_call_us(count_bytes),
    }


def new_peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def wait_for(condition: Callable[[], bool], limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.01)


async def census(forwarder: Forwarder) -> None:
    """What a media worker does for metrics (every second there), ten times as often."""
    while True:
        await asyncio.sleep(0.1)
        forwarder.traffic()


async def room(subscribers: int, packets: int, policy: ForwardingPolicy) -> dict[str, float]:
    forwarder = Forwarder(policy)
    counting = asyncio.get_running_loop().create_task(census(forwarder)) if policy.count_bytes else None
    client = new_peer()
    client_video = client.addTransceiver("video", direction="sendonly")
    server = new_peer()

    @server.on("track")
    def on_track(track: Any) -> None:
        forwarder.publish(next(t for t in server.getTransceivers() if t.receiver.track is track))

    await negotiate(client, server)
    servers, clients, received = [], [], [0]
    for _ in range(subscribers):
        server_sub, client_sub = new_peer(), new_peer()
        forwarder.subscribe(server_sub.addTransceiver("video", direction="sendonly"), forwarder.published[0])

        @client_sub.on("track")
        def on_sub_track(track: Any, client_sub: RTCPeerConnection = client_sub) -> None:
            receiver: Any = next(t.receiver for t in client_sub.getTransceivers())

            async def count(packet: RtpPacket, arrival_time_ms: int) -> None:
                received[0] += 1

            receiver._handle_rtp_packet = count  # count, do not decode

        await negotiate(server_sub, client_sub)
        servers.append(server_sub)
        clients.append(client_sub)
    peers = [client, server, *servers, *clients]
    await wait_for(lambda: all(pc.connectionState == "connected" for pc in peers))

    sender: Any = client_video.sender
    pack = rtp_packer(client_video)
    prebuilt = [pack(seq, (seq // 4) * 3000, seq % 4 == 3, seq * 97 / (1 << 18)) for seq in range(packets)]
    server_dtls: Any = next(t.receiver.transport for t in server.getTransceivers())
    handle = server_dtls._handle_rtp_data
    spent: list[int] = []

    async def timed(data: bytes, arrival_time_ms: int) -> None:
        start = time.perf_counter_ns()
        await handle(data, arrival_time_ms)
        spent.append(time.perf_counter_ns() - start)

    server_dtls._handle_rtp_data = timed
    client_dtls: Any = sender.transport
    cpu_start = time.process_time()
    for index, data in enumerate(prebuilt):
        await client_dtls._send_rtp(data)
        if index % 4 == 3:
            await asyncio.sleep(0.0005)  # ~8000 packets/s: do not overrun loopback socket buffers
    try:
        await wait_for(lambda: len(spent) >= packets and received[0] >= (packets - 50) * subscribers, 30)
    except TimeoutError:
        pass
    cpu = time.process_time() - cpu_start
    if counting is not None:
        counting.cancel()
    await forwarder.close()
    for pc in peers:
        await pc.close()
    steady = spent[200:] or spent
    return {
        "packets_in": len(spent),
        "packets_out": received[0],
        "server_us_per_packet_in": statistics.mean(steady) / 1000,
        "server_us_median": statistics.median(steady) / 1000,
        "process_cpu_us_per_packet_out": cpu / max(received[0], 1) * 1e6,
    }


@dataclass
class ConnectedRoom:
    """A publishing client and the server's peer for it, and server peers each with its client,
    all connected, around one forwarder."""

    forwarder: Forwarder
    client: RTCPeerConnection
    client_video: RTCRtpTransceiver
    server: RTCPeerConnection
    servers: list[RTCPeerConnection]
    clients: list[RTCPeerConnection]

    @property
    def peers(self) -> list[RTCPeerConnection]:
        return [self.client, self.server, *self.servers, *self.clients]

    async def close(self) -> None:
        await self.forwarder.close()
        for pc in self.peers:
            await pc.close()


async def connected_room(subscribers: int, *, fast: bool) -> ConnectedRoom:
    forwarder = Forwarder(ForwardingPolicy(inline_send=fast))
    client = new_peer()
    client_video = client.addTransceiver("video", direction="sendonly")
    server = new_peer()

    @server.on("track")
    def on_track(track: Any) -> None:
        forwarder.publish(next(t for t in server.getTransceivers() if t.receiver.track is track))

    await negotiate(client, server)
    servers, clients = [], []
    for _ in range(subscribers):
        server_sub, client_sub = new_peer(), new_peer()
        forwarder.subscribe(server_sub.addTransceiver("video", direction="sendonly"), forwarder.published[0])
        await negotiate(server_sub, client_sub)
        servers.append(server_sub)
        clients.append(client_sub)
    room = ConnectedRoom(forwarder, client, client_video, server, servers, clients)
    await wait_for(lambda: all(pc.connectionState == "connected" for pc in room.peers))
    return room


def rtp_packer(client_video: RTCRtpTransceiver) -> Callable[[int, int, bool, float], bytes]:
    """A function making one plain RTP packet of the client's video stream, as the server expects
    it: ``(sequence, rtp_timestamp, marker, send_time_s)`` to a VP8 packet (a keyframe's first
    packet at sequence 0, delta frames after) with MID and the abs-send-time of ``send_time_s``."""
    sender: Any = client_video.sender
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=client_video._headerExtensions))
    payload_type = client_video._codecs[0].payloadType
    assert payload_type is not None

    def pack(sequence: int, timestamp: int, marker: bool, send_time_s: float) -> bytes:
        body = KEY if sequence == 0 else DELTA
        rtp = RtpPacket(
            payload_type=payload_type, sequence_number=sequence, timestamp=timestamp, ssrc=sender._ssrc
        )
        rtp.marker = int(marker)
        rtp.payload = body + bytes(PAYLOAD_SIZE - len(body))
        rtp.extensions.mid = client_video.mid
        rtp.extensions.abs_send_time = int(send_time_s * (1 << 18)) & 0xFFFFFF
        return bytes(rtp.serialize(extensions))

    return pack


def packer(client_video: RTCRtpTransceiver) -> Callable[[int, int, bool, float], bytes]:
    """:func:`rtp_packer`'s packets as SRTP datagrams, protected by the client's own session."""
    pack, protect = rtp_packer(client_video), client_video.sender.transport._tx_srtp.protect

    def datagram(sequence: int, timestamp: int, marker: bool, send_time_s: float) -> bytes:
        return bytes(protect(pack(sequence, timestamp, marker, send_time_s)))

    return datagram


def video_datagrams(
    client_video: RTCRtpTransceiver, count: int, *, per_frame: int, fps: float
) -> list[bytes]:
    """``count`` packets of the client's video: frames of ``per_frame`` packets, ``fps`` a second."""
    pack = packer(client_video)
    datagrams = []
    for seq in range(count):
        frame = seq // per_frame
        datagrams.append(pack(seq, frame * int(90000 / fps), seq % per_frame == per_frame - 1, frame / fps))
    return datagrams


@dataclass(frozen=True)
class Segment:
    """``count`` datagrams of each of the first ``streams`` streams, each stream at ``rate`` a
    second, the streams taking turns evenly."""

    rate: float
    count: int
    streams: int = 1


def stream_datagrams(client_video: RTCRtpTransceiver, segments: list[Segment], stream: int) -> list[bytes]:
    """Stream number ``stream``'s datagrams for the segments it takes part in, sequence numbers
    running on: 25 frames a second whose packets share the segment's rate, each with the
    abs-send-time the feed will send it at."""
    pack = packer(client_video)
    datagrams: list[bytes] = []
    frame, clock = 0, 0.0
    for segment in segments:
        if stream >= segment.streams:
            continue
        per_frame = max(1, round(segment.rate / 25))
        phase = stream / (segment.rate * segment.streams)
        for index in range(segment.count):
            last_of_frame = index % per_frame == per_frame - 1 or index == segment.count - 1
            sent_at = clock + index / segment.rate + phase
            datagrams.append(pack(len(datagrams) & 0xFFFF, frame * 3600, last_of_frame, sent_at))
            frame += last_of_frame
        clock += segment.count / segment.rate + 0.5
    return datagrams


@dataclass(frozen=True)
class SegmentCost:
    """What the server did and spent while one segment was fed to it."""

    segment: Segment
    received: int  # datagrams the server's publisher peers took in
    copies: int  # RTP datagrams the sinks got
    cpu_s: float  # this process's CPU time
    wall_s: float

    @property
    def packets_per_second(self) -> float:
        return self.received / self.wall_s

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s


def send_copies_to(server: Any, client: Any, port: int) -> None:
    """Point a server subscriber peer's nominated pair (``server``, its DTLS transport) at ``port``
    on 127.0.0.1, a sink in the feed's process, so that its client (``client``) in this process
    receives nothing and costs nothing. Both stop their consent checks (one STUN request every
    5 s): the client's would make the server pick its real address again, and the server's would
    go unanswered and end the connection after 30 s."""
    for transport in (server, client):
        consent = transport.transport._connection._query_consent_task
        if consent is not None:
            consent.cancel()
    pair = server.transport._connection._nominated[1]
    candidate = copy.copy(pair.remote_candidate)
    candidate.port = port
    pair.remote_candidate = candidate
    if hasattr(server, "_teleconsulta_send_route"):
        del server._teleconsulta_send_route  # the cached route keeps the old address


@dataclass
class FedRooms:
    """Rooms of one publisher each, fed by a ``bench.datagram_feed`` process."""

    rooms: list[ConnectedRoom]
    feed: asyncio.subprocess.Process
    files: list[Path]

    async def send(self, segment: Segment) -> int:
        """Feed one segment; the RTP copies the sinks received."""
        assert self.feed.stdin is not None and self.feed.stdout is not None
        self.feed.stdin.write(f"{segment.rate} {segment.count} {segment.streams}\n".encode())
        await self.feed.stdin.drain()
        line = await asyncio.wait_for(self.feed.stdout.readline(), segment.count / segment.rate + 30)
        if not line:
            raise RuntimeError("the datagram feed ended early")
        return int(line)

    def received(self) -> int:
        return sum(room.forwarder.published[0].stats.packets_received for room in self.rooms)

    async def measure(self, segment: Segment) -> SegmentCost:
        before = self.received()
        cpu, wall = time.process_time(), time.monotonic()
        copies = await self.send(segment)
        return SegmentCost(
            segment,
            received=self.received() - before,
            copies=copies,
            cpu_s=time.process_time() - cpu,
            wall_s=time.monotonic() - wall,
        )

    async def close(self) -> None:
        if self.feed.stdin is not None:
            self.feed.stdin.close()
        await self.feed.wait()
        for path in self.files:
            await asyncio.to_thread(path.unlink)
        for room in self.rooms:
            await room.close()


async def fed_rooms(streams: int, subscribers: int, segments: list[Segment], *, fast: bool) -> FedRooms:
    """``streams`` rooms, each a publisher with ``subscribers`` subscribers, whose publishers' SRTP
    datagrams come from another process over UDP into the server's ICE sockets and whose copies go
    to sockets in that process. The server does everything a worker does for them (the event
    loop's read, aioice, SRTP, aiortc's routing, our forwarding, SRTP protect and UDP send per
    subscriber); the clients in this process send and receive nothing but RTCP."""
    rooms = [await connected_room(subscribers, fast=fast) for _ in range(streams)]
    warm_up = Segment(200.0, 40, streams)  # not measured: the subscriptions start at its keyframe
    specs, files = [], []
    for index, room in enumerate(rooms):
        server_dtls: Any = next(t.receiver.transport for t in room.server.getTransceivers())
        if fast:
            assert install_fast_receive(server_dtls)
            for pc in room.servers:
                install_fast_receive(next(t.sender.transport for t in pc.getTransceivers()))
        datagrams = bytearray()
        for protected in stream_datagrams(room.client_video, [warm_up, *segments], index):
            datagrams += struct.pack("!H", len(protected)) + protected
        path = Path(tempfile.mkstemp(prefix="forwarding-micro-")[1])
        await asyncio.to_thread(path.write_bytes, bytes(datagrams))
        files.append(path)
        local = server_dtls.transport._connection._nominated[1].local_candidate
        specs.append(f"{local.host}:{local.port}:{path}")
    feed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.datagram_feed",
        str(subscribers),
        *specs,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=REPOSITORY,  # bench.datagram_feed is found from here
    )
    fed = FedRooms(rooms, feed, files)
    assert feed.stdout is not None
    ports = iter(int(port) for port in (await feed.stdout.readline()).split())
    for room in rooms:
        for server_pc, client_pc in zip(room.servers, room.clients, strict=True):
            server_side = next(t.sender.transport for t in server_pc.getTransceivers())
            client_side = next(t.receiver.transport for t in client_pc.getTransceivers())
            send_copies_to(server_side, client_side, next(ports))
    await fed.send(warm_up)
    return fed


async def idle_cores(seconds: float = 1.0) -> float:
    """This process's CPU, in cores, while nothing is fed: the peers' timers."""
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu) / (time.monotonic() - wall)


def us_per_packet(cost: SegmentCost, idle: float) -> float:
    """The server's CPU per incoming packet in one segment, less what it spends idle over as long."""
    return max(cost.cpu_s - idle * cost.wall_s, 0.0) / max(cost.received, 1) * 1e6


def slope_us_per_packet(costs: list[SegmentCost]) -> float:
    """µs of CPU per incoming packet as the slope of cores over packets a second, so fixed costs
    (timers, idle wake-ups) fall out: how ``bench.relay`` reads its ``us_per_relayed_packet``."""
    fitted = statistics.linear_regression([c.packets_per_second for c in costs], [c.cores for c in costs])
    return fitted.slope * 1e6


class _SendsNowhere:
    """Stands in for a UDP transport: takes every datagram and sends none (other calls pass)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def sendto(self, data: bytes, addr: Any = None) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def interpreter_path(subscribers: int, packets: int) -> dict[str, float]:
    """What a media worker's Python costs per packet, without the kernel or the event loop: the
    datagrams go straight into the fast-receive hook a worker installs on its socket (SRTP
    unprotect, parse, routing, statistics, REMB, forwarding, SRTP protect per subscriber), and the
    subscribers' sends go nowhere after the first packets have set their streams up. Timed in
    chunks of 500 packets; the median chunk's µs per incoming packet."""
    room = await connected_room(subscribers, fast=True)
    forwarder, client_video, server, servers = room.forwarder, room.client_video, room.server, room.servers
    server_dtls: Any = next(t.receiver.transport for t in server.getTransceivers())
    assert install_fast_receive(server_dtls)
    sending = [next(t.sender.transport for t in pc.getTransceivers()) for pc in servers]
    for transport in sending:
        install_fast_receive(transport)
    pair = server_dtls.transport._connection._nominated[1]
    hook, address = pair.protocol.datagram_received, pair.remote_addr

    datagrams = video_datagrams(client_video, packets + 50, per_frame=3, fps=25)
    for data in datagrams[:50]:  # for real: the subscriptions start at the keyframe
        hook(data, address)
    await asyncio.sleep(0.2)
    for transport in sending:
        nominated: Any = transport.transport._connection._nominated[1]
        nominated.protocol.transport = _SendsNowhere(nominated.protocol.transport)
        route = getattr(transport, "_teleconsulta_send_route", None)
        if route is not None:  # the route keeps the socket's own sendto
            route.sendto = _SendsNowhere(None).sendto
    chunks = []
    for start in range(50, packets + 50, 500):
        chunk = datagrams[start : start + 500]
        began = time.perf_counter_ns()
        for data in chunk:
            hook(data, address)
        chunks.append((time.perf_counter_ns() - began) / len(chunk) / 1000)
        await asyncio.sleep(0)
    sent = sum(s.stats.packets_sent for s in forwarder.subscriptions)
    received = forwarder.published[0].stats.packets_received
    await room.close()
    return {"us_per_packet": statistics.median(chunks), "received": received, "sent": sent}


async def main(
    packets: int, subscriber_counts: tuple[int, ...], *, counters: bool, quick: bool
) -> dict[str, float]:
    def loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"]

    aioice.ice.get_host_addresses = loopback
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"Metrics counters: {'on' if counters else 'off (--no-counters)'}")
    print("\n1. Pieces (µs per call, best of 5)")
    costs = pieces()
    for name, value in costs.items():
        print(f"   {name:48s} {value:7.2f}")
    unprotect = costs["SRTP unprotect (AES-128-GCM)"]

    print(f"\n2. A room on loopback, {packets} packets of {PAYLOAD_SIZE} B (µs; medians unless said)")
    print("   subs  server path  (mean)  +unprotect  per forwarded copy  per extra sub  (process CPU/copy*)")
    previous: tuple[int, float] | None = None
    summary: dict[str, float] = {
        "srtp_unprotect_us": round(unprotect, 2),
        "metrics_counter_us": round(costs["metrics byte counter (one add, call included)"], 3),
    }
    for subscribers in subscriber_counts:
        figures = await room(subscribers, packets, ForwardingPolicy(count_bytes=counters))
        median, mean = figures["server_us_median"], figures["server_us_per_packet_in"]
        summary[f"server_path_us_{subscribers}_sub"] = round(median, 2)
        total = median + unprotect
        marginal = "" if previous is None else f"{(total - previous[1]) / (subscribers - previous[0]):13.1f}"
        if previous is not None:
            summary["us_per_extra_subscriber"] = round((total - previous[1]) / (subscribers - previous[0]), 1)
        else:
            summary["us_per_packet_1_subscriber"] = round(total, 1)
        previous = (subscribers, total)
        print(
            f"   {subscribers:4d}  {median:11.1f}  {mean:6.1f}  {total:10.1f}  {total / subscribers:18.1f}"
            f"  {marginal:>13s}  ({figures['process_cpu_us_per_packet_out']:.0f})"
        )
    figures = await room(1, packets, ForwardingPolicy(send_remb=False, count_bytes=counters))
    print(f"   1 subscriber, no REMB to the publisher: {figures['server_us_median']:.1f}")
    print(
        "\n   server path: aiortc's RTP parse and routing, our receive hook (RR statistics, REMB, loss"
        "\n   tracking, classification), then per subscriber: rewrite, SRTP protect, UDP send."
        "\n   +unprotect adds the incoming packet's SRTP unprotect (part 1)."
        "\n   * process CPU includes the clients' SRTP and the event loop: an upper bound."
    )
    summary["us_per_packet_1_subscriber_no_remb"] = round(figures["server_us_median"] + unprotect, 1)

    streams = CONSULT_STREAMS[:-1] if quick else CONSULT_STREAMS
    seconds = 1.5 if quick else 3.0
    order = list(streams) if quick else [*streams, *reversed(streams)]
    print(
        "\n3. The whole path, datagram in to datagrams out: publishers' SRTP datagrams come from another"
        "\n   process into the server's ICE sockets, the copies go out to sockets in that process, and"
        "\n   the figure is this process's CPU. First as bench.relay's 1:1 consults load a server: each"
        f"\n   consult two streams (one each way) of {STREAM_RATE:g} packets a second (a publisher's video"
        f"\n   and audio), {seconds:g} s for each number of consults"
        + ("" if quick else ", up then down")
        + "; the slope of CPU over packets a second"
        "\n   is the server's µs per relayed packet (fixed costs fall out), as bench.relay reads it."
    )
    print("   consults  packets/s  server CPU  µs/packet, idle off  (in/out)")
    segments = [Segment(STREAM_RATE, int(STREAM_RATE * seconds), count) for count in order]
    # Not measured: 5 s fill every subscription's retransmission cache (512 packets), whose filling
    # allocates where the steady state reuses.
    settle = Segment(STREAM_RATE, int(STREAM_RATE * 5), max(streams))
    fed = await fed_rooms(max(streams), 1, [settle, *segments], fast=True)
    try:
        idle = await idle_cores()
        await fed.send(settle)
        segment_costs = []
        for segment in segments:
            window = await fed.measure(segment)
            segment_costs.append(window)
            print(
                f"   {segment.streams / 2:8g}  {window.packets_per_second:9.0f}  {100 * window.cores:8.2f} %"
                f"  {us_per_packet(window, idle):19.1f}  ({window.received}/{window.copies})"
            )
    finally:
        await fed.close()
    per_packet = slope_us_per_packet(segment_costs)
    per_consult = per_packet * 1e-6 * 2 * STREAM_RATE * 100
    print(
        f"   idle: {100 * idle:.2f} % of a core ({max(streams)} rooms open throughout);"
        f" per relayed packet {per_packet:.1f} µs, per consult {per_consult:.2f} % of a core"
    )
    summary["whole_path_us_per_relayed_packet"] = round(per_packet, 1)
    summary["whole_path_cpu_pct_per_consult"] = round(per_consult, 2)

    print(
        f"\n   Then one publisher at {BURST_RATE:.0f} packets a second ({packets} packets), through aiortc's"
        "\n   receive task and through the datagram fast path (µs per incoming packet, idle off)"
    )
    print("   subs  aiortc's receive task  datagram fast path  ratio   (packets in/out)")
    for subscribers in subscriber_counts:
        measured = {}
        for fast in (False, True):
            fed = await fed_rooms(1, subscribers, [Segment(BURST_RATE, packets)], fast=fast)
            try:
                idle = await idle_cores(0.5)
                measured[fast] = (await fed.measure(Segment(BURST_RATE, packets)), idle)
            finally:
                await fed.close()
        (task, task_idle), (quick_path, fast_idle) = measured[False], measured[True]
        task_us, fast_us = us_per_packet(task, task_idle), us_per_packet(quick_path, fast_idle)
        summary[f"whole_path_us_{subscribers}_sub"] = round(fast_us, 1)
        summary[f"whole_path_task_us_{subscribers}_sub"] = round(task_us, 1)
        print(
            f"   {subscribers:4d}  {task_us:21.1f}  {fast_us:18.1f}  {fast_us / task_us:5.2f}"
            f"   ({task.received}/{task.copies}, {quick_path.received}/{quick_path.copies})"
        )

    python_packets = max(packets, 3000) * 5
    print(
        f"\n4. The interpreter's part of that path: {python_packets} datagrams handed straight to the"
        "\n   worker's fast-receive hook, the subscribers' sends going nowhere (µs per incoming"
        "\n   packet, median of chunks of 500; no kernel, no event loop)"
    )
    print("   subs  µs per packet  per extra sub  (packets in/out)")
    first: tuple[int, float] | None = None
    for subscribers in subscriber_counts:
        python = await interpreter_path(subscribers, python_packets)
        cost = python["us_per_packet"]
        summary[f"python_path_us_{subscribers}_sub"] = round(cost, 1)
        extra = "" if first is None else f"{(cost - first[1]) / (subscribers - first[0]):13.1f}"
        first = first or (subscribers, cost)
        counts = f"({python['received']:.0f}/{python['sent']:.0f})"
        print(f"   {subscribers:4d}  {cost:13.1f}  {extra:>13s}  {counts}")
    return summary


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="1,000 packets, 1 and 4 subscribers")
    parser.add_argument("--no-counters", action="store_true", help="without the metrics counters")
    args = parser.parse_args()
    counts = (1, 4) if args.quick else (1, 2, 4, 8)
    packets = 1000 if args.quick else args.packets
    print(json.dumps(uvloop.run(main(packets, counts, counters=not args.no_counters, quick=args.quick))))
