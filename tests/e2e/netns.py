"""A test host for the patient: a network namespace joined to this machine by a veth pair.

The patient's Chromium runs inside the namespace, so everything it sends crosses the veth link,
which the tests can cut, shape (``tc``), lose packets on (``nft``) or swap for a second link with
another address. Addresses come from TEST-NET-2 (198.51.100.0/24), which is reserved for
documentation and used by nothing else here; traffic never leaves the namespaces the test makes.
Everything is removed again, even when a test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.services import require_or_skip


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=20)


def namespaces_available() -> bool:
    """Whether this machine lets us create network namespaces (root and iproute2)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"tcprobe{os.getpid()}"
    try:
        _run("ip", "netns", "add", probe)
    except (subprocess.CalledProcessError, OSError):
        return False
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=20)
    return True


@dataclass
class Link:
    host_device: str
    guest_device: str
    host_address: str
    guest_address: str


@dataclass
class PatientHost:
    namespace: str
    links: list[Link] = field(default_factory=list)

    def exec(self, *command: str) -> None:
        _run("ip", "netns", "exec", self.namespace, *command)

    def add_link(self, index: int) -> Link:
        """A veth pair; link ``i`` uses 198.51.100.(4i+1) on the host and .(4i+2) in the namespace."""
        host_device = f"{self.namespace[:9]}h{index}"
        guest_device = f"{self.namespace[:9]}g{index}"
        host_address, guest_address = f"198.51.100.{4 * index + 1}", f"198.51.100.{4 * index + 2}"
        _run("ip", "link", "add", host_device, "type", "veth", "peer", "name", guest_device)
        _run("ip", "link", "set", guest_device, "netns", self.namespace)
        _run("ip", "addr", "add", f"{host_address}/30", "dev", host_device)
        _run("ip", "link", "set", host_device, "up")
        self.exec("ip", "addr", "add", f"{guest_address}/30", "dev", guest_device)
        self.exec("ip", "link", "set", guest_device, "up")
        link = Link(host_device, guest_device, host_address, guest_address)
        self.links.append(link)
        return link

    def set_up(self, link: Link, up: bool) -> None:
        self.exec("ip", "link", "set", link.guest_device, "up" if up else "down")

    def shape(self, link: Link, rate_kbit: int) -> None:
        """Limit the link to ``rate_kbit`` in both directions (token bucket filter)."""
        bucket = ("rate", f"{rate_kbit}kbit", "burst", "16kbit", "latency", "300ms")
        self.exec("tc", "qdisc", "replace", "dev", link.guest_device, "root", "tbf", *bucket)
        _run("tc", "qdisc", "replace", "dev", link.host_device, "root", "tbf", *bucket)

    def unshape(self, link: Link) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.namespace, "tc", "qdisc", "del", "dev", link.guest_device, "root"],
            capture_output=True,
            timeout=20,
        )
        subprocess.run(
            ["tc", "qdisc", "del", "dev", link.host_device, "root"], capture_output=True, timeout=20
        )

    def lose(self, percent: int) -> None:
        """Drop ``percent`` % of packets at random, both ways, inside the namespace (0 removes it)."""
        subprocess.run(
            ["ip", "netns", "exec", self.namespace, "nft", "delete", "table", "inet", "tcloss"],
            capture_output=True,
            timeout=20,
        )
        if percent <= 0:
            return
        rules = (
            "table inet tcloss {\n"
            f" chain out {{ type filter hook output priority 0; numgen random mod 100 < {percent} drop; }}\n"
            f" chain in {{ type filter hook input priority 0; numgen random mod 100 < {percent} drop; }}\n"
            "}\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", self.namespace, "nft", "-f", "-"],
            input=rules.encode(),
            check=True,
            capture_output=True,
            timeout=20,
        )

    def route_to(self, link: Link, destination: str) -> None:
        """Send traffic for ``destination`` (another link's host address) over ``link``."""
        route = ("ip", "route", "replace", f"{destination}/32", "via", link.host_address)
        self.exec(*route, "dev", link.guest_device)

    def chromium_wrapper(self, directory: Path) -> Path:
        """An executable that starts Debian's Chromium inside the namespace, for Playwright."""
        wrapper = directory / f"chromium-in-{self.namespace}"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {self.namespace} /usr/bin/chromium "$@"\n')
        wrapper.chmod(0o755)
        return wrapper


def _remove_leftovers(prefix: str) -> None:
    """Remove namespaces and links a killed run of these tests left behind (same name prefix)."""
    listed = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True, text=True, timeout=20).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=20).stdout
    for line in links.splitlines():
        device = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if device.startswith(prefix):
            subprocess.run(["ip", "link", "del", device], capture_output=True, timeout=20)


@contextmanager
def patient_host(name: str) -> Iterator[PatientHost]:
    require_or_skip(namespaces_available(), "network namespaces (root and iproute2)")
    _remove_leftovers(name)
    host = PatientHost(f"{name}{os.getpid() % 10000}")
    _run("ip", "netns", "add", host.namespace)
    try:
        host.exec("ip", "link", "set", "lo", "up")
        yield host
    finally:
        for link in host.links:
            subprocess.run(["ip", "link", "del", link.host_device], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True, timeout=20)
