"""The far side of part 3 of ``bench.forwarding_micro``: the publishers' datagrams going in and the
subscribers' sockets the copies come out to, in a process of their own, so that none of their
work is counted as the server's (in a real consult they are on other machines).

Run by the benchmark as ``python -m bench.datagram_feed SINKS HOST:PORT:FILE ...``: one stream per
``HOST:PORT:FILE``, whose FILE holds SRTP datagrams, each after its length (2 bytes, big-endian),
to send in order to HOST:PORT (the server's ICE socket for that publisher). SINKS is how many UDP
sockets to open per stream for the copies. It prints the sinks' ports on one line (stream by
stream), then takes commands from standard input, one a line:

- ``RATE COUNT STREAMS``: send the next COUNT datagrams of each of the first STREAMS streams, each
  stream at RATE a second, the streams' packets taking turns evenly; then wait until no RTP has
  reached the sinks for 0.2 s and print how many RTP datagrams they received since the last
  command (RTCP and STUN are not counted).

It paces by sleeping in ``select`` on the sinks, draining them as copies arrive, rather than
spinning: a spinning sender would take one of the machine's two cores from the server.
"""

from __future__ import annotations

import selectors
import socket
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

QUIET_S = 0.2


def datagrams(path: Path) -> list[bytes]:
    data = path.read_bytes()
    found, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from("!H", data, offset)
        found.append(data[offset + 2 : offset + 2 + size])
        offset += 2 + size
    return found


def is_rtp(datagram: bytes) -> bool:
    """RTP and RTCP both start with version 2; RTCP's packet types take 192 to 223 in the second
    byte, where RTP has the marker bit and a payload type below 96 + 32 for dynamic ones."""
    return len(datagram) >= 12 and datagram[0] >> 6 == 2 and not 192 <= datagram[1] <= 223


@dataclass
class Stream:
    target: tuple[str, int]
    queue: Iterator[bytes]


class Sinks:
    """UDP sockets on 127.0.0.1 that read and count what arrives, and nothing else."""

    def __init__(self, count: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.sockets = []
        for _ in range(count):
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", 0))
            sink.setblocking(False)
            self.selector.register(sink, selectors.EVENT_READ)
            self.sockets.append(sink)
        self.received = 0

    @property
    def ports(self) -> list[int]:
        return [sink.getsockname()[1] for sink in self.sockets]

    def wait(self, seconds: float) -> bool:
        """Drain what arrives for up to ``seconds``; whether any RTP did (the server's RTCP goes on
        arriving when its RTP has stopped)."""
        arrived = False
        for key, _ in self.selector.select(max(seconds, 0.0)):
            sink = key.fileobj
            assert isinstance(sink, socket.socket)
            while True:
                try:
                    datagram = sink.recv(2048)
                except BlockingIOError:
                    break
                if is_rtp(datagram):
                    arrived = True
                    self.received += 1
        return arrived


def feed(sender: socket.socket, streams: list[Stream], sinks: Sinks, command: str) -> int:
    fields = command.split()
    rate, count, active = float(fields[0]), int(fields[1]), int(fields[2])
    before = sinks.received
    start = time.perf_counter()
    for turn in range(count * active):
        due = start + turn / (rate * active)
        while (now := time.perf_counter()) < due:
            sinks.wait(due - now)
        stream = streams[turn % active]
        sender.sendto(next(stream.queue), stream.target)
    while sinks.wait(QUIET_S):
        pass
    return sinks.received - before


def main() -> None:
    sinks_per_stream = int(sys.argv[1])
    streams = []
    for spec in sys.argv[2:]:
        host, port, path = spec.split(":", 2)
        streams.append(Stream((host, int(port)), iter(datagrams(Path(path)))))
    sinks = Sinks(sinks_per_stream * len(streams))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    print(" ".join(str(p) for p in sinks.ports), flush=True)
    for command in sys.stdin:
        if command.strip():
            print(feed(sender, streams, sinks, command), flush=True)


if __name__ == "__main__":
    main()
