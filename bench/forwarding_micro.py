"""What forwarding one RTP packet costs the server, in microseconds. Prints figures; asserts nothing.

Run: ``python -m bench.forwarding_micro [--packets N] [--quick] [--no-counters]`` (loopback only,
~15 s; ``--quick`` ~5 s). The last line is one JSON object with the figures.
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

3. The whole path, datagram in to datagrams out, from another process over UDP.
4. The interpreter's part of it: datagrams handed straight to the worker's fast-receive hook, the
   subscribers' sends going nowhere, so neither the kernel nor the event loop is in the figure.

It runs on uvloop, as the media workers do, so the UDP sends and receives it times are theirs.
"""

from __future__ import annotations

import asyncio
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

PAYLOAD_SIZE = 1100
DESCRIPTOR = bytes([0x90, 0x80, 0x81, 0x23])
KEY = DESCRIPTOR + bytes([0x50, 0x01, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])
DELTA = bytes([0x80, 0x80, 0x81, 0x23, 0x51, 0x01, 0x00])  # continuation packets of delta frames


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
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=client_video._headerExtensions))
    payload_type = client_video._codecs[0].payloadType
    assert payload_type is not None

    def packet(seq: int) -> bytes:
        body = KEY if seq == 0 else DELTA
        rtp = RtpPacket(
            payload_type=payload_type, sequence_number=seq, timestamp=(seq // 4) * 3000, ssrc=sender._ssrc
        )
        rtp.marker = int(seq % 4 == 3)
        rtp.payload = body + bytes(PAYLOAD_SIZE - len(body))
        rtp.extensions.mid = client_video.mid
        rtp.extensions.abs_send_time = (seq * 97) & 0xFFFFFF
        return rtp.serialize(extensions)

    prebuilt = [packet(seq) for seq in range(packets)]
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


SENDER = """
import socket, struct, sys, time
host, port, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = open(sys.argv[4], "rb").read()
packets, offset = [], 0
while offset < len(data):
    (size,) = struct.unpack_from("!H", data, offset)
    packets.append(data[offset + 2 : offset + 2 + size])
    offset += 2 + size
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.perf_counter()
for index, packet in enumerate(packets):
    while time.perf_counter() < start + index / rate:
        pass
    sock.sendto(packet, (host, port))
"""


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


def video_datagrams(
    client_video: RTCRtpTransceiver,
    count: int,
    *,
    per_frame: int,
    ticks_per_frame: int,
    send_time: Callable[[int], int],
) -> list[bytes]:
    """``count`` VP8 packets of the client's video stream (a keyframe first, then delta frames of
    ``per_frame`` packets, with MID and abs-send-time ``send_time(seq)``), SRTP-protected by the
    client's own session as the server expects them."""
    sender: Any = client_video.sender
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=client_video._headerExtensions))
    payload_type = client_video._codecs[0].payloadType
    assert payload_type is not None
    datagrams = []
    for seq in range(count):
        body = KEY if seq == 0 else DELTA
        rtp = RtpPacket(
            payload_type=payload_type,
            sequence_number=seq,
            timestamp=(seq // per_frame) * ticks_per_frame,
            ssrc=sender._ssrc,
        )
        rtp.marker = int(seq % per_frame == per_frame - 1)
        rtp.payload = body + bytes(PAYLOAD_SIZE - len(body))
        rtp.extensions.mid = client_video.mid
        rtp.extensions.abs_send_time = send_time(seq) & 0xFFFFFF
        datagrams.append(sender.transport._tx_srtp.protect(rtp.serialize(extensions)))
    return datagrams


async def whole_path(subscribers: int, packets: int, *, fast: bool, rate: float) -> dict[str, float]:
    """Datagram in to datagrams out, as a media worker runs it: prebuilt SRTP datagrams come from
    another process over UDP into the server's ICE socket; the server does everything a worker
    does for them (the event loop's read, aioice, SRTP, aiortc's routing, our forwarding, SRTP
    protect and UDP send per subscriber). The subscriber clients stop reading their sockets, so
    this process's CPU, minus what it spends idle over as long, is the server's."""
    room = await connected_room(subscribers, fast=fast)
    forwarder, client_video, server, servers, clients = (
        room.forwarder,
        room.client_video,
        room.server,
        room.servers,
        room.clients,
    )
    server_dtls: Any = next(t.receiver.transport for t in server.getTransceivers())
    if fast:
        assert install_fast_receive(server_dtls)
        for pc in servers:
            install_fast_receive(next(t.sender.transport for t in pc.getTransceivers()))
    for pc in clients:  # the clients stop reading: the kernel drops what they would receive
        agent: Any = next(t.receiver.transport for t in pc.getTransceivers()).transport._connection
        for protocol in agent._protocols:
            try:
                protocol.transport.pause_reading()
            except AttributeError:  # uvloop's UDP transport cannot pause: read and drop at once
                protocol.datagram_received = lambda data, addr: None

    datagrams = bytearray()
    for protected in video_datagrams(
        client_video, packets, per_frame=4, ticks_per_frame=3000, send_time=lambda seq: seq * 97
    ):
        datagrams += struct.pack("!H", len(protected)) + protected
    pair = server_dtls.transport._connection._nominated[1]
    host, port = pair.local_candidate.host, pair.local_candidate.port
    path = Path(tempfile.mkstemp(prefix="forwarding-micro-")[1])
    await asyncio.to_thread(path.write_bytes, bytes(datagrams))
    track = forwarder.published[0]
    seconds = packets / rate

    idle_start, idle_wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    idle_rate = (time.process_time() - idle_start) / (time.monotonic() - idle_wall)

    before = track.stats.packets_received
    cpu_start, wall_start = time.process_time(), time.monotonic()
    sending = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SENDER, host, str(port), str(rate), str(path)
    )
    if await sending.wait() != 0:
        raise RuntimeError("the datagram sender failed")
    try:
        await wait_for(lambda: track.stats.packets_received - before >= packets - 10, 10)
    except TimeoutError:
        print(f"   (only {track.stats.packets_received - before} of {packets} datagrams arrived)")
    cpu = time.process_time() - cpu_start - idle_rate * (time.monotonic() - wall_start)
    received = track.stats.packets_received - before
    sent = sum(s.stats.packets_sent for s in forwarder.subscriptions)
    await asyncio.to_thread(path.unlink)
    await room.close()
    return {"received": received, "sent": sent, "us_per_packet": max(cpu, 0.0) / max(received, 1) * 1e6}


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

    datagrams = video_datagrams(
        client_video,
        packets + 50,
        per_frame=3,
        ticks_per_frame=3600,
        send_time=lambda seq: int((seq // 3) * 0.04 * (1 << 18)),
    )  # 25 frames a second
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


async def main(packets: int, subscriber_counts: tuple[int, ...], counters: bool) -> dict[str, float]:
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

    rate = 4000.0
    print(
        f"\n3. The whole path, datagram in to datagrams out: {packets} datagrams at {rate:.0f}/s from"
        "\n   another process (µs of this process's CPU per incoming packet, idle CPU taken off)"
    )
    print("   subs  aiortc's receive task  datagram fast path  ratio   (packets in/out)")
    for subscribers in subscriber_counts:
        slow = await whole_path(subscribers, packets, fast=False, rate=rate)
        quick = await whole_path(subscribers, packets, fast=True, rate=rate)
        summary[f"whole_path_us_{subscribers}_sub"] = round(quick["us_per_packet"], 1)
        summary[f"whole_path_task_us_{subscribers}_sub"] = round(slow["us_per_packet"], 1)
        print(
            f"   {subscribers:4d}  {slow['us_per_packet']:21.1f}  {quick['us_per_packet']:18.1f}"
            f"  {quick['us_per_packet'] / slow['us_per_packet']:5.2f}"
            f"   ({slow['received']:.0f}/{slow['sent']:.0f}, {quick['received']:.0f}/{quick['sent']:.0f})"
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
    print(json.dumps(uvloop.run(main(packets, counts, counters=not args.no_counters))))
