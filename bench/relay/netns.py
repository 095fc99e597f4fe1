"""The private network namespace the benchmark runs in when it compares with Janus.

Janus (through libnice) gathers host candidates only on interfaces that are not loopback, so on
plain loopback it offers no candidate our clients can reach. In a namespace of its own, the
benchmark adds a veth pair whose one end carries 127.0.0.1/32: Janus then offers 127.0.0.1, and
every packet still stays inside the namespace (which has no route out). Our server and clients
run in the same namespace, so both servers see the same network. Needs root (CI runs as root).
"""

from __future__ import annotations

import os
import subprocess
import sys

INSIDE = "TC_RELAY_NETNS"
"""Set in the re-run benchmark's environment: the namespace it runs in."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def can_isolate() -> bool:
    """Root, and not already inside the benchmark's namespace."""
    return os.geteuid() == 0 and INSIDE not in os.environ


def run_isolated(argv: list[str]) -> int:
    """Run ``python -m bench.relay argv`` in a fresh namespace; remove it afterwards."""
    name = f"tc-relay-{os.getpid()}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "relay0", "type", "veth", "peer", "name", "relay1")
        _ip("-n", name, "addr", "add", "127.0.0.1/32", "dev", "relay0")
        _ip("-n", name, "link", "set", "relay0", "up")
        _ip("-n", name, "link", "set", "relay1", "up")
        command = ["ip", "netns", "exec", name, sys.executable, "-m", "bench.relay", *argv]
        return subprocess.run(command, env={**os.environ, INSIDE: name}, check=False).returncode
    finally:
        _ip("netns", "delete", name)
