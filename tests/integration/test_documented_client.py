"""A client written only from docs/protocol.md and docs/api.md runs a whole consult.

Nothing here comes from the server's code: the REST calls, socket events and payload fields are
the documented ones, and the last test checks that every event name and field this client uses
is written in those two documents. Real python-socketio clients, real aiohttp requests and real
aiortc peers talk to a real server (media in its worker processes).

The story: a nurse signs in and books a patient; the patient opens the link, checks in; the nurse
admits them; both publish camera and microphone and each receives the other; the nurse invites an
observing specialist who has neither and joins receive-only; the nurse ends; everyone hears it.
"""

from __future__ import annotations

import asyncio
import fractions
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import aioice.ice
import numpy as np
import pytest
import socketio
from aiohttp.test_utils import TestServer
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from av import VideoFrame

from media.ice import restrict_host_addresses
from rooms.roles import Role
from rooms.staff import StaffMember
from web.app import SERVICES, create_app
from web.config import Settings

ROOT = Path(__file__).resolve().parents[2]
MONDAY_0950 = datetime(2026, 3, 2, 15, 50, tzinfo=UTC)  # 09:50 in Mexico City: service hours
NURSE_PASSWORD = "documented-client-pw-123"
RED, BLUE = (220, 30, 30), (30, 30, 220)

EVENTS_USED: set[str] = set()
SOCKET_FIELDS_USED: set[str] = set()
REST_FIELDS_USED: set[str] = set()


def field(data: Any, name: str, used: set[str] = SOCKET_FIELDS_USED) -> Any:
    """Read one documented field, remembering its name for the check against the docs."""
    used.add(name)
    return data[name]


def rest(data: Any, name: str) -> Any:
    return field(data, name, REST_FIELDS_USED)


class Picture(VideoStreamTrack):
    """A camera showing one colour, so a receiver can tell whose picture it got."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__()
        self._frame = np.full((240, 320, 3), rgb, dtype=np.uint8)

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self._frame, format="rgb24")
        frame.pts, frame.time_base = pts, fractions.Fraction(time_base)
        return frame


class Person:
    """One page: a socket.io connection plus the two media connections protocol.md describes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.heard: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()
        self.ice_servers: list[dict[str, Any]] = []
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        self._negotiation = asyncio.Lock()
        self.offered_tracks: list[dict[str, Any]] = []
        self.frames: Counter[tuple[str, str]] = Counter()
        self.colours: dict[str, tuple[float, float, float]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._counted: set[int] = set()
        for event in ("consult:state", "consult:ended", "error"):
            self.listen(event)
        self.listen("media:subscriber_offer", self._answer_subscriber_offer)

    def listen(self, event: str, then: Callable[[Any], Any] | None = None) -> None:
        EVENTS_USED.add(event)

        async def heard(data: Any = None) -> None:
            async with self._changed:
                self.heard.append((event, data))
                self._changed.notify_all()
            if then is not None:
                await then(data)

        self.sio.on(event, heard)

    async def connect(self, url: str, *, token: str | None = None, cookie: str | None = None) -> None:
        await self.sio.connect(
            url,
            auth={"token": token} if token else None,
            headers={"Cookie": f"tc_session={cookie}"} if cookie else {},
            transports=["websocket"],
            wait_timeout=10,
        )

    async def send(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Emit with an acknowledgement; a refusal fails the test with the documented error."""
        EVENTS_USED.add(event)
        SOCKET_FIELDS_USED.update(payload)
        reply: dict[str, Any] = await self.sio.call(event, payload, timeout=30)
        assert field(reply, "ok") is True, (self.name, event, reply)
        return reply

    async def wait_for(self, event: str, check: Callable[[Any], bool] = lambda _: True) -> Any:
        async def seen() -> Any:
            async with self._changed:
                while True:
                    for name, data in self.heard:
                        if name == event and check(data):
                            return data
                    await self._changed.wait()

        return await asyncio.wait_for(seen(), 30)

    async def hello(self) -> dict[str, Any]:
        reply = await self.send("hello", {})
        self.ice_servers = field(reply, "ice_servers")
        return reply

    def _configuration(self) -> RTCConfiguration:
        # protocol.md: every media line of a connection on one transport (max-bundle).
        servers = [RTCIceServer(**server) for server in self.ice_servers]
        return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)

    async def publish(self, rgb: tuple[int, int, int]) -> None:
        """Publishing connection: one sendonly transceiver per source, named in ``sources``."""
        await self._fresh_media()
        self.publisher = RTCPeerConnection(self._configuration())
        camera = self.publisher.addTransceiver(Picture(rgb), "sendonly")
        microphone = self.publisher.addTransceiver(AudioStreamTrack(), "sendonly")
        # aiortc gathers every candidate before this returns, so the offer holds them all and no
        # media:candidate is needed (protocol.md: trickling is for what comes later).
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        reply = await self.send(
            "media:offer",
            {
                "type": "offer",
                "sdp": self.publisher.localDescription.sdp,
                "sources": {camera.mid: "camera", microphone.mid: "microphone"},
            },
        )
        answer = field(reply, "answer")
        await self.publisher.setRemoteDescription(
            RTCSessionDescription(sdp=field(answer, "sdp"), type=field(answer, "type"))
        )

    async def watch_and_listen(self) -> None:
        """No camera, no microphone: join receive-only."""
        await self._fresh_media()
        await self.send("media:subscribe", {})

    async def _fresh_media(self) -> None:
        # protocol.md: after media:offer or media:subscribe the next subscriber offer is for a new
        # server connection, so the old subscribing connection goes first.
        async with self._negotiation:
            if self.subscriber is not None:
                await self.subscriber.close()
            self.subscriber = None

    async def _answer_subscriber_offer(self, offer: dict[str, Any]) -> None:
        async with self._negotiation:
            if self.subscriber is None:
                self.subscriber = RTCPeerConnection(self._configuration())
            tracks = field(offer, "tracks")
            self.offered_tracks.append(tracks)
            await self.subscriber.setRemoteDescription(
                RTCSessionDescription(sdp=field(offer, "sdp"), type=field(offer, "type"))
            )
            await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
            for transceiver in self.subscriber.getTransceivers():
                line = tracks.get(transceiver.mid)
                track = transceiver.receiver.track
                if line is not None and id(track) not in self._counted:
                    self._counted.add(id(track))
                    whose, kind = field(line, "participant_id"), field(line, "kind")
                    field(line, "source")
                    self._tasks.append(asyncio.ensure_future(self._count(track, whose, kind)))
            answer = {
                "type": "answer",
                "sdp": self.subscriber.localDescription.sdp,
                "revision": field(offer, "revision"),
            }
        await self.send("media:subscriber_answer", answer)

    async def _count(self, track: MediaStreamTrack, whose: str, kind: str) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames[(whose, kind)] += 1
                if kind == "video" and self.frames[(whose, kind)] % 10 == 1:
                    rgb = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
                    self.colours[whose] = (float(rgb[0]), float(rgb[1]), float(rgb[2]))
        except MediaStreamError:
            return

    async def received(self, whose: str, frames: int = 20) -> None:
        """Wait until this page has played ``frames`` audio and video frames from ``whose``."""

        async def enough() -> None:
            while min(self.frames[(whose, "audio")], self.frames[(whose, "video")]) < frames:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(enough(), 40)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for connection in (self.publisher, self.subscriber):
            if connection is not None:
                await connection.close()
        await self.sio.disconnect()


def _near(rgb: tuple[float, float, float] | None, expected: tuple[int, int, int]) -> bool:
    return rgb is not None and all(abs(a - b) < 45 for a, b in zip(rgb, expected, strict=True))


def _entry(consult: dict[str, Any], participant_id: str) -> dict[str, Any]:
    return next(p for p in field(consult, "participants") if field(p, "participant_id") == participant_id)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])  # this test's own peers
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"documented-client-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_host_addresses=("127.0.0.1",),
    )
    app = create_app(settings, clock=lambda: MONDAY_0950)
    services = app[SERVICES]
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()  # the record database is migrated: accounts live there
    # Accounts are made by operators, not through the API: the one step outside the docs.
    await services.stores.staff.add(
        StaffMember(
            "s-ana", "ana", "Enf. Ana Ruiz", Role.NURSE, "UMF-1", services.auth.hash_password(NURSE_PASSWORD)
        )
    )
    try:
        yield str(test_server.make_url("")).rstrip("/")
    finally:
        await test_server.close()
        aioice.ice.get_host_addresses = original


async def test_a_client_written_from_the_docs_runs_a_whole_consult(server: str) -> None:
    async with aiohttp.ClientSession() as http:
        # docs/api.md: sign in, find a free slot, book.
        async with http.post(
            f"{server}/api/session", json={"username": "ana", "password": NURSE_PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
            cookie = response.cookies["tc_session"].value
            me = await response.json()
        unit = rest(me, "unit")
        async with http.get(
            f"{server}/api/slots", params={"unit": unit, "date": "2026-03-02", "zone": "America/Mexico_City"}
        ) as response:
            assert response.status == 200
            slot = rest(await response.json(), "slots")[0]
        booking = {
            "unit": unit,
            "start": rest(slot, "start"),
            "kind": "first",
            "patient": {
                "nss": "92919084431",
                "name": "Lucía Hernández",
                "birth_date": "1985-04-12",
                "phone": "+52 55 1234 5678",
                "time_zone": "America/Mexico_City",
            },
        }
        REST_FIELDS_USED.update(booking, booking["patient"])
        async with http.post(
            f"{server}/api/appointments", json=booking, headers={"Cookie": f"tc_session={cookie}"}
        ) as response:
            assert response.status == 201, await response.text()
            booked = await response.json()
    link = rest(booked, "patient_link")
    consult_id = rest(rest(booked, "appointment"), "consult_id")
    patient_token = parse_qs(urlsplit(link).fragment)["t"][0]

    patient, nurse, observer = Person("patient"), Person("nurse"), Person("observer")
    try:
        await patient.connect(server, token=patient_token)
        hello = await patient.hello()
        patient_id = field(hello, "participant_id")
        assert field(hello, "role") == "patient"
        assert field(field(hello, "consult"), "consult_id") == consult_id
        waiting = await patient.send("lobby:check_in", {"consent": True})
        assert field(field(waiting, "consult"), "state") == "waiting"

        await nurse.connect(server, cookie=cookie)
        nurse_hello = await nurse.hello()
        nurse_id = field(nurse_hello, "participant_id")
        assert consult_id in [field(c, "consult_id") for c in field(nurse_hello, "queue")]
        admitted = field(await nurse.send("lobby:admit", {"consult_id": consult_id}), "consult")
        assert field(admitted, "state") == "live"
        assert field(admitted, "host_name") == "Enf. Ana Ruiz"
        assert field(_entry(admitted, nurse_id), "name") == "Enf. Ana Ruiz"
        await patient.wait_for("consult:state", lambda d: field(field(d, "consult"), "state") == "live")

        await patient.publish(RED)
        await nurse.publish(BLUE)
        await patient.received(nurse_id)
        await nurse.received(patient_id)
        assert _near(patient.colours.get(nurse_id), BLUE) and _near(nurse.colours.get(patient_id), RED)

        invited = await nurse.send("consult:invite", {"role": "observer", "name": "Dra. Paz Observa"})
        observer_id = field(field(invited, "invitee"), "participant_id")
        await observer.connect(server, token=field(invited, "token"))
        assert field(await observer.hello(), "role") == "observer"
        await observer.watch_and_listen()
        await observer.received(nurse_id)
        await observer.received(patient_id)
        assert _near(observer.colours.get(nurse_id), BLUE) and _near(observer.colours.get(patient_id), RED)
        # The others see the observer listed without a picture, and are offered no media of theirs.
        for person in (patient, nurse):
            state = await person.wait_for(
                "consult:state",
                lambda d: (
                    observer_id in field(field(d, "consult"), "in_call")
                    and field(_entry(field(d, "consult"), observer_id), "receive_only") is True
                ),
            )
            assert field(_entry(field(state, "consult"), patient_id), "receive_only") is False
        await nurse.received(patient_id, frames=nurse.frames[(patient_id, "video")] + 20)
        for person in (patient, nurse):
            whose = {
                field(line, "participant_id") for tracks in person.offered_tracks for line in tracks.values()
            }
            assert observer_id not in whose, person.name

        ended = field(await nurse.send("consult:end", {"consult_id": consult_id}), "consult")
        assert field(ended, "state") == "ended"
        for person in (patient, observer):
            notice = await person.wait_for("consult:ended")
            assert field(notice, "consult_id") == consult_id
            assert field(notice, "reason") == "ended_by_host"
            assert field(notice, "ended_at")
    finally:
        for person in (observer, nurse, patient):
            await person.close()
    _check_everything_used_is_documented()


def _documented(text: str, name: str) -> bool:
    """``name`` as a whole word inside a code span (``409 slot_taken``, ``media:offer``, ``"sdp"``).

    Spans are paired left to right, as Markdown does; a span may run over a line break.
    """
    word = re.compile(rf"(?<![\w:]){re.escape(name)}(?![\w:])")
    return any(word.search(span) for span in re.findall(r"`([^`]+)`", text))


def _check_everything_used_is_documented() -> None:
    assert {"media:offer", "media:subscribe", "media:subscriber_answer"} <= EVENTS_USED
    assert {"sdp", "revision", "tracks", "receive_only"} <= SOCKET_FIELDS_USED
    protocol = (ROOT / "docs/protocol.md").read_text(encoding="utf-8")
    api = (ROOT / "docs/api.md").read_text(encoding="utf-8")
    assert [event for event in sorted(EVENTS_USED) if not _documented(protocol, event)] == []
    assert [name for name in sorted(SOCKET_FIELDS_USED) if not _documented(protocol, name)] == []
    assert [name for name in sorted(REST_FIELDS_USED) if not _documented(api, name)] == []


async def test_a_page_on_another_site_cannot_open_a_socket(server: str) -> None:
    """protocol.md: a foreign ``Origin`` is refused before socket.io answers; a browser always
    sends one, so another site's page never gets a socket with the nurse's cookie. The server's
    own origin, and a program that sends none, are accepted and authenticate as anyone does."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server}/api/session", json={"username": "ana", "password": NURSE_PASSWORD}
        ) as response:
            cookie = response.cookies["tc_session"].value

    async def role_when_connecting(origin: str | None) -> str:
        client = socketio.AsyncClient(reconnection=False)
        headers = {"Cookie": f"tc_session={cookie}", **({"Origin": origin} if origin else {})}
        try:
            await client.connect(server, headers=headers, transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            return "refused"
        try:
            return str((await client.call("hello", {}, timeout=10))["role"])
        finally:
            await client.disconnect()

    assert await role_when_connecting("https://evil.example") == "refused"
    assert await role_when_connecting(server.replace("127.0.0.1", "localhost")) == "refused"
    assert await role_when_connecting(server) == "nurse"
    assert await role_when_connecting(None) == "nurse"
