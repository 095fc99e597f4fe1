"""Helpers to run the real server in tests: in-process, or as the CLI subprocess a user runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def require_or_skip(available: bool, what: str) -> None:
    """Skip when a real dependency is missing, except in CI, where it must fail loudly."""
    import pytest

    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available on this machine")


class SetClock:
    """A clock that reads what the test set, so a time of day or a deadline is tested exactly."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class MovableClock:
    """A clock tests can move forward, so expiry is tested without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class DemoServer:
    process: subprocess.Popen[str]
    base_url: str
    console_url: str
    username: str
    password: str
    patient_link: str
    output: list[str]
    reader: threading.Thread | None = None

    def stop(self) -> int:
        """Stop at once, as Ctrl-C does: SIGTERM would drain, waiting for live calls to end."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self.close()

    def close(self) -> None:
        """Close the pipe to the server's output once it has exited and its reader has read it all."""
        if self.process.poll() is None:
            return
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.process.stdout is not None and (self.reader is None or not self.reader.is_alive()):
            self.process.stdout.close()


_FIELDS: dict[str, Callable[[str], re.Match[str] | None]] = {
    "base_url": re.compile(r"listening on (\S+)").search,
    "console_url": re.compile(r"Nurse console: (\S+)").search,
    "username": re.compile(r"User: (\S+)").search,
    "password": re.compile(r"Password: (\S+)").search,
    "patient_link": re.compile(r"Patient link: (\S+)").search,
}


def start_demo_server(
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
    port: int = 0,
    log_path: Path | None = None,
) -> DemoServer:
    """Run ``teleconsulta serve --demo`` exactly as the README says, and read what it prints.

    Logs (stderr) are read with the rest, or written to ``log_path`` apart from what it prints.
    """
    env = {
        **os.environ,
        "TC_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'records.sqlite3'}",
        "TC_MEDIA_HOST_ADDRESSES": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log = None if log_path is None else log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "web", "serve", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if log is None else log,
        text=True,
    )
    if log is not None:
        log.close()  # the server holds its own copy
    found: dict[str, str] = {}
    output: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while len(found) < len(_FIELDS):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the demo server did not start:\n" + "".join(output))
        line = process.stdout.readline()
        output.append(line)
        for name, search in _FIELDS.items():
            match = search(line)
            if match and name not in found:
                found[name] = match.group(1)
    return DemoServer(process=process, output=output, reader=_drain(process, output), **found)


def _drain(process: subprocess.Popen[str], output: list[str]) -> threading.Thread:
    """Keep reading the server's output so its pipe never fills up and blocks it."""

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return reader
