"""ICE settings for the server's peers.

aiortc defaults to a public STUN server, which a server on a private network cannot reach and
does not need; the server's own candidates are its host addresses. aioice gathers every
interface address except loopback, so a server that must advertise specific addresses (one
public address behind a load balancer, or 127.0.0.1 on a test machine) restricts them here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer


@dataclass(frozen=True, slots=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_browser(self) -> dict[str, object]:
        entry: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
            entry["credential"] = self.credential
        return entry


@dataclass(frozen=True, slots=True)
class IceSettings:
    """``server_ice_servers`` are for the server's own peers; browsers get theirs from signaling."""

    server_ice_servers: tuple[IceServer, ...] = ()
    host_addresses: tuple[str, ...] = field(default_factory=tuple)

    def rtc_configuration(self) -> RTCConfiguration:
        """One transport for all of a peer's media (``max-bundle``): every browser bundles, and a
        server offer whose media lines start on separate transports loses the ones aiortc then
        moves onto the bundle."""
        return RTCConfiguration(
            iceServers=[
                RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                for s in self.server_ice_servers
            ],
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Make aioice offer exactly ``addresses`` as host candidates (process-wide).

    aioice looks its host addresses up through a module function with no parameter for this,
    so the only way is to replace that function; this is done once at start-up.
    """
    chosen = [str(ipaddress.ip_address(a)) for a in addresses]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            a
            for a in chosen
            if (use_ipv4 and ipaddress.ip_address(a).version == 4)
            or (use_ipv6 and ipaddress.ip_address(a).version == 6)
        ]

    aioice.ice.get_host_addresses = host_addresses
