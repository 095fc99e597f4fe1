"""Kill → media back: how long a consult's media is gone when its media node is SIGKILLed.

Each repetition starts a fresh Redis and two nodes as processes (``bench/node_process.py``: node A runs
the demo, media on 127.0.0.2 and 127.0.0.3), puts the patient's socket on node A and the nurse's
on node B, admits, and waits until each receives the other's video. Then it SIGKILLs the node
holding the consult's media and times until both receive video again, each from a fresh
publishing and subscribing connection, as the pages behave: the page whose socket died reconnects
to the other node after ``--reconnect-delay`` (through the load balancer) and offers again; the
other page offers again on ``media:restart``. Whichever comes first moves the consult: that
offer (its call to the dead node is heard by nobody) or the registry's watch (the dead node's
entry expires within ``TC_NODE_TTL_SECONDS``, 5 s); a long delay measures the watch alone.

    python -m bench.failover [--repetitions 10] [--reconnect-delay 1] [--quick]

Readable lines, then one JSON line with ``failover_media_back_p50_s`` and ``..._p95_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import socketio
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack, VideoStreamTrack
from redis.asyncio import Redis

from bench import support
from bench.node_process import NodeProcess, start_node
from media.ice import restrict_host_addresses

SECRET = "failover-bench-secret-key-0123456789-abcdef"
FRAMES = 10
"""Video frames a page must receive on its new connection to count media as back."""


class Page:
    """One participant's media, as a page holds it: a publishing connection (a synthetic camera
    and a tone) and a subscribing one that answers the server's offers and counts video frames."""

    def __init__(self, sio: socketio.AsyncClient) -> None:
        self.sio = sio
        self.frames = 0
        self.receiving = asyncio.Event()
        """Set once ``FRAMES`` video frames arrived on this page's subscribing connection."""
        self._publisher = _peer()
        self._subscriber: RTCPeerConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._counted: set[int] = set()
        self._camera = self._publisher.addTransceiver(VideoStreamTrack(), "sendonly")
        self._microphone = self._publisher.addTransceiver(AudioStreamTrack(), "sendonly")
        sio.on("media:subscriber_offer", self._answer)

    async def join(self) -> None:
        await self._publisher.setLocalDescription(await self._publisher.createOffer())
        sources = {self._camera.mid: "camera", self._microphone.mid: "microphone"}
        offer = {"type": "offer", "sdp": self._publisher.localDescription.sdp, "sources": sources}
        reply = await self.sio.call("media:offer", offer, timeout=30)
        if not reply.get("ok"):
            raise RuntimeError(f"media:offer refused: {reply}")
        answer = reply["answer"]
        await self._publisher.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    async def _answer(self, data: dict[str, Any]) -> None:
        if self._subscriber is None:
            self._subscriber = _peer()
        await self._subscriber.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
        await self._subscriber.setLocalDescription(await self._subscriber.createAnswer())
        for transceiver in self._subscriber.getTransceivers():
            track = transceiver.receiver.track
            if track.kind == "video" and all(t.get_name() != str(id(track)) for t in self._tasks):
                self._tasks.append(asyncio.ensure_future(self._count(track), loop=None))
                self._tasks[-1].set_name(str(id(track)))
        answer = {
            "type": "answer",
            "sdp": self._subscriber.localDescription.sdp,
            "revision": data["revision"],
        }
        await self.sio.call("media:subscriber_answer", answer, timeout=30)

    async def _count(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                self.frames += 1
                if self.frames >= FRAMES:
                    self.receiving.set()
        except MediaStreamError:
            return

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self._publisher.close()
        if self._subscriber is not None:
            await self._subscriber.close()


def _peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


async def _socket(url: str, *, token: str | None = None, cookie: str | None = None) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    headers = {"Cookie": f"tc_session={cookie}"} if cookie else {}
    await sio.connect(
        url,
        auth={"token": token} if token else None,
        headers=headers,
        transports=["websocket"],
        wait_timeout=10,  # a node busy taking over answers late; the default is 1 s
    )
    return sio


async def _sign_in(url: str, username: str, password: str) -> str:
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{url}/api/session", json={"username": username, "password": password})
        response.raise_for_status()
        return response.cookies["tc_session"].value


async def one_failover(
    redis_url: str, a: NodeProcess, b: NodeProcess, reconnect_delay: float
) -> tuple[float, float]:
    """Seconds from the SIGKILL until both pages receive video again, and until the page that
    kept its socket heard ``media:restart``."""
    token = parse_qs(urlsplit(a.demo["patient_link"]).fragment)["t"][0]
    cookie = await _sign_in(b.url, a.demo["username"], a.demo["password"])
    nurse = await _socket(b.url, cookie=cookie)
    patient = await _socket(a.url, token=token)
    admitted = asyncio.Event()
    patient.on("consult:state", lambda d: admitted.set() if d["consult"]["state"] == "live" else None)
    waiting = asyncio.Event()
    nurse.on("queue:diff", lambda d: waiting.set() if d["consults"] else None)
    pages: list[Page] = []
    redis = Redis.from_url(redis_url)
    try:
        await patient.call("lobby:check_in", {"consent": True})
        await asyncio.wait_for(waiting.wait(), 15)
        consult_id = (await nurse.call("hello", {}))["queue"][0]["consult_id"]
        await nurse.call("lobby:admit", {"consult_id": consult_id})
        await asyncio.wait_for(admitted.wait(), 15)
        pages += [Page(patient), Page(nurse)]
        for page in pages:
            await page.join()
        await asyncio.wait_for(asyncio.gather(*(page.receiving.wait() for page in pages)), 60)

        placed = json.loads(await redis.get(f"tc:placement:{consult_id}"))
        dead, alive = (a, b) if placed["node"] == a.node_id else (b, a)
        moving_is_patient = dead is a
        staying = nurse if moving_is_patient else patient
        restart = asyncio.Event()
        heard: list[float] = []

        def restart_heard(_: object) -> None:
            heard.append(time.monotonic())
            restart.set()

        staying.on("media:restart", restart_heard)

        staying_page = Page(staying)  # the page that kept its socket restarts on media:restart
        pages.append(staying_page)

        async def staying_rejoins() -> None:
            await restart.wait()
            await staying_page.join()

        killed = time.monotonic()
        dead.kill()
        staying_back = asyncio.ensure_future(staying_rejoins())
        await asyncio.sleep(reconnect_delay)
        if moving_is_patient:
            moved_socket = await _socket(alive.url, token=token)
        else:
            moved_socket = await _socket(alive.url, cookie=cookie)
        moving_page = Page(moved_socket)
        pages.append(moving_page)
        await asyncio.wait_for(asyncio.gather(moving_page.join(), staying_back), 60)
        await asyncio.wait_for(
            asyncio.gather(moving_page.receiving.wait(), staying_page.receiving.wait()), 60
        )
        seconds = time.monotonic() - killed
        await moved_socket.disconnect()
        return seconds, heard[0] - killed
    finally:
        for page in pages:
            await page.close()
        for sio in (patient, nurse):
            if sio.connected:
                await sio.disconnect()
        await redis.aclose()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def run(repetitions: int, reconnect_delay: float) -> dict[str, object]:
    restrict_host_addresses(["127.0.0.1"])
    results: list[float] = []
    restarts: list[float] = []
    for repetition in range(repetitions):
        with tempfile.TemporaryDirectory() as tmp, support.redis_server(Path(tmp)) as redis_url:
            data = Path(tmp)
            a = start_node(
                "node-a",
                redis_url=redis_url,
                data_dir=data,
                secret_key=SECRET,
                media_address="127.0.0.2",
                demo=True,
            )
            b = start_node(
                "node-b", redis_url=redis_url, data_dir=data, secret_key=SECRET, media_address="127.0.0.3"
            )
            try:
                seconds, restart = asyncio.run(one_failover(redis_url, a, b, reconnect_delay))
            finally:
                a.stop()
                b.stop()
        results.append(seconds)
        restarts.append(restart)
        print(
            f"run {repetition + 1}/{repetitions}: media back {seconds:5.2f} s after the SIGKILL "
            f"(media:restart heard at {restart:5.2f} s)"
        )
    summary = {
        "repetitions": repetitions,
        "reconnect_delay_s": reconnect_delay,
        "failover_media_back_p50_s": round(statistics.median(results), 2),
        "failover_media_back_p95_s": round(percentile(results, 0.95), 2),
        "failover_media_back_max_s": round(max(results), 2),
        "failover_restart_heard_p95_s": round(percentile(restarts, 0.95), 2),
    }
    print(
        f"media back after a SIGKILL of the media node: p50 {summary['failover_media_back_p50_s']} s, "
        f"p95 {summary['failover_media_back_p95_s']} s over {repetitions} runs"
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--repetitions", type=int, default=None, help="default 10 (3 with --quick)")
    parser.add_argument(
        "--reconnect-delay",
        type=float,
        default=1.0,
        help="seconds before the page whose socket died reconnects (socket.io's first delay is about 1 s)",
    )
    args = parser.parse_args()
    repetitions = args.repetitions or (3 if args.quick else 10)
    print(json.dumps(run(repetitions, args.reconnect_delay)))


if __name__ == "__main__":
    main()
