"""Our SFU against Janus under the same load, interleaved step by step.

For each repetition and each step (K concurrent 1:1 consults, or one publisher with N receive-only
subscribers), the same client processes open the step's consults on one server, let them settle,
measure one window, close them, then do the same on the other server; the order of the two
alternates between repetitions, so a slow drift of the machine (its steal time is large and
bursty) falls on both. Each repetition gives, per server, the least-squares slope of server CPU
over K (per consult) and over N (per subscriber), and the ratio ours / Janus of the same
repetition; the summary gives their means and spread.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from .client_process import ClientHandle, call_all
from .cpu import cores_used, wait_until_quiet
from .measure import Window, measure, slope
from .profile import hotspots, print_hotspots, record
from .report import print_header, print_window
from .server import Server

TARGETS = ("janus", "packet")
NAMES = {"janus": "Janus", "packet": "Teleconsulta"}


@dataclass(frozen=True)
class VersusPlan:
    repetitions: int
    consults: tuple[int, ...]  # K
    subscribers: tuple[int, ...]  # N

    def consults_needed(self) -> int:
        """Consults (rooms) each server must have ready for the whole comparison."""
        return self.repetitions * (sum(self.consults) + len(self.subscribers))


def versus_plan(quick: bool) -> VersusPlan:
    if quick:
        return VersusPlan(repetitions=1, consults=(1, 2), subscribers=(1, 3))
    return VersusPlan(repetitions=3, consults=(1, 2, 4, 8), subscribers=(1, 3, 5, 7))


@dataclass
class Repetition:
    consults: dict[str, list[Window]] = field(default_factory=lambda: {t: [] for t in TARGETS})
    fan_out: dict[str, list[Window]] = field(default_factory=lambda: {t: [] for t in TARGETS})

    def per_consult(self, target: str) -> float:
        return slope([(w.size, w.server_cpu) for w in self.consults[target]])

    def per_subscriber(self, target: str) -> float:
        return slope([(w.size, w.server_cpu) for w in self.fan_out[target]])

    def per_packet(self, target: str) -> float:
        """Server CPU seconds per packet relayed in 1:1 consults (each packet in makes one out): the
        slope over the packets a second the subscribers received, so fixed costs fall out, as in
        part 3 of ``bench.forwarding_micro``."""
        return slope([(w.packets_per_second, w.server_cpu) for w in self.consults[target]])


def _open(clients: list[ClientHandle], server: Server, count: int, *, patient_publishes: bool) -> None:
    """Open ``count`` consults spread over the client processes (each opens its share in turn)."""
    shares: dict[int, int] = {}
    for index in range(count):
        shares[index % len(clients)] = shares.get(index % len(clients), 0) + 1
    for step in range(max(shares.values())):
        batch = {
            c: ("open_consult", (server.next_consult(), patient_publishes, False))
            for c, n in shares.items()
            if step < n
        }
        call_all(clients, batch)


QUIET_MARGIN = 0.03
"""Cores above what both servers and the clients use with no consult open (the clients' direct
reference pair keeps streaming) that still count as idle between steps."""
QUIET_LIMIT = 30.0


def _watched(clients: list[ClientHandle], servers: dict[str, Server]) -> list[int]:
    """Both servers' processes and the clients'."""
    return [pid for server in servers.values() for pid in server.pids()] + [
        c.process.pid for c in clients if c.process.pid is not None
    ]


def _close(clients: list[ClientHandle], servers: dict[str, Server], settle: float, idle: float) -> float:
    """End the step's consults, then wait until both servers and the clients are back to ``idle``
    (cores): a window must not take in the teardown of the step before it, the other server's
    included. In the runs of 2026-12-07 the settle time was always enough (the wait ended at its
    first check). Returns the seconds waited."""
    call_all(clients, {i: ("end_consults", ()) for i in range(len(clients))})
    time.sleep(settle)
    return settle + wait_until_quiet(
        lambda: _watched(clients, servers), below=idle + QUIET_MARGIN, interval=0.5, limit=QUIET_LIMIT
    )


def profile_ours(server: Server, seconds: float, folder: Path) -> None:
    """Sample our server's processes under the load now running and print where the time goes:
    the signaling process apart from the media workers."""
    main = server.process.pid
    files = record(server.pids(), seconds, folder)
    for title, chosen in (
        ("media workers", [path for pid, path in files.items() if pid != main]),
        ("signaling process", [path for pid, path in files.items() if pid == main]),
    ):
        samples, spots = hotspots(chosen)
        print_hotspots(title, samples, spots)


def run_versus(
    clients: list[ClientHandle],
    servers: dict[str, Server],
    plan: VersusPlan,
    *,
    window: float,
    settle: float,
    profile: Path | None = None,
) -> list[Repetition]:
    print(
        f"\nTeleconsulta against Janus, interleaved: {plan.repetitions} repetitions of K = {plan.consults}"
        f" consults and N = {plan.subscribers} subscribers, the order alternating"
    )
    idle = min(cores_used(_watched(clients, servers), 1.0) for _ in range(3))
    repetitions = []
    waits: list[float] = []
    for number in range(plan.repetitions):
        order = TARGETS if number % 2 == 0 else TARGETS[::-1]
        repetition = Repetition()
        print(f" repetition {number + 1}: K concurrent 1:1 consults")
        print_header("K")
        for size in plan.consults:
            for target in order:
                _open(clients, servers[target], size, patient_publishes=True)
                time.sleep(settle)
                measured = measure(clients, servers[target], target, size, window)
                repetition.consults[target].append(measured)
                print(f"  {NAMES[target]}:")
                print_window(measured)
                last = number == plan.repetitions - 1 and size == plan.consults[-1]
                if profile is not None and target == "packet" and last:
                    print(
                        f"  profile of our server at K={size} (py-spy, {window:g} s, not a measured window):"
                    )
                    profile_ours(servers[target], window, profile)
                waits.append(_close(clients, servers, settle, idle))
        print(f" repetition {number + 1}: 1 publisher -> N subscribers")
        print_header("N")
        for size in plan.subscribers:
            for target in order:
                consult = clients[0].call("open_consult", servers[target].next_consult(), False, False)
                if size > 1:
                    clients[0].call("add_invitees", consult, size - 1)
                time.sleep(settle)
                measured = measure(clients, servers[target], target, size, window)
                repetition.fan_out[target].append(measured)
                print(f"  {NAMES[target]}:")
                print_window(measured)
                waits.append(_close(clients, servers, settle, idle))
        print(
            "  slopes: per consult "
            + ", ".join(f"{NAMES[t]} {100 * repetition.per_consult(t):.2f} %" for t in TARGETS)
            + "; per subscriber "
            + ", ".join(f"{NAMES[t]} {100 * repetition.per_subscriber(t):.2f} %" for t in TARGETS)
            + " of a core; per relayed packet "
            + ", ".join(f"{NAMES[t]} {1e6 * repetition.per_packet(t):.1f} µs" for t in TARGETS)
        )
        repetitions.append(repetition)
    print(
        f"  between steps: {statistics.median(waits):.1f} s (median), {max(waits):.1f} s at most, until"
        f" both servers and the clients were idle again ({100 * idle:.1f} % of a core with no consult,"
        f" {100 * QUIET_MARGIN:.0f} % more allowed)"
    )
    return repetitions


def _spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.fmean(values), min(values), max(values)


def summarize_versus(repetitions: list[Repetition]) -> dict[str, object]:
    """Print the comparison's summary; return its figures for the JSON line."""
    figures: dict[str, object] = {}
    print("\nTeleconsulta against Janus (same clients, same clip, same windows)")
    for what, per in (("consult", Repetition.per_consult), ("subscriber", Repetition.per_subscriber)):
        ours = [per(r, "packet") for r in repetitions]
        janus = [per(r, "janus") for r in repetitions]
        ratios = [o / j for o, j in zip(ours, janus, strict=True) if j > 0]
        o_mean, o_low, o_high = _spread(ours)
        j_mean, j_low, j_high = _spread(janus)
        r_mean, r_low, r_high = _spread(ratios) if ratios else (float("nan"),) * 3
        print(
            f"  server CPU per {what}: Teleconsulta {100 * o_mean:.2f} %"
            f" ({100 * o_low:.2f}-{100 * o_high:.2f}),"
            f" Janus {100 * j_mean:.2f} % ({100 * j_low:.2f}-{100 * j_high:.2f}) of a core;"
            f" ratio {r_mean:.2f} ({r_low:.2f}-{r_high:.2f}) over {len(repetitions)} repetitions"
        )
        figures[f"cpu_pct_per_{what}"] = round(100 * o_mean, 2)
        figures[f"janus_cpu_pct_per_{what}"] = round(100 * j_mean, 2)
        figures[f"ratio_to_janus_per_{what}"] = round(r_mean, 2)
        figures[f"ratio_to_janus_per_{what}_range"] = [round(r_low, 2), round(r_high, 2)]
    ours = [1e6 * r.per_packet("packet") for r in repetitions]
    janus = [1e6 * r.per_packet("janus") for r in repetitions]
    o_mean, o_low, o_high = _spread(ours)
    j_mean, j_low, j_high = _spread(janus)
    print(
        "  server CPU per packet relayed in the consults:"
        f" Teleconsulta {o_mean:.1f} µs ({o_low:.1f}-{o_high:.1f}),"
        f" Janus {j_mean:.1f} µs ({j_low:.1f}-{j_high:.1f})"
    )
    figures["us_per_relayed_packet"] = round(o_mean, 1)
    figures["janus_us_per_relayed_packet"] = round(j_mean, 1)
    windows = [
        w for r in repetitions for group in (r.consults, r.fan_out) for ws in group.values() for w in ws
    ]
    for target in TARGETS:
        mine = [w for w in windows if w.label == target]
        sent = sum(w.relayed.sent for w in mine)
        delivered = sum(w.relayed.delivered for w in mine)
        audio_expected = sum(w.audio_expected for w in mine)
        audio_received = sum(w.audio_received for w in mine)
        print(
            f"  {NAMES[target]}: {delivered}/{sent} video frames delivered"
            f" ({100 * delivered / sent if sent else 0:.2f} %), audio packets"
            f" {100 * audio_received / audio_expected if audio_expected else 0:.2f} %,"
            f" {sum(w.decode_errors for w in mine)} decode errors"
        )
        figures[f"{target}_frames_delivered_pct" if target == "janus" else "versus_frames_delivered_pct"] = (
            round(100 * delivered / sent, 2) if sent else None
        )
    steal = [100 * w.steal for w in windows]
    print(
        f"  steal time in the windows: mean {statistics.fmean(steal):.1f} %, max {max(steal):.1f} % of a core"
    )
    figures["steal_pct_mean"] = round(statistics.fmean(steal), 1)
    figures["steal_pct_max"] = round(max(steal), 1)
    return figures
