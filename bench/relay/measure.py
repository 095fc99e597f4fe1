"""Measurement: one window's server CPU, frames delivered, audio loss and latency, and what a
run of windows shows (CPU slopes, the largest load the machine generated cleanly).

Frames are matched exactly: each publisher's frame spacing varies (40 ms +- 4 ms), so the RTP
timestamps a subscriber sees, the publisher's plus a constant per subscription, identify them.
"""

from __future__ import annotations

import bisect
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from .client_process import ClientHandle, call_all
from .counting import GRACE, ClientReport
from .cpu import CpuSample, machine_busy, machine_steal
from .load_client import LateJoin
from .server import Server

MASK32 = 0xFFFFFFFF
TOLERANCE = 3
"""Ticks a relay may shift a timestamp by: the re-encoder's time-base conversions round by one
or two (90 kHz); frames are at least 36 ms (3,240 ticks) apart, so this cannot confuse two."""


def identify(published: list[tuple[int, float]], received: list[tuple[int, float]]) -> int | None:
    """The constant between a subscriber's RTP timestamps and its publisher's, found by voting:
    each received frame pairs with the frames sent in the second before it arrived; only the
    true offset (give or take ``TOLERANCE``) collects a vote from nearly every received frame."""
    votes: Counter[int] = Counter()
    times = [t for _, t in published]
    sample = received[:: max(1, len(received) // 40)]
    for ts, arrived in sample:
        low, high = bisect.bisect_left(times, arrived - 1.0), bisect.bisect_right(times, arrived)
        for pts, _ in published[low:high]:
            votes[(ts - pts) & MASK32] += 1
    if not votes:
        return None
    best, count = max(
        (
            (offset, sum(votes.get((offset + d) & MASK32, 0) for d in range(-TOLERANCE, TOLERANCE + 1)))
            for offset in votes
        ),
        key=lambda pair: pair[1],
    )
    return best if count >= max(3, len(sample) // 2) else None


@dataclass
class Delivery:
    sent: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    unidentified: int = 0


def deliveries(reports: list[ClientReport], since: float, until: float) -> tuple[Delivery, Delivery]:
    """Frames sent in the window and delivered complete, through the server and direct."""
    published: dict[str, list[tuple[int, float]]] = {}
    for report in reports:
        published.update(report.publishers)
    relayed, direct = Delivery(), Delivery()
    for report in reports:
        for stream in report.streams:
            sent = published.get(stream.publisher)
            if stream.kind != "video" or not sent:
                continue  # audio, or a receive-only participant's idle camera
            target = direct if stream.publisher == "direct" else relayed
            in_window = [(pts, t) for pts, t in sent if since <= t <= until]
            target.sent += len(in_window)
            offset = identify(sent, stream.frames)
            if offset is None:
                target.unidentified += 1
                continue
            arrived = {ts: t for ts, t in stream.frames}
            for pts, t in in_window:
                for shift in range(-TOLERANCE, TOLERANCE + 1):
                    at = arrived.get((pts + offset + shift) & MASK32)
                    if at is not None:
                        target.delivered += 1
                        target.latencies.append(at - t)
                        break
    return relayed, direct


@dataclass
class Window:
    label: str
    size: int
    seconds: float
    server_cpu: float  # cores
    worker_max: float  # the busiest single server process, cores
    clients_cpu: float
    machine: float  # cores busy, whole machine
    steal: float  # cores the hypervisor took away during the window
    relayed: Delivery
    direct: Delivery
    audio_expected: int  # packets sent in the window, times subscribers
    audio_received: int  # packets that arrived in the window
    packets_relayed: int  # RTP packets, audio and video, that subscribers got through the server
    decode_errors: int
    tap_errors: int

    @property
    def delivered_pct(self) -> float:
        return 100 * self.relayed.delivered / self.relayed.sent if self.relayed.sent else 0.0

    @property
    def audio_pct(self) -> float:
        return 100 * self.audio_received / self.audio_expected if self.audio_expected else 0.0

    @property
    def packets_per_second(self) -> float:
        return self.packets_relayed / self.seconds if self.seconds else 0.0

    @property
    def other_cpu(self) -> float:
        return max(0.0, self.machine - self.server_cpu - self.clients_cpu)

    def latency_ms(self, which: Delivery, fraction: float = 0.5) -> float:
        values = sorted(which.latencies)
        if not values:
            return float("nan")
        return 1000 * values[min(len(values) - 1, round(fraction * (len(values) - 1)))]

    @property
    def added_ms(self) -> float:
        return self.latency_ms(self.relayed) - self.latency_ms(self.direct)


def measure(clients: list[ClientHandle], server: Server, label: str, size: int, seconds: float) -> Window:
    """Sample CPU over a window of ``seconds``, then collect what every client sent and received."""
    pids = server.pids()
    client_pids = [c.process.pid for c in clients if c.process.pid is not None]
    server_start, clients_start = CpuSample.take(pids), CpuSample.take(client_pids)
    busy_start, steal_start = machine_busy(), machine_steal()
    since = time.monotonic()
    time.sleep(seconds)
    until = time.monotonic()
    server_end, clients_end = CpuSample.take(pids), CpuSample.take(client_pids)
    busy_end, steal_end = machine_busy(), machine_steal()
    time.sleep(GRACE + 0.1)
    reports: list[ClientReport] = list(
        call_all(clients, {i: ("report", (since, until)) for i in range(len(clients))}).values()
    )
    wall = until - since
    spent = server_end.since(server_start)
    relayed, direct = deliveries(reports, since, until)
    audio_sent = {p: n for report in reports for p, n in report.audio_sent.items()}
    audio = [s for r in reports for s in r.streams if s.kind == "audio" and s.publisher in audio_sent]
    return Window(
        label=label,
        size=size,
        seconds=wall,
        server_cpu=sum(spent.values()) / wall,
        worker_max=max(spent.values(), default=0.0) / wall,
        clients_cpu=sum(clients_end.since(clients_start).values()) / wall,
        machine=(busy_end - busy_start) / wall,
        steal=(steal_end - steal_start) / wall,
        relayed=relayed,
        direct=direct,
        audio_expected=sum(audio_sent[s.publisher] for s in audio),
        audio_received=sum(s.audio for s in audio),
        packets_relayed=sum(
            s.audio + s.video_packets for r in reports for s in r.streams if s.publisher != "direct"
        ),
        decode_errors=sum(r.decode_errors for r in reports),
        tap_errors=sum(r.tap_errors for r in reports),
    )


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (size, cores)."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


@dataclass
class ModeResult:
    """Every window of one server (packet forwarding or re-encoding) and its late joiners."""

    mode: str
    one_to_n: list[Window]
    consults: list[Window]
    late: list[LateJoin]

    def clean(self, windows: list[Window]) -> list[Window]:
        """Windows where the server kept up: >= 95 % delivered and no process at a full core."""
        return [w for w in windows if w.delivered_pct >= 95 and w.worker_max < 0.9]

    @property
    def per_subscriber(self) -> float:
        """Slope over the windows where the server kept up; if fewer than two did, over all of
        them (a starved server drops frames and spends less: the figure is then a lower bound)."""
        clean = self.clean(self.one_to_n)
        return slope([(w.size, w.server_cpu) for w in (clean if len(clean) >= 2 else self.one_to_n)])

    def per_consult(self, size: int | None) -> float:
        """Server cores per consult in the window with ``size`` consults."""
        pool = [w for w in self.consults if w.size == size]
        return pool[-1].server_cpu / pool[-1].size if pool else float("nan")

    @staticmethod
    def generated(window: Window) -> bool:
        """Whether the clients kept up, judged without the server: the direct pair (client to
        client, same processes) delivered >= 99 % with p95 < 50 ms, and server and clients
        together left a tenth of the cores. Starved clients drop and delay frames themselves."""
        direct = window.direct
        return (
            direct.sent > 0
            and direct.delivered >= 0.99 * direct.sent
            and window.latency_ms(direct, 0.95) < 50
            and window.server_cpu + window.clients_cpu < 0.9 * (os.cpu_count() or 1)
        )

    def largest_consults(self) -> Window | None:
        """The largest K the machine could generate cleanly (else the smallest measured)."""
        fine = [w for w in self.consults if self.generated(w)]
        return fine[-1] if fine else (self.consults[0] if self.consults else None)
