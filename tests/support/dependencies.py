"""A real PostgreSQL and a real redis-server that a test can stop and start again on the same port.

For the outage tests: the server under test keeps its URLs while the dependency goes away and
comes back (Redis empty, as it is without persistence; PostgreSQL with its data).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.support import find_postgres_bin, free_port
from tests.support.services import require_or_skip


def _wait(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + 30
    while not ready():
        if time.monotonic() > deadline or process.poll() is not None:
            said = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"{what} did not start: {said}")
        time.sleep(0.05)


class RestartableRedis:
    """redis-server without persistence: a restart comes back empty."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        require_or_skip(binary is not None, "redis-server")
        self._binary = str(binary)
        self._directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(
            [self._binary, *arguments, "--dir", str(self._directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(self._pong, self._process, "redis-server")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


class RestartablePostgres:
    """A PostgreSQL cluster of its own (trust auth, user ``postgres``), stopped and started with pg_ctl."""

    def __init__(self) -> None:
        binaries = find_postgres_bin()
        require_or_skip(binaries is not None, "PostgreSQL (initdb/postgres binaries)")
        assert binaries is not None
        self._bin = binaries
        self._prefix: list[str] = []
        self._workdir = Path(tempfile.mkdtemp(prefix="tc-pg-outage-"))
        self._data, self._sockets = self._workdir / "data", self._workdir / "sock"
        self._sockets.mkdir()
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            self._prefix = ["runuser", "-u", "postgres", "--"]
            for path in (self._workdir, self._sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.port = free_port()
        self._started = False
        self._process: subprocess.Popen[bytes] | None = None
        options = ["-D", str(self._data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
        subprocess.run(
            [*self._prefix, str(self._bin / "initdb"), *options],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ready(self) -> bool:
        probe = [
            str(self._bin / "pg_isready"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-q",
        ]
        return subprocess.run(probe, check=False).returncode == 0

    def start(self) -> None:
        """Start on ``port``; the first start takes another free port if that one was taken meanwhile."""
        settings = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self._sockets}"]
        settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = self._workdir / "postgres.log"
        for attempt in range(3):
            with log.open("ab") as output:
                command = [
                    str(self._bin / "postgres"),
                    "-D",
                    str(self._data),
                    "-p",
                    str(self.port),
                    *settings,
                ]
                self._process = subprocess.Popen([*self._prefix, *command], stdout=output, stderr=output)
            try:
                _wait(self._ready, self._process, "postgres", log)
                self._started = True
                return
            except RuntimeError:
                if self._started or attempt == 2:
                    raise
                self.port = free_port()

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, as when the database host goes away."""
        if self._process is None:
            return
        subprocess.run(
            [*self._prefix, str(self._bin / "pg_ctl"), "stop", "-D", str(self._data), "-m", "fast", "-w"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)


@contextmanager
def restartable_postgres() -> Iterator[RestartablePostgres]:
    server = RestartablePostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@contextmanager
def restartable_redis(directory: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
