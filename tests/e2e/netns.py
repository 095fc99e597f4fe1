"""A test host for the patient: a network namespace joined to this machine by a veth pair.

The patient's Chromium runs inside the namespace, so everything it sends crosses the veth link,
which the tests can cut, shape (``tc``), lose packets on (``nft``) or swap for a second link with
another address. Addresses come from TEST-NET-2 (198.51.100.0/24), which is reserved for
documentation and used by nothing else here; traffic never leaves the namespaces the test makes.
Everything is removed again, even when a test fails.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
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
    slot: int = 0
    """Which of the machine's namespace slots this host holds: its names and addresses are the
    slot's alone, so tests in parallel workers never touch each other's."""
    links: list[Link] = field(default_factory=list)

    def exec(self, *command: str) -> None:
        _run("ip", "netns", "exec", self.namespace, *command)

    def host_address(self, index: int) -> str:
        """The host's address on link ``index``: 198.51.100.(32 slot + 4 index + 1)."""
        return f"198.51.100.{32 * self.slot + 4 * index + 1}"

    def add_link(self, index: int) -> Link:
        """A veth pair; link ``i`` uses :meth:`host_address` on the host and the next address in
        the namespace (a /30 of the host's slot)."""
        host_device = f"{self.namespace[:9]}h{index}"
        guest_device = f"{self.namespace[:9]}g{index}"
        host_address = self.host_address(index)
        guest_address = host_address.rsplit(".", 1)[0] + f".{int(host_address.rsplit('.', 1)[1]) + 1}"
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

    def lose_on_link(self, link: Link, *, down: int, up: int) -> None:
        """Drop ``down`` % of what reaches the patient and ``up`` % of what it sends, at the
        receiving end of the link (0 and 0 remove it). :meth:`lose` drops in the sender's own
        output hook, which fails Chromium's ``sendto`` and makes it send again: little of that
        upload "loss" ever happens, so tests of upload loss need this one."""
        table = f"{self.namespace}up"
        subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, timeout=20)
        subprocess.run(
            ["ip", "netns", "exec", self.namespace, "nft", "delete", "table", "inet", "tclink"],
            capture_output=True,
            timeout=20,
        )
        if down > 0:
            rules = _dropping("tclink", "input", "", down)
            subprocess.run(
                ["ip", "netns", "exec", self.namespace, "nft", "-f", "-"],
                input=rules.encode(),
                check=True,
                capture_output=True,
                timeout=20,
            )
        if up > 0:
            rules = _dropping(table, "prerouting", f'iifname "{link.host_device}" ', up)
            subprocess.run(
                ["nft", "-f", "-"], input=rules.encode(), check=True, capture_output=True, timeout=20
            )

    def shape_each_way(self, link: Link, *, down_kbit: int, up_kbit: int) -> None:
        """Limit what reaches the patient to ``down_kbit`` and what it sends to ``up_kbit``."""
        for rate, inside, device in (
            (up_kbit, True, link.guest_device),
            (down_kbit, False, link.host_device),
        ):
            bucket = ("tc", "qdisc", "replace", "dev", device, "root", "tbf", "rate", f"{rate}kbit")
            limits = ("burst", "16kbit", "latency", "300ms")
            if inside:
                self.exec(*bucket, *limits)
            else:
                _run(*bucket, *limits)

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


def _dropping(table: str, hook: str, match: str, percent: int) -> str:
    """An nftables table that drops ``percent`` % of the packets ``match`` selects at ``hook``."""
    return (
        f"table inet {table} {{\n"
        f"  chain lossy {{\n    type filter hook {hook} priority 0;\n"
        f"    {match}numgen random mod 100 < {percent} drop\n  }}\n}}\n"
    )


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


SLOTS = 8
"""Namespaces that may exist at once (198.51.100.0/24 gives each slot 32 addresses)."""


@contextmanager
def _free_slot() -> Iterator[int]:
    """Hold one slot's lock file while its namespace exists (released when the process ends, too)."""
    for slot in range(SLOTS):
        handle = Path(tempfile.gettempdir(), f"teleconsulta-netns-{slot}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield slot
        finally:
            handle.close()
        return
    raise RuntimeError(f"all {SLOTS} network namespace slots are in use")


@contextmanager
def patient_host(name: str) -> Iterator[PatientHost]:
    require_or_skip(namespaces_available(), "network namespaces (root and iproute2)")
    with _free_slot() as slot:
        host = PatientHost(f"{name}{slot}", slot)
        _remove_leftovers(host.namespace)  # a killed run's, of this slot only
        _run("ip", "netns", "add", host.namespace)
        try:
            host.exec("ip", "link", "set", "lo", "up")
            yield host
        finally:
            _remove_host(host)


def _remove_host(host: PatientHost) -> None:
    subprocess.run(["nft", "delete", "table", "inet", f"{host.namespace}up"], capture_output=True, timeout=20)
    for link in host.links:
        subprocess.run(["ip", "link", "del", link.host_device], capture_output=True, timeout=20)
    subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True, timeout=20)
