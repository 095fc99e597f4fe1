"""Server nodes as separate processes sharing one Redis, as an operator runs them: ``teleconsulta
serve`` (``python -m web serve``) with its own ``TC_NODE_ID`` and media address, and one record
file between them.

Used by ``bench/failover.py`` and by the failover test (a node must be a process to be SIGKILLed).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_DEMO = {
    "username": re.compile(r"User: (\S+)"),
    "password": re.compile(r"Password: (\S+)"),
    "patient_link": re.compile(r"Patient link: (\S+)"),
}
_LISTENING = re.compile(r"listening on (\S+)")


@dataclass
class NodeProcess:
    node_id: str
    url: str
    process: subprocess.Popen[str]
    output: list[str]
    demo: dict[str, str] = field(default_factory=dict)
    """With ``demo=True``: the demo nurse's ``username`` and ``password`` and the ``patient_link``."""

    def kill(self) -> None:
        """SIGKILL: the node vanishes mid-sentence, as on a power cut."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop at once, as Ctrl-C does (SIGTERM would drain the node's live calls first)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_node(
    node_id: str,
    *,
    redis_url: str,
    data_dir: Path,
    secret_key: str,
    media_address: str = "127.0.0.1",
    demo: bool = False,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
) -> NodeProcess:
    """Start one node (media in its main process) and wait until it listens (and, with ``demo``,
    has printed the demo's access)."""
    env = {
        **os.environ,
        "TC_NODE_ID": node_id,
        "TC_REDIS_URL": redis_url,
        "TC_SECRET_KEY": secret_key,
        # Staff accounts live in the record database, so the nodes share one: a SQLite file on this
        # machine's own disk (where its locks hold), knowingly allowed; production uses PostgreSQL.
        "TC_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'records.sqlite3'}",
        "TC_ALLOW_SQLITE_WITH_REDIS": "1",
        "TC_MEDIA_HOST_ADDRESSES": media_address,
        "TC_MEDIA_WORKERS": "0",
        "TC_PUBLIC_URL": "",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "web", "serve", "--port", "0", *(["--demo"] if demo else [])]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output: list[str] = []
    url = ""
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while not url or (demo and len(found) < len(_DEMO)):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"node {node_id} did not start:\n" + "".join(output))
        line = process.stdout.readline()
        output.append(line)
        if not url and (match := _LISTENING.search(line)):
            url = match.group(1)
        for name, pattern in _DEMO.items():
            if demo and name not in found and (match := pattern.search(line)):
                found[name] = match.group(1)
    threading.Thread(target=_pump, args=(process, output), daemon=True).start()
    return NodeProcess(node_id, url, process, output, found)


def _pump(process: subprocess.Popen[str], output: list[str]) -> None:
    """Keep reading the node's output so its pipe never fills up and blocks it."""
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
