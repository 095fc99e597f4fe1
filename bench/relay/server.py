"""The server under test: the real app in its own process, with nurses and appointments to use.

The orchestrator starts it as ``python -m bench.relay --serve MODE``; the server prints one JSON
line (its URL and the appointments) when it is ready and stops when its stdin closes, so its
CPU (the process and its media workers) is measured apart from the load generators'.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .cpu import descendants
from .janus import JanusRoom, create_rooms, janus_ready, start_janus

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "relay-bench-password-1"  # a throwaway account on a loopback server


@dataclass(frozen=True)
class Appointment:
    """One consult ready to be opened: a nurse's login and the patient's join token."""

    url: str
    username: str
    password: str
    consult_id: str
    token: str


def serve_main(forwarding: str, consults: int, media_workers: int | None) -> None:
    """Entry point of the server process."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(forwarding, consults, media_workers))


async def _serve(forwarding: str, consults: int, media_workers: int | None) -> None:
    from aiohttp import web

    from rooms.roles import Role
    from rooms.staff import StaffMember
    from web.app import SERVICES, create_app
    from web.config import Settings
    from web.demo import create_appointment_link

    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            port=0,
            database_url=f"sqlite+aiosqlite:///{Path(data) / 'records.sqlite3'}",
            media_host_addresses=("127.0.0.1",),
            media_forwarding=forwarding,
            secret_key=b"relay-benchmark-secret-key-0123456789abcdef",
            secret_key_is_ephemeral=False,
            log_level="WARNING",
            slot_capacity=consults,  # every consult is booked in the slot running now, in one unit
            # ... and opened up to the end of a full run (~40 min), long after that slot has ended
            check_in_grace_minutes=240,
        )
        if media_workers is not None:
            settings = replace(settings, media_workers=media_workers)
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        services = app[SERVICES]
        password_hash = services.auth.hash_password(PASSWORD)
        appointments = []
        for index in range(consults):
            username = f"enfermera{index:03d}"
            await services.stores.staff.add(
                StaffMember(
                    f"staff-bench-{index:03d}", username, f"Enf. {index}", Role.NURSE, "UMF-1", password_hash
                )
            )
            consult_id, link = await create_appointment_link(services, url, f"Paciente {index}")
            token = parse_qs(urlsplit(link).fragment)["t"][0]
            appointments.append(asdict(Appointment(url, username, PASSWORD, consult_id, token)))
        print(
            json.dumps({"url": url, "media_workers": settings.media_workers, "consults": appointments}),
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_reader(sys.stdin.fileno(), stop.set)  # the orchestrator closing our stdin also stops us
        await stop.wait()
        await asyncio.wait_for(runner.cleanup(), timeout=20)


@dataclass
class Server:
    """The orchestrator's handle on a running server; hands out its appointments in order."""

    mode: str
    process: subprocess.Popen[str]
    url: str
    media_workers: int
    consults: list[Appointment] | list[JanusRoom]
    log: Path
    used: int = 0

    def next_consult(self) -> Appointment | JanusRoom:
        spec = self.consults[self.used]
        self.used += 1
        return spec

    def pids(self) -> list[int]:
        return descendants(self.process.pid)


def start_server(mode: str, consults: int, media_workers: int | None, log_dir: Path) -> subprocess.Popen[str]:
    log = log_dir / f"server-{mode}.log"
    command = [sys.executable, "-m", "bench.relay", "--serve", mode, "--consults", str(consults)]
    if media_workers is not None:
        command += ["--media-workers", str(media_workers)]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def server_ready(mode: str, process: subprocess.Popen[str], log_dir: Path) -> Server:
    """Wait for the server's ready line (it started in parallel with the others)."""
    assert process.stdout is not None
    line = process.stdout.readline()
    log = log_dir / f"server-{mode}.log"
    if not line:
        raise RuntimeError(f"the {mode} server did not start:\n{log.read_text()[-3000:]}")
    info = json.loads(line)
    appointments = [Appointment(**spec) for spec in info["consults"]]
    return Server(mode, process, info["url"], info["media_workers"], appointments, log)


def stop_servers(processes: list[subprocess.Popen[str]]) -> None:
    """Close every server's stdin (each then stops), then wait for them."""
    for process in processes:
        if process.stdin is not None and not process.stdin.closed:
            process.stdin.close()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def start_janus_server(rooms: int, log_dir: Path) -> tuple[Server, Path]:
    """Janus with ``rooms`` videorooms ready; returns it and its configuration folder."""
    log = log_dir / "server-janus.log"
    port = free_port()
    process, config = start_janus(port, log)
    url = f"http://127.0.0.1:{port}/janus"
    janus_ready(url, process, log)
    return Server("janus", process, url, 0, create_rooms(url, rooms, publishers=10), log), config
