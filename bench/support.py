"""The real programs a benchmark runs the product against: headless Chromium, redis-server, PostgreSQL.

They live here, not in ``tests``, because a benchmark must not import the test suite; the tests
launch the same programs through this module, so both measure and check against one setup.
Nothing here skips or fails a test: a missing program raises ``FileNotFoundError``, and the
tests decide whether that skips or fails (``tests/support/services.require_or_skip``).

PostgreSQL refuses to run as root, so when we are root its cluster is created and run as the
``postgres`` system user (``runuser``), in a directory it owns. Authentication is ``trust`` on
loopback only; the cluster lives and dies with the context manager.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium, driven headless by Playwright with a fake camera and microphone."""

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Everything runs on loopback: let WebRTC gather 127.0.0.1 so no other interface is used.
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]

COUNT_VIDEO_PAUSES = """
() => {
  // Each time the page starts showing its video paused, counted as it happens: a resume and a
  // new pause within a second are two changes that reading the page once a second would miss.
  if (window.teleconsultaVideoPauses !== undefined) return;
  window.teleconsultaVideoPauses = 0;
  const body = document.body;
  let paused = body.dataset.videoPaused === "true";
  new MutationObserver((records) => {
    // A record holds the value before its change: the values after are the next record's, then
    // the current one.
    const values = [...records.slice(1).map((record) => record.oldValue), body.dataset.videoPaused];
    for (const value of values) {
      if (value === "true" && !paused) window.teleconsultaVideoPauses += 1;
      paused = value === "true";
    }
  }).observe(body, { attributes: true, attributeFilter: ["data-video-paused"], attributeOldValue: true });
}
"""
"""Installs, once per page, a count of the page's video pauses (``window.teleconsultaVideoPauses``)."""


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server(directory: Path, *extra: str) -> Iterator[str]:
    """Start redis-server (no persistence) in ``directory`` and yield its URL; ``extra`` arguments
    go to redis-server (e.g. ``--replicaof host port``)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_pong(port, process, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)


def _wait_for_pong(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)


REPLICATION_FENCE = "bench:replication-fence"
"""A key written and deleted to learn when a replica holds everything written before it."""


@dataclass(frozen=True)
class SentinelSet:
    """A Redis primary, its replica and three sentinels watching them under ``master``."""

    master: str
    primary_url: str
    replica_url: str
    sentinels: tuple[str, ...]
    """``host:port`` of each sentinel (``TC_REDIS_SENTINELS``)."""


@contextmanager
def redis_sentinels(directory: Path, master: str = "tc") -> Iterator[SentinelSet]:
    """A real primary, a replica of it and three Debian ``redis-sentinel`` processes that fail over
    within about a second of the primary's death (``down-after-milliseconds`` 1000, quorum 2)."""
    binary = shutil.which("redis-sentinel")
    if binary is None:
        raise FileNotFoundError("redis-sentinel")
    with ExitStack() as stack:
        # Without the delay Redis 7 waits 5 s before the first sync to a replica, to serve more at once.
        primary = stack.enter_context(redis_server(directory / "primary", "--repl-diskless-sync-delay", "0"))
        primary_port = primary.rsplit(":", 1)[1].split("/")[0]
        replica = stack.enter_context(
            redis_server(directory / "replica", "--replicaof", "127.0.0.1", primary_port)
        )
        _wait_for_replica(primary)
        sentinels = []
        for index in range(3):
            port = free_port()
            config = directory / f"sentinel-{index}.conf"  # sentinel rewrites its own file
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {master} 127.0.0.1 {primary_port} 2\n"
                f"sentinel down-after-milliseconds {master} 1000\n"
                f"sentinel failover-timeout {master} 5000\n"
                f"sentinel parallel-syncs {master} 1\n"
            )
            process = subprocess.Popen(
                [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            stack.callback(_stop, process)
            _wait_for_pong(port, process, "redis-sentinel")
            sentinels.append(f"127.0.0.1:{port}")
        yield SentinelSet(master, primary, replica, tuple(sentinels))


def _wait_for_replica(primary_url: str) -> None:
    """Until the replica has acknowledged a write: before that, a write is on the primary alone,
    and a test that kills the primary would lose it. The primary calls its replica online as soon
    as the first copy is sent, but after a diskless copy it streams writes only once the replica's
    first acknowledgement (sent once a second) arrives; ``WAIT`` counts the replicas holding this
    connection's own last write, so the fence key is written here."""
    deadline = time.monotonic() + 30
    with Redis.from_url(primary_url) as primary:
        while True:
            primary.set(REPLICATION_FENCE, "1")
            primary.delete(REPLICATION_FENCE)
            if primary.execute_command("WAIT", 1, 1000) == 1:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica never acknowledged: {primary.info('replication')!r}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    process.wait(timeout=10)


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def _as_postgres_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root needs a 'postgres' system user to run PostgreSQL") from None
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[str]:
    """Start PostgreSQL and yield an asyncpg URL of its ``postgres`` database (user ``postgres``).

    ``durable=False`` (tests) turns off fsync; benches pass ``durable=True`` to measure real commits.
    """
    binaries = find_postgres_bin()
    if binaries is None:
        raise FileNotFoundError("initdb")
    prefix = _as_postgres_user()
    workdir = Path(tempfile.mkdtemp(prefix="tc-pg-"))
    data, sockets = workdir / "data", workdir / "sock"
    sockets.mkdir()
    if prefix:
        entry = pwd.getpwnam("postgres")
        for path in (workdir, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                *prefix,
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        settings = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={sockets}",
            "-c",
            "max_connections=200",
        ]
        if not durable:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        process = subprocess.Popen(
            [*prefix, str(binaries / "postgres"), "-D", str(data), "-p", str(port), *settings],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q"],
                check=False,
            )
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("postgres did not start")
            time.sleep(0.1)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if process is not None:
            # "fast" shutdown: ends sessions without waiting for clients (runuser may not pass signals on)
            subprocess.run(
                [*prefix, str(binaries / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
