"""The load generator of ``bench.signaling``: many patient sockets in one lean process.

Each client speaks engine.io 4 / socket.io 5 over a raw websocket (aiohttp), without
python-socketio's client, so a generator process holds thousands of sockets for a few percent of
a core: it answers the server's pings, and every ``interval`` seconds (a random phase each) sends
one acknowledged ``participant:devices`` event, the presence report a patient page sends, and
times it until its acknowledgement. A refused connection (``busy``, ``shutting_down``) is tried
again after a short random wait, as a page would.

Run by the orchestrator as ``python -m bench.signaling_load`` with a JSON spec on stdin; writes
what it saw as JSON to the spec's ``result_path``, then exits.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

EVENT = "participant:devices"
PAYLOAD = json.dumps({"stage": "waiting", "camera": "ok", "microphone": "ok"}, separators=(",", ":"))
RETRY_CODES = ("busy", "shutting_down", "timeout")
CONNECT_TIMEOUT_S = 20.0


@dataclass
class Tally:
    """What every client of this process saw; RTTs only inside the measuring window."""

    measure_from: float
    measure_to: float
    connected: int = 0
    held: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    disconnects: int = 0
    sent: int = 0
    acked: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    rtts_ms: list[float] = field(default_factory=list)
    connect_ms: list[float] = field(default_factory=list)

    def in_window(self, at: float) -> bool:
        return self.measure_from <= at <= self.measure_to


def socket_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"


async def open_socket(
    session: aiohttp.ClientSession, base: str, auth: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[aiohttp.ClientWebSocketResponse | None, str | None]:
    """A socket.io connection: the websocket and ``None``, or the refusal's code after closing it
    (``timeout`` when the server does not answer within ``CONNECT_TIMEOUT_S``)."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            return await _handshake(session, base, auth, headers)
    except TimeoutError:
        return None, "timeout"


async def _handshake(
    session: aiohttp.ClientSession, base: str, auth: dict[str, str], headers: dict[str, str] | None
) -> tuple[aiohttp.ClientWebSocketResponse | None, str | None]:
    ws = await session.ws_connect(socket_url(base), autoping=False, headers=headers, max_msg_size=0)
    opened = await ws.receive()
    if opened.type is not aiohttp.WSMsgType.TEXT or not opened.data.startswith("0"):
        await ws.close()
        return ws, "no_open"
    await ws.send_str("40" + json.dumps(auth, separators=(",", ":")))
    while True:
        reply = await ws.receive()
        if reply.type is not aiohttp.WSMsgType.TEXT:
            return ws, "closed"
        if reply.data == "2":
            await ws.send_str("3")
            continue
        if reply.data.startswith("40"):
            return ws, None
        if reply.data.startswith("44"):
            await ws.close()
            body: Any = json.loads(reply.data[2:])
            code = (body.get("data") or {}).get("code") if isinstance(body, dict) else None
            return ws, str(code or "refused")


def ack_id(text: str) -> int:
    """The id of a ``43<id>[...]`` acknowledgement."""
    end = text.index("[")
    return int(text[2:end])


async def patient(
    session: aiohttp.ClientSession,
    base: str,
    token: str,
    start_at: float,
    stop_at: float,
    interval: float,
    tally: Tally,
) -> None:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    while True:
        began = time.perf_counter()
        try:
            ws, refusal = await open_socket(session, base, {"token": token})
        except (TimeoutError, aiohttp.ClientError, OSError):
            tally.failed += 1
            return
        if refusal is None and ws is not None:
            break
        refusal = refusal or "closed"
        tally.refused[refusal] += 1
        if refusal not in RETRY_CODES or time.time() > stop_at:
            return
        await asyncio.sleep(random.uniform(1.0, 3.0))
    tally.connect_ms.append((time.perf_counter() - began) * 1000)
    tally.connected += 1
    pending: dict[int, float] = {}

    async def send_events() -> None:
        await asyncio.sleep(random.uniform(0, interval))
        next_id = 0
        due = time.monotonic()
        while True:
            next_id += 1
            pending[next_id] = time.perf_counter()
            tally.sent += 1
            await ws.send_str(f'42{next_id}["{EVENT}",{PAYLOAD}]')
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    sender = asyncio.get_running_loop().create_task(send_events())
    try:
        while True:
            remaining = stop_at - time.time()
            if remaining <= 0:
                break
            message = await ws.receive(timeout=remaining)
            if message.type is not aiohttp.WSMsgType.TEXT:
                tally.disconnects += 1
                return
            text = message.data
            if text == "2":
                await ws.send_str("3")
            elif text.startswith("43"):
                sent = pending.pop(ack_id(text), None)
                if sent is None:
                    continue
                now = time.perf_counter()
                tally.acked += 1
                if '"ok":true' not in text:
                    reply = json.loads(text[text.index("[") :])[0]
                    tally.errors[str(reply.get("error", {}).get("code"))] += 1
                elif tally.in_window(time.time()):
                    tally.rtts_ms.append(round((now - sent) * 1000, 2))
            elif text.startswith("41") or text == "1":
                tally.disconnects += 1
                return
    except TimeoutError:
        pass
    except (aiohttp.ClientError, OSError):
        tally.disconnects += 1
        return
    finally:
        sender.cancel()
    tally.held += 1
    await ws.close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    tally = Tally(spec["measure_from"], spec["measure_to"])
    tokens: list[str] = spec["tokens"]
    rate = float(spec["ramp_per_s"])
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    cpu_before = time.process_time()
    wall_before = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(
            *(
                patient(
                    session,
                    spec["url"],
                    token,
                    spec["start_at"] + index / rate,
                    spec["stop_at"],
                    float(spec["interval_s"]),
                    tally,
                )
                for index, token in enumerate(tokens)
            )
        )
    return {
        "clients": len(tokens),
        "connected": tally.connected,
        "held": tally.held,
        "refused": dict(tally.refused),
        "failed": tally.failed,
        "disconnects": tally.disconnects,
        "sent": tally.sent,
        "acked": tally.acked,
        "errors": dict(tally.errors),
        "rtts_ms": tally.rtts_ms,
        "connect_ms": tally.connect_ms,
        "cpu_s": time.process_time() - cpu_before,
        "wall_s": time.monotonic() - wall_before,
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        runner = asyncio.run
    Path(spec["result_path"]).write_text(json.dumps(runner(run(spec))))


if __name__ == "__main__":
    main()
