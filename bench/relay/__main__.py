"""``python -m bench.relay``: start the servers and the client processes, run the scenarios
against each server, then ours against Janus interleaved, print the summary and, last, the JSON
line. As root with Debian's ``janus`` installed, the run first moves into a network namespace of
its own (``netns.py``). With the hidden ``--serve`` flag this is the server process instead
(see ``server.py``)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from . import __doc__ as DESCRIPTION
from .client_process import ClientHandle, call_all
from .clip import CLIP_PATH, FPS, GOP_FRAMES, HEIGHT, WIDTH, make_clip
from .janus import janus_available, remove_config
from .netns import INSIDE, can_isolate, run_isolated
from .report import summarize
from .scenarios import plan_for, run_mode
from .server import Server, serve_main, server_ready, start_janus_server, start_server, stop_servers
from .versus import run_versus, summarize_versus, versus_plan

JANUS_KEYS = (
    "cpu_pct_per_consult",
    "janus_cpu_pct_per_consult",
    "ratio_to_janus_per_consult",
    "cpu_pct_per_subscriber",
    "janus_cpu_pct_per_subscriber",
    "ratio_to_janus_per_subscriber",
)


def run(args: argparse.Namespace) -> dict[str, object]:
    began = time.monotonic()
    if not CLIP_PATH.exists():
        print(f"making the clip once: {CLIP_PATH}")
        make_clip(CLIP_PATH)
    plans = plan_for(args.quick)
    versus = versus_plan(args.quick) if args.janus else None
    most = max(plan.consults[-1] for plan in plans.values()) + 1
    log_dir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    processes = {
        mode: start_server(
            mode,
            most + (versus.consults_needed() if versus and mode == "packet" else 0),
            args.media_workers,
            log_dir,
        )
        for mode in plans
    }
    context = multiprocessing.get_context("spawn")
    clients = [ClientHandle(index, context) for index in range(args.client_processes)]
    servers: dict[str, Server] = {}
    janus_config: Path | None = None
    try:
        kbps = call_all(clients, {i: ("load", (str(CLIP_PATH), i == 0)) for i in range(len(clients))})[0]
        for mode, process in processes.items():
            servers[mode] = server_ready(mode, process, log_dir)
        if versus is not None:
            servers["janus"], janus_config = start_janus_server(versus.consults_needed(), log_dir)
        print(
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, aiortc clients in {len(clients)}"
            f" processes, {args.window:g} s windows after {args.settle:g} s to settle"
            f" (servers and clients ready after {time.monotonic() - began:.0f} s)"
        )
        print(
            f"clip: {WIDTH}x{HEIGHT} VP8 {kbps:.0f} kbit/s at {FPS} fps, keyframe every"
            f" {GOP_FRAMES / FPS:.1f} s, + Opus 32 kbit/s, looped from {CLIP_PATH}"
        )
        results = {
            mode: run_mode(clients, servers[mode], plan, window=args.window, settle=args.settle)
            for mode, plan in plans.items()
        }
        repetitions = (
            run_versus(
                clients,
                servers,
                versus,
                window=args.window,
                settle=args.settle,
                profile=log_dir / "profile" if args.profile else None,
            )
            if versus
            else []
        )
    finally:
        for client in clients:
            client.close()
        stop_servers(list(processes.values()) + ([servers["janus"].process] if "janus" in servers else []))
        if janus_config is not None:
            remove_config(janus_config)
    figures = summarize(results, time.monotonic() - began, log_dir)
    if repetitions:
        figures.update(summarize_versus(repetitions))
    else:
        figures.update(dict.fromkeys(JANUS_KEYS))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps, 3 s windows: two or three minutes")
    parser.add_argument("--window", type=float, help="seconds per measurement window (10; 3 with --quick)")
    parser.add_argument("--settle", type=float, help="seconds to wait after joins (3; 1 with --quick)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--media-workers", type=int, help="server media workers (default: one per core)")
    parser.add_argument("--serve", choices=("packet", "reencode"), help=argparse.SUPPRESS)
    parser.add_argument("--consults", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile", action="store_true", help="sample our server with py-spy at the comparison's largest K"
    )
    parser.add_argument(
        "--no-janus", dest="janus", action="store_false", help="skip the comparison with Janus"
    )
    args = parser.parse_args()
    if args.serve:
        serve_main(args.serve, args.consults, args.media_workers)
        return
    if args.janus and not janus_available():
        print("NOTE: Janus is not installed (apt-get install janus): the comparison with Janus is skipped")
        args.janus = False
    if args.janus and INSIDE not in os.environ:
        if can_isolate():
            sys.exit(run_isolated(sys.argv[1:]))
        print("NOTE: the comparison with Janus needs root (a network namespace): skipped")
        args.janus = False
    args.window = args.window or (3.0 if args.quick else 10.0)
    args.settle = args.settle if args.settle is not None else (1.0 if args.quick else 3.0)
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
