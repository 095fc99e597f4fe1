"""Audio redundancy (RED, RFC 2198) between two real Chromium pages through the server.

The server answers each page's offer with ``audio/red`` first, so Chromium sends every Opus frame
with the previous one beside it, and offers RED on the page's subscribing connection, so what the
other page sent arrives as RED and Chromium itself recovers a lost packet from the next one.

Chromium (156) names the codec *inside* RED in ``getStats`` (the ``codec`` of both ``outbound-rtp``
and ``inbound-rtp`` is ``audio/opus``), so RED on the wire is read from what it does instead: the
receiving jitter buffer discards each redundant copy of a frame it already has, so nearly every
packet received counts once in ``packetsDiscarded`` (0 without RED on loopback), and each packet
sent carries two frames (about twice the bytes of plain Opus).
"""

from __future__ import annotations

import asyncio
import itertools

from playwright.async_api import Browser, Page

from tests.e2e.pages import admitted_call, poll
from tests.support.services import DemoServer


def audio_stream(connection: str, stats_type: str) -> str:
    """A script answering the figures of one of the page's connections' audio RTP streams
    (``publisher`` or ``peerConnection``; ``outbound-rtp`` or ``inbound-rtp``); null until that
    stream has packets."""
    return f"""
async () => {{
  const pc = window.teleconsultaDebug.{connection}();
  if (!pc) return null;
  const stats = await pc.getStats();
  let found = null;
  stats.forEach((r) => {{
    const packets = r.packetsReceived ?? r.packetsSent ?? 0;
    if (r.type === "{stats_type}" && r.kind === "audio" && packets > 0) {{
      found = {{
        codec: stats.get(r.codecId)?.mimeType ?? null,
        packets,
        bytes: r.bytesReceived ?? r.bytesSent ?? 0,
        discarded: r.packetsDiscarded ?? 0,
        samples: r.totalSamplesReceived ?? 0,
        concealed: r.concealedSamples ?? 0,
      }};
    }}
  }});
  return found;
}}
"""


PUBLISHER_ANSWER = "window.teleconsultaDebug.publisher()?.remoteDescription?.sdp ?? null"
SUBSCRIBER_ANSWER = "window.teleconsultaDebug.peerConnection()?.localDescription?.sdp ?? null"
SENT = audio_stream("publisher", "outbound-rtp")
RECEIVED = audio_stream("peerConnection", "inbound-rtp")
SECOND = 48_000  # samples of one second of audio
WINDOWS = 5  # seconds of audio judged, one by one


def red_first(sdp: str) -> bool:
    """Whether the audio line's first payload type is RED (and Opus is there too)."""
    audio_line = next(line for line in sdp.splitlines() if line.startswith("m=audio"))
    return f"a=rtpmap:{audio_line.split()[3]} red/48000/2" in sdp and "opus/48000/2" in sdp


async def test_each_page_sends_and_receives_red_and_hears_the_other(
    demo_server: DemoServer, browser: Browser
) -> None:
    patient, nurse, _ = await admitted_call(browser, demo_server)

    await asyncio.gather(sends_and_hears_red(patient), sends_and_hears_red(nurse))


async def sends_and_hears_red(page: Page) -> None:
    # Negotiated: the server answered the page's offer with RED first, and the page answered the
    # server's offer for its subscribing connection with RED first too.
    assert red_first(await poll(page, PUBLISHER_ANSWER, lambda sdp: sdp is not None))
    assert red_first(await poll(page, SUBSCRIBER_ANSWER, lambda sdp: sdp is not None))
    first = await poll(page, RECEIVED, lambda s: s is not None and s["samples"] > SECOND)
    readings = [first]
    for _ in range(WINDOWS):
        readings.append(await poll(page, RECEIVED, lambda s: s["samples"] > readings[-1]["samples"] + SECOND))
    later = readings[-1]
    assert later["codec"] in ("audio/red", "audio/opus"), later
    # On the wire: nearly every packet brings a copy of a frame the jitter buffer already has.
    received = later["packets"] - first["packets"]
    assert later["discarded"] - first["discarded"] > 0.8 * received, (first, later)
    sent = await poll(page, SENT, lambda s: s is not None)
    assert sent["codec"] in ("audio/red", "audio/opus"), sent
    # Played, with hardly anything concealed on loopback. Judged by the median second: broken RED
    # conceals every second, while one stall of a CPU shared by two browser tests and their servers
    # (about a quarter of a second, seen in CI) spoils one second and says nothing of RED.
    concealed = sorted(
        (after["concealed"] - before["concealed"]) / (after["samples"] - before["samples"])
        for before, after in itertools.pairwise(readings)
    )
    assert concealed[WINDOWS // 2] < 0.05, (
        f"median second {concealed[WINDOWS // 2]:.1%} concealed: {concealed}"
    )
