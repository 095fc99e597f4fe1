"""``python -m bench.relay``: start both servers and the client processes, run the scenarios
against each server, print the summary and, last, the JSON line. With the hidden ``--serve``
flag this is the server process instead (see ``server.py``)."""

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
from .report import summarize
from .scenarios import plan_for, run_mode
from .server import Server, serve_main, server_ready, start_server, stop_servers


def run(args: argparse.Namespace) -> dict[str, object]:
    began = time.monotonic()
    if not CLIP_PATH.exists():
        print(f"making the clip once: {CLIP_PATH}")
        make_clip(CLIP_PATH)
    plans = plan_for(args.quick)
    most = max(plan.consults[-1] for plan in plans.values()) + 1
    log_dir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    processes = {mode: start_server(mode, most, args.media_workers, log_dir) for mode in plans}
    context = multiprocessing.get_context("spawn")
    clients = [ClientHandle(index, context) for index in range(args.client_processes)]
    servers: dict[str, Server] = {}
    try:
        kbps = call_all(clients, {i: ("load", (str(CLIP_PATH), i == 0)) for i in range(len(clients))})[0]
        for mode, process in processes.items():
            servers[mode] = server_ready(mode, process, log_dir)
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
    finally:
        for client in clients:
            client.close()
        stop_servers(list(processes.values()))
    return summarize(results, time.monotonic() - began, log_dir)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps, 3 s windows: under a minute")
    parser.add_argument("--window", type=float, help="seconds per measurement window (10; 3 with --quick)")
    parser.add_argument("--settle", type=float, help="seconds to wait after joins (3; 1 with --quick)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--media-workers", type=int, help="server media workers (default: one per core)")
    parser.add_argument("--serve", choices=("packet", "reencode"), help=argparse.SUPPRESS)
    parser.add_argument("--consults", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_main(args.serve, args.consults, args.media_workers)
        return
    args.window = args.window or (3.0 if args.quick else 10.0)
    args.settle = args.settle if args.settle is not None else (1.0 if args.quick else 3.0)
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
