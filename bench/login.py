"""A shift's worth of nurses signing in at once: how long the server's event loop stalls.

Runs the real server (``create_app``, memory stores) in this process and signs in N nurses
concurrently, each from her own loopback address, from a client thread with its own event loop
(so the loop measured is the server's alone). While they sign in, a ticker coroutine on the
server's loop sleeps 5 ms at a time and records how late it wakes (the stall every socket and
call on the node feels), and a probe asks ``GET /healthz`` every 100 ms.

Two modes in the same run, each on a fresh server:

- ``on loop``: the baseline; argon2 verifies on the event loop, as before issue #10.
- ``pool``: verifies in the bounded password thread pool (``TC_PASSWORD_HASH_THREADS``, default
  half the cores).

Prints, per mode, the loop lag (max, p99), the slowest health check, and login latency (median,
p99, max); then one JSON line. Figures only, no pass/fail.

    python -m bench.login [--users 100] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

from rooms.roles import Role
from rooms.staff import StaffMember
from web.app import SERVICES, create_app
from web.auth import PasswordHashing
from web.config import Settings

PASSWORD = "login-bench-password-1"  # throwaway accounts on a loopback server
TICK = 0.005


class OnLoopHashing(PasswordHashing):
    """The baseline: argon2 called straight from the coroutine, blocking the event loop."""

    async def hash(self, password: str) -> str:
        return self.hash_now(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return self._verify(password_hash, password)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def address(index: int) -> str:
    """Each nurse signs in from her own workstation: 127.1.x.y, all reaching 127.0.0.1."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


async def sign_in_all(base: str, users: int) -> tuple[list[float], list[int]]:
    """Sign every nurse in at once; runs on the client thread's own loop."""

    async def one(index: int) -> tuple[float, int]:
        connector = aiohttp.TCPConnector(local_addr=(address(index), 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            started = time.perf_counter()
            response = await http.post(
                f"{base}/api/session", json={"username": f"nurse-{index:03d}", "password": PASSWORD}
            )
            await response.read()
            return time.perf_counter() - started, response.status

    results = await asyncio.gather(*(one(i) for i in range(users)))
    return [seconds for seconds, _ in results], [status for _, status in results]


async def probe_health(base: str, stop: asyncio.Event, slowest: list[float]) -> None:
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            started = time.perf_counter()
            async with http.get(f"{base}/healthz") as response:
                await response.read()
            slowest.append(time.perf_counter() - started)
            await asyncio.sleep(0.1)


async def tick(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(max(0.0, time.perf_counter() - before - TICK))


async def run_mode(settings: Settings, users: int, on_loop: bool) -> dict[str, float | int]:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    services = app[SERVICES]
    try:
        if on_loop:
            services.auth.passwords.close()
            services.auth.passwords = OnLoopHashing(1)
        password_hash = services.auth.hash_password(PASSWORD)
        for index in range(users):
            name = f"nurse-{index:03d}"
            await services.stores.staff.add(
                StaffMember(f"staff-{name}", name, f"Enf. {index}", Role.NURSE, "UMF-1", password_hash)
            )
        # One sign-in first, so the server's dummy hash for unknown usernames is made already.
        async with aiohttp.ClientSession() as http:
            await http.post(f"{base}/api/session", json={"username": "nobody", "password": "x"})
        stop = asyncio.Event()
        lags: list[float] = []
        health: list[float] = []
        watchers = [
            asyncio.create_task(tick(stop, lags)),
            asyncio.create_task(probe_health(base, stop, health)),
        ]
        started = time.perf_counter()
        latencies, statuses = await asyncio.to_thread(asyncio.run, sign_in_all(base, users))
        wall = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*watchers)
    finally:
        await runner.cleanup()
    return {
        "users": users,
        "signed_in": statuses.count(200),
        "wall_s": round(wall, 2),
        "loop_lag_max_ms": round(max(lags) * 1000, 1),
        "loop_lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        "healthz_max_ms": round(max(health) * 1000, 1),
        "login_median_ms": round(statistics.median(latencies) * 1000),
        "login_p99_ms": round(percentile(latencies, 0.99) * 1000),
        "login_max_ms": round(max(latencies) * 1000),
    }


async def run(users: int, threads: int | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            port=0,
            database_url=f"sqlite+aiosqlite:///{Path(data) / 'records.sqlite3'}",
            secret_key=b"benchmark-secret-key-0123456789abcdef",
            secret_key_is_ephemeral=False,
            media_workers=0,
        )
        if threads is not None:
            settings = replace(settings, password_hash_threads=threads)
        figures: dict[str, object] = {"password_hash_threads": settings.password_hash_threads}
        for mode, on_loop in (("on_loop", True), ("pool", False)):
            result = await run_mode(settings, users, on_loop)
            figures[mode] = result
            print(
                f"{mode:8s} {users} logins ({result['signed_in']} signed in) in {result['wall_s']} s: "
                f"loop lag max {result['loop_lag_max_ms']} ms, p99 {result['loop_lag_p99_ms']} ms; "
                f"/healthz max {result['healthz_max_ms']} ms; login median {result['login_median_ms']} ms, "
                f"p99 {result['login_p99_ms']} ms, max {result['login_max_ms']} ms",
                flush=True,
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--threads", type=int, help="password hashing threads (default: half the cores)")
    parser.add_argument("--quick", action="store_true", help="20 users")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(20 if args.quick else args.users, args.threads))))


if __name__ == "__main__":
    main()
