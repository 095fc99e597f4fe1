"""Signaling under load: how many patient sockets a node holds, and how fast it answers them.

The real server, started through its production entry point (``python -m web serve``: uvloop, the
tuned garbage collector) with ``TC_REDIS_URL`` on a real ``redis-server`` started here, one node or
two. ``N`` patients each hold a socket.io connection with their own join link and send one
acknowledged ``participant:devices`` event every 2 s (0.5 events/s each), the presence report a
patient page sends: it passes the event guard (rate limit, payload size and schema, role table),
the node's device state, and an announcement to the consult's room through the socket.io Redis
manager. Connections are opened at a bounded rate (``--ramp`` per second); after a settling
pause the window of ``--hold`` seconds is measured:

* **held**: connections open at the end; **refused** (by code) and **disconnects** while held;
* **events/s** acknowledged, and their **RTT** p50/p95/p99, timed in the generators (send to
  acknowledgement), so a stall is counted in full;
* **server CPU** (% of one core) and **RSS** of every node process, from ``/proc``; **client CPU**
  of the generator processes, so a saturated generator is visible (it must stay well below a core);
* **GC pauses** of each node (its ``tc_gc_pause_seconds`` histogram over the window) and its
  event-loop lag;
* with two nodes, **cross-node announcements**: ``--probes`` patients on node A whose consults a
  nurse console on node B hosts; the time from a probe's event on A to its announcement at the
  console on B, p50/p99.

The generators (``bench.signaling_load``) are raw engine.io websocket clients, spread over
``--generators`` processes (default: one per 2,500 clients). They share the machine's cores with
the server, so on a small machine the figures are a floor for the server, not a ceiling.

    python -m bench.signaling [--quick] [--clients 5000] [--two-node-clients 10000]
                              [--nodes 1|2|both] [--ramp 500] [--hold 30]

The last line printed is one JSON object: ``conns`` and ``rtt_p99_ms`` of the one-node run,
``conns_2_nodes``, ``rtt_p99_ms_2_nodes`` and ``cross_node_p99_ms`` of the two-node run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bench.signaling_load import EVENT, PAYLOAD, open_socket
from bench.support import free_port, redis_server
from rooms import consult as rules
from rooms import tokens
from rooms.consult import Actor
from rooms.roles import Role
from rooms.store.redis import RedisConsultStore

ROOT = Path(__file__).resolve().parents[1]
SECRET = "signaling-bench-secret-key-0123456789abcdef"
NURSE_PASSWORD = "signaling-bench-nurse-1"
UNIT = "UMF-1"  # the demo nurse's unit (web/demo.py)
INTERVAL_S = 2.0
SETTLE_S = 5.0
TICKS = os.sysconf("SC_CLK_TCK")
GC_LINE = re.compile(
    r'^tc_gc_pause_seconds_(bucket|sum|count)\{generation="(\d)"(?:,le="([^"]+)")?\} (\S+)$', re.M
)
LAG_COUNT = re.compile(r"^tc_event_loop_lag_seconds_count(?:\{[^}]*\})? ([0-9.e+]+)$", re.M)


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen[str]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


@dataclass
class Run:
    nodes: int
    clients: int
    generator_results: list[dict[str, Any]] = field(default_factory=list)
    cross_ms: list[float] = field(default_factory=list)
    server_cpu_pct: dict[str, float] = field(default_factory=dict)
    server_rss_mib: dict[str, float] = field(default_factory=dict)
    gc: dict[str, dict[str, float]] = field(default_factory=dict)
    window_s: float = 0.0
    redis_connections: int = 0
    """Connections the nodes' pools hold open at the end of the window (their high-water mark:
    a pool keeps what it opened), pub/sub included."""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


# -- seeding: consults and join links written straight into the shared Redis -----------------


async def seed_patients(redis: Redis, count: int, tag: str) -> list[str]:
    """``count`` scheduled consults in the demo unit, each with its patient's join link."""
    store = RedisConsultStore(redis)
    now = datetime.now(UTC)
    links: list[str] = []

    async def one(index: int) -> None:
        consult_id = f"bench-{tag}-{index}"
        patient_id = f"pt-{tag}-{index}"
        created = rules.create(
            consult_id=consult_id,
            patient_id=patient_id,
            patient_name=f"Paciente {index}",
            appointment_start=now - timedelta(minutes=5),
            appointment_end=now + timedelta(hours=2),
            created_by="bench",
            at=now,
            unit=UNIT,
        )
        await store.add(created)
        claims = tokens.JoinClaims(
            consult_id,
            patient_id,
            Role.PATIENT,
            int((now - timedelta(hours=1)).timestamp()),
            int((now + timedelta(hours=6)).timestamp()),
            tokens.new_token_id(),
        )
        links.append(tokens.issue(SECRET.encode(), claims))

    for start in range(0, count, 50):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + 50))))
    return links


async def host_probes(redis: Redis, count: int, nurse_id: str) -> list[tuple[str, str]]:
    """``count`` consults checked in and admitted by the nurse (so her console hears them): their
    patients' ids and links."""
    store = RedisConsultStore(redis)
    links = await seed_patients(redis, count, "probe-" + secrets.token_hex(3))
    probes = []
    now = datetime.now(UTC)
    nurse = Actor(nurse_id, Role.NURSE, unit=UNIT)
    for link in links:
        claims = tokens.verify(SECRET.encode(), link, now.timestamp())
        consult = await store.get(claims.consult_id)
        assert consult is not None
        patient = Actor(claims.participant_id, Role.PATIENT, via_link=True)
        waiting = rules.check_in(consult, patient, now)
        await store.commit(waiting, consult.version)
        checked = await store.get(consult.consult_id)
        assert checked is not None
        await store.commit(rules.admit(checked, nurse, now, host_name="Enf. bench"), checked.version)
        probes.append((claims.participant_id, link))
    return probes


# -- the nodes ---------------------------------------------------------------------------------


def start_node(name: str, redis_url: str, data: Path, *, demo: bool, extra_env: dict[str, str]) -> Node:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        "TC_SECRET_KEY": SECRET,
        "TC_REDIS_URL": redis_url,
        "TC_DATABASE_URL": f"sqlite+aiosqlite:///{data / (name + '.sqlite3')}",
        # Sockets and announcements only: no record is shared, so each node's own file will do.
        "TC_ALLOW_SQLITE_WITH_REDIS": "1",
        "TC_MEDIA_WORKERS": "0",
        "TC_LOG_LEVEL": "WARNING",
        "TC_NODE_ID": name,
        "TC_QUEUE_SWEEP_SECONDS": "0",
        "TC_DEMO_PASSWORD": NURSE_PASSWORD,
        **extra_env,
    }
    command = [sys.executable, "-m", "web", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if demo:
        command.append("--demo")
    log = (data / f"{name}.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if "listening on" in line:
            if demo:  # the demo's lines follow; wait for them (the nurse exists then)
                while "Patient link" not in line and line:
                    line = process.stdout.readline()
            return Node(name, f"http://127.0.0.1:{port}", process)
    process.kill()
    raise RuntimeError(f"node {name} did not start:\n{(data / f'{name}.log').read_text()[-3000:]}")


def stop_nodes(nodes: list[Node]) -> None:
    for node in nodes:
        node.process.terminate()
    for node in nodes:
        try:
            node.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.process.kill()


async def scrape_gc(session: aiohttp.ClientSession, node: Node) -> dict[str, float]:
    """The node's GC pause histogram, as ``kind:generation[:bound]`` -> value (empty if a node too
    busy to answer ``/metrics`` within 10 s)."""
    try:
        async with session.get(node.url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as response:
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return {}
    return {
        f"{kind}:{generation}:{bound}": float(value)
        for kind, generation, bound, value in GC_LINE.findall(text)
    }


def gc_window(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per generation: collections in the window and their total pause; and the bucket bound the
    longest pause of any generation fit under (``inf``: over a second)."""
    if not before or not after:  # a scrape timed out: unknown, not zero
        return {
            **{f"gen{g}_{k}": float("nan") for g in "012" for k in ("collections", "pause_ms")},
            "longest_under_ms": float("nan"),
        }
    grown = {key: value - before.get(key, 0.0) for key, value in after.items()}
    summary: dict[str, float] = {}
    longest = 0.0
    for generation in "012":
        count = grown.get(f"count:{generation}:", 0.0)
        summary[f"gen{generation}_collections"] = count
        summary[f"gen{generation}_pause_ms"] = round(grown.get(f"sum:{generation}:", 0.0) * 1000, 1)
        bounds = sorted(
            (float(key.rsplit(":", 1)[1]), value)
            for key, value in grown.items()
            if key.startswith(f"bucket:{generation}:")
        )
        below = next((bound for bound, value in bounds if value >= count), float("inf")) if count else 0.0
        longest = max(longest, below)
    summary["longest_under_ms"] = longest * 1000
    return summary


async def login(session: aiohttp.ClientSession, node: Node) -> tuple[str, str]:
    """The demo nurse's session cookie and staff id."""
    async with session.post(
        node.url + "/api/session", json={"username": "enfermera", "password": NURSE_PASSWORD}
    ) as response:
        response.raise_for_status()
        body = await response.json()
        cookie = response.cookies["tc_session"].value
    return cookie, str(body["staff_id"])


# -- the cross-node probes ---------------------------------------------------------------------


async def console(
    session: aiohttp.ClientSession,
    node: Node,
    cookie: str,
    sent: dict[str, float],
    latencies: list[float],
    window: tuple[float, float],
    stop_at: float,
) -> None:
    """The nurse's console on node B: hears each probe's announcement and times it (none if an
    overloaded node never lets it in)."""
    while True:
        ws, refusal = await open_socket(session, node.url, {}, headers={"Cookie": f"tc_session={cookie}"})
        if ws is not None and refusal is None:
            break
        if time.time() > stop_at:
            return
        await asyncio.sleep(1.0)
    marker = f'42["{EVENT}",'
    while time.time() < stop_at:
        try:
            message = await ws.receive(timeout=max(0.1, stop_at - time.time()))
        except TimeoutError:
            break
        if message.type is not aiohttp.WSMsgType.TEXT:
            return  # the console lost its connection: no more samples
        text = message.data
        if text == "2":
            await ws.send_str("3")
        elif text.startswith(marker):
            now = time.perf_counter()
            who = json.loads(text[2:])[1]["participant_id"]
            began = sent.pop(who, None)
            if began is not None and window[0] <= time.time() <= window[1]:
                latencies.append(round((now - began) * 1000, 2))
    await ws.close()


async def probe(
    session: aiohttp.ClientSession,
    node: Node,
    participant_id: str,
    link: str,
    sent: dict[str, float],
    start_at: float,
    stop_at: float,
) -> None:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    ws, refusal = await open_socket(session, node.url, {"token": link})
    if ws is None or refusal is not None:
        return  # refused by an overloaded node: this probe gives no samples

    async def send() -> None:
        await asyncio.sleep(secrets.randbelow(2000) / 1000)
        number = 0
        while True:
            number += 1
            sent[participant_id] = time.perf_counter()
            await ws.send_str(f'42{number}["{EVENT}",{PAYLOAD}]')
            await asyncio.sleep(INTERVAL_S)

    sender = asyncio.get_running_loop().create_task(send())
    try:
        while time.time() < stop_at:
            try:
                message = await ws.receive(timeout=max(0.1, stop_at - time.time()))
            except TimeoutError:
                break
            if message.type is not aiohttp.WSMsgType.TEXT:
                return
            if message.data == "2":
                await ws.send_str("3")
    finally:
        sender.cancel()
        await ws.close()


# -- one run -----------------------------------------------------------------------------------


def start_generator(spec: dict[str, Any]) -> subprocess.Popen[str]:
    """A generator process; it writes its JSON result to ``spec["result_path"]`` (a result of
    several hundred kilobytes came back cut through its stdout pipe)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.signaling_load"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(spec))
    process.stdin.close()
    process.stdin = None  # communicate() must not flush it again
    return process


def profile(node: Node, directory: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy samples the node over the window into ``directory/<node>.txt`` (collapsed stacks)."""
    directory.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(node.process.pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(directory / f"{node.name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _output(process: subprocess.Popen[str], deadline: float, result: Path) -> str:
    """The generator's JSON result; a generator still running past ``deadline`` is stopped first."""
    try:
        process.wait(timeout=max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        process.kill()
        raise RuntimeError("a load generator did not finish") from None
    return result.read_text()


async def run(args: argparse.Namespace, node_count: int, clients: int, generators: int) -> Run:
    result = Run(node_count, clients)
    with ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tc-sigbench-")))
        redis_url = stack.enter_context(redis_server(data))
        redis = Redis.from_url(redis_url)
        links = await seed_patients(redis, clients, "load")
        names = ["node-a", "node-b"][:node_count]
        nodes = [
            start_node(name, redis_url, data, demo=(i == node_count - 1), extra_env=args.env)
            for i, name in enumerate(names)
        ]
        stack.callback(stop_nodes, nodes)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            cookie, nurse_id = await login(session, nodes[-1])
            probes = await host_probes(redis, args.probes, nurse_id)
            await redis.aclose()  # its seeding connections must not count as the nodes'
            ramp_s = clients / args.ramp
            start_at = time.time() + 2.0
            measure_from = start_at + ramp_s + SETTLE_S
            measure_to = measure_from + args.hold
            stop_at = measure_to + 1.0
            result.window_s = args.hold
            per_generator: list[list[str]] = [[] for _ in range(generators)]
            for index, link in enumerate(links):
                per_generator[index % generators].append(link)
            processes = []
            for share_index, share in enumerate(per_generator):
                # Clients spread over the nodes as a load balancer would (round robin).
                for node_index, node in enumerate(nodes):
                    tokens_here = share[node_index::node_count]
                    processes.append(
                        start_generator(
                            {
                                "url": node.url,
                                "tokens": tokens_here,
                                "ramp_per_s": max(1.0, args.ramp / (generators * node_count)),
                                "start_at": start_at + share_index * 0.01,
                                "measure_from": measure_from,
                                "measure_to": measure_to,
                                "stop_at": stop_at,
                                "interval_s": INTERVAL_S,
                                "result_path": str(data / f"generator-{len(processes)}.json"),
                            }
                        )
                    )
            sent: dict[str, float] = {}
            listener = asyncio.create_task(
                console(
                    session,
                    nodes[-1],
                    cookie,
                    sent,
                    result.cross_ms,
                    (measure_from, measure_to),
                    stop_at + 0.5,
                )
            )
            probe_tasks = [
                asyncio.create_task(probe(session, nodes[0], pid, link, sent, start_at, stop_at))
                for pid, link in probes
            ]
            await asyncio.sleep(max(0.0, measure_from - time.time()))
            profilers = [profile(node, args.profile, args.hold) for node in nodes] if args.profile else []
            began = time.monotonic()
            cpu_before = {node.name: node.cpu_seconds() for node in nodes}
            gc_before = {node.name: await scrape_gc(session, node) for node in nodes}
            await asyncio.sleep(max(0.0, measure_to - time.time()))
            elapsed = time.monotonic() - began
            for node in nodes:
                result.server_cpu_pct[node.name] = (
                    (node.cpu_seconds() - cpu_before[node.name]) / elapsed * 100
                )
                result.server_rss_mib[node.name] = node.rss_mib()
                result.gc[node.name] = gc_window(gc_before[node.name], await scrape_gc(session, node))
            async with Redis.from_url(redis_url) as counter:
                clients_info = await counter.info("clients")
            result.redis_connections = int(clients_info["connected_clients"]) - 1  # not ours
            for profiler in profilers:
                await asyncio.to_thread(profiler.wait)
            outputs = await asyncio.gather(
                *(
                    asyncio.to_thread(_output, p, stop_at + 60, data / f"generator-{i}.json")
                    for i, p in enumerate(processes)
                )
            )
            result.generator_results = [json.loads(out) for out in outputs]
            await asyncio.gather(*probe_tasks, return_exceptions=True)
            await listener
    return result


def report(result: Run) -> dict[str, Any]:
    results = result.generator_results
    rtts = [r for g in results for r in g["rtts_ms"]]
    refused: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for g in results:
        refused.update(g["refused"])
        errors.update(g["errors"])
    held = sum(g["held"] for g in results)
    client_cpu = sum(g["cpu_s"] / g["wall_s"] for g in results) * 100
    events_per_s = len(rtts) / result.window_s
    summary = {
        "nodes": result.nodes,
        "clients": result.clients,
        "held": held,
        "refused": dict(refused),
        "failed": sum(g["failed"] for g in results),
        "disconnects": sum(g["disconnects"] for g in results),
        "errors": dict(errors),
        "events_per_s": round(events_per_s, 1),
        "rtt_p50_ms": round(percentile(rtts, 50), 1),
        "rtt_p95_ms": round(percentile(rtts, 95), 1),
        "rtt_p99_ms": round(percentile(rtts, 99), 1),
        "rtt_max_ms": round(max(rtts, default=float("nan")), 1),
        "cross_node_p50_ms": round(percentile(result.cross_ms, 50), 1),
        "cross_node_p99_ms": round(percentile(result.cross_ms, 99), 1),
        "cross_samples": len(result.cross_ms),
        "server_cpu_pct": {k: round(v, 1) for k, v in result.server_cpu_pct.items()},
        "server_cpu_ms_per_event": round(
            sum(result.server_cpu_pct.values()) / 100 * result.window_s / max(1, len(rtts)) * 1000, 3
        ),
        "server_rss_mib": {k: round(v) for k, v in result.server_rss_mib.items()},
        "client_cpu_pct": round(client_cpu, 1),
        "gc": result.gc,
        "redis_connections": result.redis_connections,
    }
    label = "1 node" if result.nodes == 1 else f"{result.nodes} nodes"
    print(
        f"{label}, {result.clients} patients at {1 / INTERVAL_S:g} ev/s: held {held}, "
        f"{summary['events_per_s']} events/s acknowledged, RTT p50/p95/p99/max "
        f"{summary['rtt_p50_ms']}/{summary['rtt_p95_ms']}/{summary['rtt_p99_ms']}/{summary['rtt_max_ms']} ms",
        flush=True,
    )
    print(
        f"  refused {dict(refused)}, failed {summary['failed']}, disconnects {summary['disconnects']}, "
        f"event errors {dict(errors)}",
        flush=True,
    )
    print(
        f"  server CPU {summary['server_cpu_pct']} % of a core "
        f"({summary['server_cpu_ms_per_event']} ms per acknowledged event), "
        f"RSS {summary['server_rss_mib']} MiB; "
        f"client CPU {summary['client_cpu_pct']} % of a core over {len(results)} generators; "
        f"Redis connections held by the nodes {result.redis_connections}",
        flush=True,
    )
    print(
        f"  announcement from node A to the console on node {'B' if result.nodes > 1 else 'A'}: "
        f"p50 {summary['cross_node_p50_ms']} ms, p99 {summary['cross_node_p99_ms']} ms "
        f"({len(result.cross_ms)} samples)",
        flush=True,
    )
    for name, gc in result.gc.items():
        print(
            f"  {name} GC in the window (collections, ms paused) by generation: "
            + ", ".join(f"{gc[f'gen{g}_collections']:.0f}/{gc[f'gen{g}_pause_ms']:g}" for g in "012")
            + f"; longest under {gc['longest_under_ms']:g} ms",
            flush=True,
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 2,000 clients, 10 s windows")
    parser.add_argument("--clients", type=int, default=5000, help="patients on one node")
    parser.add_argument("--two-node-clients", type=int, default=10000, help="patients over two nodes")
    parser.add_argument("--nodes", choices=("1", "2", "both"), default="both")
    parser.add_argument("--ramp", type=float, default=500.0, help="new connections per second")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--probes", type=int, default=40, help="patients whose announcements are timed")
    parser.add_argument("--generators", type=int, default=0, help="generator processes per node (0: auto)")
    parser.add_argument("--profile", type=Path, help="py-spy the nodes over the window into this folder")
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the nodes")
    args = parser.parse_args()
    args.env = dict(item.split("=", 1) for item in args.env)
    if args.quick:
        args.clients, args.two_node_clients, args.hold = 1000, 2000, 10.0
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    summaries: dict[int, dict[str, Any]] = {}
    plan = {"1": [1], "2": [2], "both": [1, 2]}[args.nodes]
    for nodes in plan:
        clients = args.clients if nodes == 1 else args.two_node_clients
        per_node = clients / nodes
        generators = args.generators or max(1, math.ceil(per_node / 2500))
        summaries[nodes] = report(asyncio.run(run(args, nodes, clients, generators)))
    print(f"machine: load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    one, two = summaries.get(1, {}), summaries.get(2, {})
    print(
        json.dumps(
            {
                "conns": one.get("held"),
                "rtt_p99_ms": one.get("rtt_p99_ms"),
                "events_per_s": one.get("events_per_s"),
                "conns_2_nodes": two.get("held"),
                "rtt_p99_ms_2_nodes": two.get("rtt_p99_ms"),
                "cross_node_p99_ms": two.get("cross_node_p99_ms"),
                "server_cpu_pct": one.get("server_cpu_pct"),
                "server_cpu_ms_per_event": one.get("server_cpu_ms_per_event"),
                "client_cpu_pct": one.get("client_cpu_pct"),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
