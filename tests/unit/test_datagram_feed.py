"""The forwarding micro-benchmark's feed process sends what it is told, where, and counts only RTP.

``bench.forwarding_micro`` reads the server's CPU per relayed packet from the packets the feed
sends and the copies its sinks count; a feed that skipped, reordered or miscounted would make
that figure wrong without any error.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
from pathlib import Path

from bench.datagram_feed import is_rtp

REPOSITORY = Path(__file__).resolve().parents[2]


def rtp(sequence: int, payload_type: int = 96, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (marker << 7) | payload_type, sequence, 0, 1234) + b"x" * 20


def test_rtp_is_told_from_rtcp_and_stun() -> None:
    assert is_rtp(rtp(1)) and is_rtp(rtp(2, marker=True)) and is_rtp(rtp(3, payload_type=111, marker=True))
    sender_report = struct.pack("!BBH", 0x80, 200, 6) + bytes(24)
    receiver_report = struct.pack("!BBH", 0x81, 201, 7) + bytes(28)
    stun_request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + bytes(12)
    assert not any(is_rtp(d) for d in (sender_report, receiver_report, stun_request, b"\x80\x60"))


def test_each_stream_gets_its_datagrams_in_order_and_the_sinks_count_the_rtp_they_get(
    tmp_path: Path,
) -> None:
    targets = []
    specs = []
    for stream in range(2):
        target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        target.bind(("127.0.0.1", 0))
        target.settimeout(5)
        targets.append(target)
        path = tmp_path / f"stream{stream}"
        path.write_bytes(b"".join(struct.pack("!H", 32) + rtp(100 * stream + n) for n in range(30)))
        specs.append(f"127.0.0.1:{target.getsockname()[1]}:{path}")
    feed = subprocess.Popen(
        [sys.executable, "-m", "bench.datagram_feed", "2", *specs],
        cwd=REPOSITORY,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert feed.stdin is not None and feed.stdout is not None
    try:
        sinks = [int(port) for port in feed.stdout.readline().split()]
        assert len(sinks) == 4
        echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for port in sinks[:3]:
            echo.sendto(rtp(7), ("127.0.0.1", port))
        echo.sendto(struct.pack("!BBH", 0x80, 200, 6) + bytes(24), ("127.0.0.1", sinks[3]))  # RTCP
        feed.stdin.write("2000 10 2\n")  # 10 of each of both streams
        feed.stdin.flush()
        assert int(feed.stdout.readline()) == 3
        feed.stdin.write("2000 5 1\n")  # 5 more of the first stream only
        feed.stdin.flush()
        assert int(feed.stdout.readline()) == 0
        received = [
            [struct.unpack_from("!H", target.recv(64), 2)[0] for _ in range(count)]
            for target, count in zip(targets, (15, 10), strict=True)
        ]
        assert received == [list(range(15)), list(range(100, 110))]
        # The feed answered after its last send, and loopback delivers within sendto: anything
        # more for the second stream would already be queued.
        targets[1].setblocking(False)
        try:
            extra: bytes | None = targets[1].recv(64)
        except BlockingIOError:
            extra = None
        assert extra is None
    finally:
        feed.stdin.close()
        assert feed.wait(10) == 0
        for target in targets:
            target.close()
