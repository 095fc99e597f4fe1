"""How the tests and benchmarks launch Debian's headless Chromium with a fake camera and microphone."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
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
