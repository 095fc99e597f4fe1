"""Several real server nodes on one machine: the multi-node setup tests and benchmarks share.

Each node is the command a user runs (``python -m web serve``) on 127.0.0.1 with its own port,
node id and media address (127.0.0.2, 127.0.0.3, …: loopback answers all of 127/8 on Linux, so a
page's media path names the node that carries it). They share one real Redis and one real
PostgreSQL and one secret key. The first node runs ``--demo`` (a nurse and an appointment); the
service is open around the clock on every node so no queue sweep closes the demo's queue.

Readiness is waited on through ``GET /readyz``, never by sleeping. A node can be killed
(``SIGKILL``), terminated (``SIGTERM``: it drains), stopped (``SIGINT``: at once) and started
again. Nothing here imports the tests: ``tests/support/cluster.py`` wraps it with pytest's skips.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.support import free_port, postgres_server, redis_server

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "cluster-nodes-share-this-secret-key-0123456789"
NURSE_PASSWORD = "cluster-nurse-password"
ALWAYS_OPEN = json.dumps(
    {"weekly": {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
)
START_SECONDS = 90.0
"""How long a node may take to answer ``/readyz`` 200 (a loaded two-core machine is slow)."""

_DEMO = {
    "console_url": re.compile(r"Nurse console: (\S+)"),
    "patient_link": re.compile(r"Patient link: (\S+)"),
}


@dataclass
class Node:
    """One server process; ``index`` counts from 1 (node-1 runs the demo)."""

    index: int
    port: int
    env: dict[str, str]
    log_path: Path
    demo: bool = False
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def node_id(self) -> str:
        return f"node-{self.index}"

    @property
    def media_host(self) -> str:
        return self.env["TC_MEDIA_HOST_ADDRESSES"]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start the process (``--demo`` only the first time: the demo is seeded once)."""
        assert self.process is None or self.process.poll() is not None, f"{self.node_id} is running"
        command = [sys.executable, "-m", "web", "serve", "--port", str(self.port)]
        if self.demo and self.starts == 0:
            command.append("--demo")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.starts += 1

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """``GET /readyz``: status and body (``(0, {})`` while nothing answers)."""
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
        except (OSError, ValueError):
            return 0, {}

    def wait_ready(self, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while self.readiness()[0] != 200:
            if not self.running():
                raise RuntimeError(f"{self.node_id} exited while starting:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.node_id} was not ready in {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """``SIGKILL``: the machine died. Its media workers notice their pipe closing and exit."""
        self.signal(signal.SIGKILL)
        self.wait()

    def terminate(self) -> None:
        """``SIGTERM``: the node drains (see web/lifecycle.py); :meth:`wait` for it to exit."""
        self.signal(signal.SIGTERM)

    def signal(self, signum: int) -> None:
        if self.running():
            assert self.process is not None
            self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """``SIGINT``: shut down now (no drain); killed if it has not exited within 20 s."""
        if not self.running():
            return
        self.signal(signal.SIGINT)
        try:
            self.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_ready()


@dataclass
class Cluster:
    nodes: list[Node]
    redis_url: str
    database_url: str
    demo: dict[str, str] = field(default_factory=dict)
    """node-1's demo: ``console_url``, ``patient_link``, ``username``, ``password``."""

    def __getitem__(self, index: int) -> Node:
        """``cluster[1]`` is node-1 (as people count nodes)."""
        return self.nodes[index - 1]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def node_env(
    index: int, redis_url: str, database_url: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """A node's environment: shared key, Redis and database; its own id and media address."""
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TC_SECRET_KEY": SECRET_KEY,
        "TC_REDIS_URL": redis_url,
        "TC_DATABASE_URL": database_url,
        "TC_NODE_ID": f"node-{index}",
        "TC_MEDIA_HOST_ADDRESSES": f"127.0.0.{index + 1}",
        "TC_MEDIA_WORKERS": "1",
        "TC_SERVICE_HOURS": ALWAYS_OPEN,
        "TC_SLOT_CAPACITY": "30",
        "TC_CHECK_IN_OPENS_MINUTES": "90",
        "TC_DEMO_PASSWORD": NURSE_PASSWORD,
        "TC_LOG_LEVEL": "INFO",
        **(extra or {}),
    }


def start_nodes(
    directory: Path, redis_url: str, database_url: str, count: int = 3, env: dict[str, str] | None = None
) -> Cluster:
    """Start ``count`` nodes and wait until each answers ``/readyz`` 200.

    node-1 starts first and alone: it migrates the shared database, which the others then find
    done, and it seeds the demo.
    """
    nodes = [
        Node(
            index=index,
            port=free_port(),
            env=node_env(index, redis_url, database_url, env),
            log_path=directory / f"node-{index}.log",
            demo=index == 1,
        )
        for index in range(1, count + 1)
    ]
    cluster = Cluster(nodes, redis_url, database_url)
    try:
        nodes[0].start()
        nodes[0].wait_ready()
        for node in nodes[1:]:
            node.start()
        for node in nodes[1:]:
            node.wait_ready()
        cluster.demo = _demo(nodes[0])
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _demo(node: Node, timeout: float = START_SECONDS) -> dict[str, str]:
    """What node-1 printed for its demo (it seeds the demo once it listens)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {
            name: match.group(1) for name, pattern in _DEMO.items() if (match := pattern.search(node.log()))
        }
        if len(found) == len(_DEMO):
            return {**found, "username": "enfermera", "password": NURSE_PASSWORD}
        if time.monotonic() > deadline or not node.running():
            raise RuntimeError(f"node-1 printed no demo:\n{node.log()}")
        time.sleep(0.1)


@contextmanager
def cluster(directory: Path, count: int = 3, env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Redis, PostgreSQL and ``count`` nodes, all stopped at the end (whatever state they are in)."""
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(directory))
        database_url = stack.enter_context(postgres_server())
        nodes = start_nodes(directory, redis_url, database_url, count, env)
        stack.callback(nodes.stop)
        yield nodes


def main() -> None:
    """``python -m bench.nodes [N]``: run N nodes until SIGINT or SIGTERM, printing where they listen
    (one JSON line); then everything stops."""
    import tempfile

    def finish(signum: int, _: object) -> None:
        for each in (signal.SIGINT, signal.SIGTERM):  # once: the stopping must not be interrupted
            signal.signal(each, signal.SIG_IGN)
        raise SystemExit(0)  # unwinds the context managers below, which stop every process

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, finish)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with (
        tempfile.TemporaryDirectory(prefix="tc-nodes-") as directory,
        cluster(Path(directory), count) as nodes,
    ):
        print(
            json.dumps({"nodes": [n.url for n in nodes.nodes], "redis": nodes.redis_url, **nodes.demo}),
            flush=True,
        )
        while True:
            signal.pause()


if __name__ == "__main__":
    main()
