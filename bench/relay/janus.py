"""Janus (Debian's ``janus`` package, its videoroom plugin) as a second server under the same load.

The server side: ``start_janus`` writes a configuration that loads only the videoroom plugin and
the HTTP transport, starts ``janus`` on 127.0.0.1 and creates one room per consult. The client
side: ``JanusApi`` speaks Janus's HTTP API (a session, plugin handles, requests answered either at
once or by an event on the session's long poll), and ``JanusConsult`` puts the benchmark's own
aiortc participants (``participant.py``) in a room: each publisher joins as a videoroom publisher
and sends its offer; each participant subscribes, in one multistream subscription, to the feeds
of the others and answers Janus's offer with the same code that answers ours.

Janus gathers ICE candidates only on interfaces that are not loopback, so the benchmark runs in a
network namespace whose one other interface carries 127.0.0.1/32 (``netns.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .participant import Participant

JANUS = "/usr/bin/janus"
LIBRARIES = Path("/usr/lib/x86_64-linux-gnu/janus")
VIDEOROOM = "janus.plugin.videoroom"
FIRST_ROOM = 5000
REQUEST_SECONDS = 30.0
"""How long an asynchronous request may wait for its event."""


@dataclass(frozen=True)
class JanusRoom:
    """One consult's room on the Janus server, as the load generators need it."""

    url: str
    room: int


def janus_available() -> bool:
    return Path(JANUS).exists() and (LIBRARIES / "plugins" / "libjanus_videoroom.so").exists()


def _library_dir(root: Path, kind: str, names: tuple[str, ...]) -> Path:
    """A folder with only the given plugins, so Janus loads nothing else."""
    folder = root / kind
    folder.mkdir()
    for name in names:
        (folder / name).symlink_to(LIBRARIES / kind / name)
    return folder


def write_config(root: Path, port: int) -> Path:
    """Janus's configuration: videoroom over HTTP on 127.0.0.1, warnings only in the log."""
    conf = root / "conf"
    conf.mkdir()
    plugins = _library_dir(root, "plugins", ("libjanus_videoroom.so",))
    transports = _library_dir(root, "transports", ("libjanus_http.so",))
    (root / "none").mkdir()
    (conf / "janus.jcfg").write_text(
        "general: {\n"
        f'  configs_folder = "{conf}"\n  plugins_folder = "{plugins}"\n'
        f'  transports_folder = "{transports}"\n  events_folder = "{root / "none"}"\n'
        f'  loggers_folder = "{root / "none"}"\n  debug_level = 3\n  session_timeout = 120\n'
        "}\n"
        'media: { rtp_port_range = "30000-40000" }\n'
    )
    (conf / "janus.transport.http.jcfg").write_text(
        'general: { json = "compact", base_path = "/janus", http = true,'
        f' port = {port}, ip = "127.0.0.1", https = false }}\n'
        "admin: { admin_http = false }\n"
    )
    (conf / "janus.plugin.videoroom.jcfg").write_text("general: { }\n")
    return conf / "janus.jcfg"


def start_janus(port: int, log: Path) -> tuple[subprocess.Popen[str], Path]:
    """Start Janus; returns the process and its configuration folder (removed by ``stop``)."""
    root = Path(tempfile.mkdtemp(prefix="relay-janus-"))
    config = write_config(root, port)
    process = subprocess.Popen(
        [JANUS, "-C", str(config), "-F", str(config.parent), "-o"],
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, root


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def janus_ready(url: str, process: subprocess.Popen[str], log: Path, limit: float = 20) -> None:
    """Wait until Janus answers its info request."""
    deadline = time.monotonic() + limit
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"janus exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/info", timeout=2) as response:
                if json.loads(response.read()).get("janus") == "server_info":
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"janus did not answer in {limit} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def create_rooms(url: str, count: int, publishers: int) -> list[JanusRoom]:
    """One videoroom per consult: VP8 and Opus, no bitrate cap (the clip is pre-encoded)."""
    session = _post(url, {"janus": "create", "transaction": "rooms"})["data"]["id"]
    handle = _post(f"{url}/{session}", {"janus": "attach", "plugin": VIDEOROOM, "transaction": "rooms"})[
        "data"
    ]["id"]
    rooms = []
    for index in range(count):
        room = FIRST_ROOM + index
        body = {
            "request": "create",
            "room": room,
            "publishers": publishers,
            "videocodec": "vp8",
            "audiocodec": "opus",
            "bitrate": 0,
            "notify_joining": False,
            "audiolevel_event": False,
        }
        answer = _post(f"{url}/{session}/{handle}", {"janus": "message", "transaction": "r", "body": body})
        data = answer.get("plugindata", {}).get("data", {})
        if data.get("videoroom") != "created":
            raise RuntimeError(f"janus did not create room {room}: {answer}")
        rooms.append(JanusRoom(url, room))
    _post(f"{url}/{session}", {"janus": "destroy", "transaction": "rooms"})
    return rooms


class JanusError(RuntimeError):
    pass


class JanusApi:
    """One Janus session over HTTP: requests, and the long poll that brings their events."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id = 0
        self._transactions = (f"t{n}" for n in itertools.count())
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poll: asyncio.Task[None] | None = None

    async def open(self) -> None:
        answer = await self._send(self.url, {"janus": "create"})
        self.session_id = int(answer["data"]["id"])
        self._poll = asyncio.ensure_future(self._poll_events())

    async def attach(self) -> int:
        answer = await self._send(f"{self.url}/{self.session_id}", {"janus": "attach", "plugin": VIDEOROOM})
        return int(answer["data"]["id"])

    async def request(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A plugin request; an asynchronous one is answered by the event carrying its transaction."""
        transaction = next(self._transactions)
        message: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = waiting
        try:
            answer = await self._post(f"{self.url}/{self.session_id}/{handle}", message)
            if answer.get("janus") == "success":
                return answer
            if answer.get("janus") != "ack":
                raise JanusError(f"janus refused {body['request']}: {answer}")
            event = await asyncio.wait_for(waiting, REQUEST_SECONDS)
        finally:
            self._waiting.pop(transaction, None)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(f"janus refused {body['request']}: {data}")
        return event

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        if self.session_id:
            try:
                await self._send(f"{self.url}/{self.session_id}", {"janus": "destroy"})
            except (TimeoutError, JanusError, aiohttp.ClientError):
                pass

    async def _send(self, url: str, message: dict[str, Any]) -> dict[str, Any]:
        answer = await self._post(url, {**message, "transaction": next(self._transactions)})
        if answer.get("janus") != "success":
            raise JanusError(f"janus refused {message['janus']}: {answer}")
        return answer

    async def _post(self, url: str, message: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(url, json=message, timeout=aiohttp.ClientTimeout(total=30)) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
        return answer

    async def _poll_events(self) -> None:
        """The long poll (also the session's keep-alive): hand each event to its request."""
        url = f"{self.url}/{self.session_id}?maxev=20"
        while True:
            try:
                async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=70)) as response:
                    events = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.2)
                continue
            for event in events if isinstance(events, list) else [events]:
                waiting = self._waiting.get(event.get("transaction", ""))
                if waiting is not None and not waiting.done() and event.get("janus") == "event":
                    waiting.set_result(event)


@dataclass
class JanusMember:
    """A participant in a Janus room: its own API session, a publisher handle if it publishes."""

    participant_id: str
    media: Participant
    api: JanusApi
    feed: int
    subscribed: set[int] = field(default_factory=set)
    subscriber_handle: int | None = None


@dataclass
class JanusConsult:
    """One consult's room on Janus and the participants in it."""

    consult_id: str
    room: JanusRoom
    members: list[JanusMember] = field(default_factory=list)

    @property
    def publishers(self) -> set[str]:
        return {m.participant_id for m in self.members if m.media.video is not None}

    async def add(self, http: aiohttp.ClientSession, participant_id: str, media: Participant) -> JanusMember:
        """Join (and publish, if ``media`` carries the clip) without subscribing yet."""
        api = JanusApi(http, self.room.url)
        await api.open()
        member = JanusMember(participant_id, media, api, feed=_feed_id(participant_id))
        self.members.append(member)
        if media.video is not None:
            handle = await api.attach()
            join = {
                "request": "join",
                "ptype": "publisher",
                "room": self.room.room,
                "id": member.feed,
                "display": participant_id,
            }
            await api.request(handle, join)
            offer = await media.publisher_offer()
            event = await api.request(handle, {"request": "publish", "audio": True, "video": True}, offer)
            await media.publisher_answered(event["jsep"])
            await _connected(media)
        return member

    async def subscribe(self, member: JanusMember) -> None:
        """Subscribe ``member`` to every other publisher's feed not yet subscribed, in one
        multistream subscription (a later call adds streams and answers Janus's new offer)."""
        feeds = {
            m.feed: m.participant_id
            for m in self.members
            if m is not member and m.media.video is not None and m.feed not in member.subscribed
        }
        if not feeds:
            return
        streams = [{"feed": feed} for feed in feeds]
        if member.subscriber_handle is None:
            member.subscriber_handle = await member.api.attach()
            body = {"request": "join", "ptype": "subscriber", "room": self.room.room, "streams": streams}
        else:
            body = {"request": "subscribe", "streams": streams}
        event = await member.api.request(member.subscriber_handle, body)
        member.subscribed |= set(feeds)
        data = event["plugindata"]["data"]
        tracks = {
            str(stream["mid"]): {"participant_id": str(stream.get("feed_display")), "kind": stream["type"]}
            for stream in data.get("streams", [])
            if stream.get("type") in ("audio", "video") and stream.get("active", True)
        }
        answer = await member.media.answer_offer(
            {"sdp": event["jsep"]["sdp"], "tracks": tracks, "revision": 0}
        )
        await member.api.request(
            member.subscriber_handle, {"request": "start"}, {"type": "answer", "sdp": answer["sdp"]}
        )

    async def close(self) -> None:
        for member in self.members:
            member.media.hanging_up = True
            await member.api.close()
            await member.media.close()


async def _connected(media: Participant, limit: float = 20) -> None:
    """Janus knows a feed only once its publisher's connection is up: wait for it."""
    deadline = time.monotonic() + limit
    while media.publisher.connectionState != "connected":
        if time.monotonic() > deadline:
            raise TimeoutError("the publisher did not connect to janus")
        await asyncio.sleep(0.02)


def _feed_id(participant_id: str) -> int:
    """Janus feeds are numbers; ours are strings that end in a number unique in the process."""
    return int(participant_id.rsplit("-", 1)[1])


def remove_config(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
