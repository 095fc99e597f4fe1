"""What the benchmark prints: a table row per window, the late joiners' breakdown, the summary
with the goals of issue #3, and the figures as one JSON object (the last line)."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from pathlib import Path

from .load_client import LateJoin
from .measure import ModeResult, Window

LATE_STEPS: tuple[tuple[str, Callable[[LateJoin], float]], ...] = (
    ("answer", lambda late: late.answer_s),
    ("subscriber offer", lambda late: late.subscriber_offer_s),
    ("subscribing connection connected", lambda late: late.connected_s),
    ("first video packet", lambda late: late.first_packet_s),
    ("complete frame from every publisher", lambda late: late.complete_frame_s),
)


def print_header(what: str) -> None:
    print(
        f"  {what:>3s}  server CPU (busiest process)   video frames delivered"
        "   latency med/p95 (direct)  added   audio   decode errors   machine busy: server/clients/other"
    )


def print_window(w: Window) -> None:
    relayed = f"{w.relayed.delivered}/{w.relayed.sent}"
    print(
        f"  {w.size:3d}  {100 * w.server_cpu:6.1f} %  ({100 * w.worker_max:5.1f} %)"
        f"   {relayed:>11s} = {w.delivered_pct:5.1f} %"
        f"  {w.latency_ms(w.relayed):6.1f}/{w.latency_ms(w.relayed, 0.95):5.1f} ms"
        f" ({w.latency_ms(w.direct):4.1f})"
        f"  {w.added_ms:5.1f} ms  {w.audio_pct:5.1f} %  {w.decode_errors:9d}"
        f"        {100 * w.machine:4.0f} %: {100 * w.server_cpu:3.0f}/{100 * w.clients_cpu:3.0f}"
        f"/{100 * w.other_cpu:3.0f} %"
    )
    if w.relayed.unidentified or w.tap_errors:
        print(f"       ({w.relayed.unidentified} streams not identified, {w.tap_errors} tap errors)")


def print_late(joins: list[LateJoin], consults: int) -> None:
    times = [f"{late.first_frame_s:.2f}" for late in joins]
    middle = statistics.median(late.first_frame_s for late in joins)
    print(f" late joiners (into consults at K={consults}): first decoded frame of every publisher after")
    errors = sum(late.decode_errors for late in joins)
    print(
        f"  {', '.join(times)} s (median {middle:.2f} s), {errors} decode errors;"
        " median breakdown from media:offer:"
    )
    for name, step in LATE_STEPS:
        print(f"    {name:38s} {statistics.median(step(late) for late in joins):.3f} s")
    rates = ", ".join(f"{late.fps_after_first_frame:.0f}" for late in joins)
    print(f"  decoded frames per second in the 5 s after the first frame (slowest publisher): {rates}")


def ratio(baseline: float, product: float) -> float:
    return round(baseline / product, 1) if product > 0 else float("nan")


def finite(value: float, digits: int) -> float | None:
    """JSON has no NaN: a figure that could not be measured is null."""
    return round(value, digits) if value == value and abs(value) != float("inf") else None


def summarize(results: dict[str, ModeResult], seconds: float, log_dir: Path) -> dict[str, object]:
    """Print the summary and the goals; return the figures for the JSON line."""
    packet, reencode = results["packet"], results["reencode"]
    per_sub_ratio = ratio(reencode.per_subscriber, packet.per_subscriber)
    common = [w.size for w in reencode.consults if w.size in {p.size for p in packet.consults}]
    at = common[-1] if common else None
    per_consult_ratio = ratio(reencode.per_consult(at), packet.per_consult(at))
    largest = packet.largest_consults()
    assert largest is not None
    per_consult = largest.server_cpu / largest.size
    cores = os.cpu_count() or 1
    capacity = cores * 0.85 / per_consult
    late = statistics.median(j.first_frame_s for j in packet.late) if packet.late else float("nan")
    clean = [w for w in packet.one_to_n + packet.consults if packet.generated(w)]
    starved_errors = sum(w.decode_errors for w in packet.one_to_n + packet.consults) - sum(
        w.decode_errors for w in clean
    )
    packet_errors = sum(w.decode_errors for w in clean) + sum(j.decode_errors for j in packet.late)
    print("\nsummary")
    print(
        f"  server CPU per extra subscriber: packet {100 * packet.per_subscriber:.2f} %,"
        f" re-encode {100 * reencode.per_subscriber:.2f} % of a core: {per_sub_ratio}x less"
    )
    print(
        f"  server CPU per 1:1 consult at K={at}: packet {100 * packet.per_consult(at):.2f} %,"
        f" re-encode {100 * reencode.per_consult(at):.2f} % of a core: {per_consult_ratio}x less"
    )
    print(
        f"  consults at 85 % of {os.cpu_count()} cores: {capacity:.0f}"
        f" (from {100 * per_consult:.2f} % of a core per consult measured at K={largest.size},"
        f" {largest.delivered_pct:.2f} % of frames delivered, {largest.decode_errors} decode errors there)"
    )
    print(
        f"  late joiner's first frame: {late:.2f} s (median); decode errors (packet forwarding, whole"
        f" run): {packet_errors}"
        + (f", and {starved_errors} in steps where the clients could not keep up" if starved_errors else "")
    )
    print(f"  server logs: {log_dir}; run took {seconds:.0f} s")
    big = [w for w in packet.consults if w.size >= 16 and packet.generated(w)]
    held = [w for w in big if w.delivered_pct >= 99 and w.decode_errors == 0 and w.server_cpu < 0.85 * cores]
    if held:
        consults_goal = f"met (at K={held[-1].size})"
    elif big:
        consults_goal = f"NOT met (K={big[-1].size}: {big[-1].delivered_pct:.1f} % delivered)"
    else:
        consults_goal = (
            f"not shown (measured cleanly up to K={largest.size}; at that K the CPU"
            f" extrapolates to {capacity:.0f} consults)"
        )
    goals = [
        ("per extra subscriber >= 10x less than re-encoding", "met" if per_sub_ratio >= 10 else "NOT met"),
        ("per 1:1 consult >= 5x less", "met" if per_consult_ratio >= 5 else "NOT met"),
        (">= 16 consults at < 85 % CPU, >= 99 % delivered, no decode errors", consults_goal),
        ("late joiner's first frame < 0.5 s", "met" if late < 0.5 else "NOT met"),
    ]
    for name, verdict in goals:
        print(f"  goal {name}: {verdict}")
    return {
        "cpu_ratio_per_subscriber": finite(per_sub_ratio, 1),
        "cpu_ratio_per_consult": finite(per_consult_ratio, 1),
        "consults_at_85pct": round(capacity),
        "consults_measured": largest.size,
        "frames_delivered_pct": finite(largest.delivered_pct, 2),
        "decode_errors": packet_errors,
        "late_join_first_frame_s": finite(late, 3),
        "late_join_fps_min": finite(
            min((j.fps_after_first_frame for j in packet.late), default=float("nan")), 1
        ),
        "packet_cpu_pct_per_subscriber": finite(100 * packet.per_subscriber, 2),
        "reencode_cpu_pct_per_subscriber": finite(100 * reencode.per_subscriber, 2),
        "packet_cpu_pct_per_consult": finite(100 * per_consult, 2),
        "added_latency_ms": finite(
            statistics.median(w.added_ms for w in packet.one_to_n + packet.consults), 1
        ),
        "reencode_added_latency_ms": finite(
            statistics.median(w.added_ms for w in reencode.one_to_n + reencode.consults), 1
        ),
    }
