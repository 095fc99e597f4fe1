"""The commands a load-generating process runs: open consults, add invitees, time a late joiner,
report what was sent and received around a window, end consults.

Each consult goes through the product's real steps (staff login, patient check-in, admission,
``media:offer``), so the server does all the work it would for browsers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import socketio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.aiortc_seam import ReceiverTap

from .clip import Clip, load_clip
from .counting import ClientReport, DecodeErrors, StreamCount, StreamReport
from .janus import JanusConsult, JanusRoom
from .participant import Participant, connect
from .server import Appointment
from .sources import LoopedVideo, forward_keyframe_requests


@dataclass(frozen=True)
class LateJoin:
    """Seconds from a late joiner's ``media:offer`` to each step, and its decode errors."""

    first_frame_s: float  # a decoded frame from every publisher
    answer_s: float
    subscriber_offer_s: float
    connected_s: float
    first_packet_s: float
    complete_frame_s: float  # a complete frame (RTP level) from every publisher
    decode_errors: int
    fps_after_first_frame: float  # decoded frames per second of its slowest publisher, next 5 s


LATE_WATCH_S = 5.0
"""How long a late joiner keeps decoding after its first frame, to see it keep up."""


@dataclass
class Member:
    participant_id: str
    sio: socketio.AsyncClient
    media: Participant


@dataclass
class Session:
    url: str
    consult_id: str
    nurse: Member
    members: list[Member] = field(default_factory=list)

    @property
    def publishers(self) -> set[str]:
        return {m.participant_id for m in self.members if m.media.video is not None}


@dataclass
class DirectPair:
    """A publisher and a subscriber peer connected directly: the reference path, no server."""

    sender: RTCPeerConnection
    receiver: RTCPeerConnection
    video: LoopedVideo
    count: StreamCount


def expect_ok(reply: dict[str, object], what: str) -> dict[str, object]:
    if not reply.get("ok"):
        raise RuntimeError(f"{what} was refused: {reply}")
    return reply


async def hello(sio: socketio.AsyncClient) -> str:
    """The participant id the server gives this connection."""
    return str(expect_ok(await sio.call("hello", {}, timeout=30), "hello")["participant_id"])


class LoadClient:
    """Runs the commands the orchestrator sends over the pipe, one at a time."""

    def __init__(self, index: int, errors: DecodeErrors) -> None:
        self.index = index
        self.errors = errors
        self.clip: Clip | None = None
        self.sessions: dict[str, Session | JanusConsult] = {}
        self.direct: DirectPair | None = None
        self._seed = index * 1000
        self._janus_ids = itertools.count(index * 100_000 + 1)
        self._http: aiohttp.ClientSession | None = None
        self._errors_reported = 0

    def _new_decode_errors(self) -> int:
        """Decode errors since the last time this was asked."""
        new = self.errors.count - self._errors_reported
        self._errors_reported = self.errors.count
        return new

    def _next_seed(self) -> int:
        self._seed += 1
        return self._seed

    async def load(self, path: str, direct: bool) -> float:
        self.clip = load_clip(Path(path))
        if direct:
            await self._start_direct()
        return self.clip.video_kbps

    async def _start_direct(self) -> None:
        assert self.clip is not None
        sender_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        receiver_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        video = LoopedVideo(self.clip, self._next_seed())
        transceiver = sender_pc.addTransceiver(video, "sendonly")
        forward_keyframe_requests(transceiver.sender, video)
        count = StreamCount("direct-subscriber", "direct", "video")

        async def sink(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            count.on_packet(packet)

        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        receiver: RTCRtpReceiver = receiver_pc.getTransceivers()[0].receiver
        ReceiverTap(receiver, sink).install()
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        self.direct = DirectPair(sender_pc, receiver_pc, video, count)

    def _participant(self, participant_id: str, publish: bool, decoding: bool) -> Participant:
        return Participant(
            participant_id, self.clip if publish else None, decoding=decoding, seed=self._next_seed()
        )

    async def open_consult(
        self, spec: Appointment | JanusRoom, patient_publishes: bool, patient_decodes: bool
    ) -> str:
        """Staff login, patient check-in, admission, then both join the call (on Janus: both join
        the consult's room, publish, and subscribe to each other)."""
        if isinstance(spec, JanusRoom):
            return await self._open_janus(spec, patient_publishes, patient_decodes)
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{spec.url}/api/session", json={"username": spec.username, "password": spec.password}
            )
            if response.status != 200:
                raise RuntimeError(f"login failed: {response.status} {await response.text()}")
            cookie = response.cookies["tc_session"].value
        nurse_sio = await connect(spec.url, cookie=cookie)
        patient_sio = await connect(spec.url, token=spec.token)
        nurse_id, patient_id = await hello(nurse_sio), await hello(patient_sio)
        expect_ok(await patient_sio.call("lobby:check_in", {"consent": True}, timeout=30), "check-in")
        expect_ok(
            await nurse_sio.call("lobby:admit", {"consult_id": spec.consult_id}, timeout=30), "admission"
        )
        nurse = Member(nurse_id, nurse_sio, self._participant(nurse_id, True, False))
        patient = Member(
            patient_id, patient_sio, self._participant(patient_id, patient_publishes, patient_decodes)
        )
        session = Session(spec.url, spec.consult_id, nurse, [nurse, patient])
        self.sessions[session.consult_id] = session
        await asyncio.gather(*(self._join(m) for m in session.members))
        await self._flowing(session)
        return session.consult_id

    def _janus_id(self) -> str:
        """A participant id unique across the client processes (Janus feeds are numbers)."""
        return f"janus-{next(self._janus_ids)}"

    async def _open_janus(self, room: JanusRoom, patient_publishes: bool, patient_decodes: bool) -> str:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        consult = JanusConsult(f"janus-room-{room.room}", room)
        self.sessions[consult.consult_id] = consult
        nurse_id, patient_id = self._janus_id(), self._janus_id()
        await consult.add(self._http, nurse_id, self._participant(nurse_id, True, False))
        await consult.add(
            self._http, patient_id, self._participant(patient_id, patient_publishes, patient_decodes)
        )
        await asyncio.gather(*(consult.subscribe(m) for m in consult.members))
        await self._flowing(consult)
        return consult.consult_id

    async def _join(self, member: Member) -> None:
        expect_ok(await member.media.join(member.sio), "media:offer")

    async def _flowing(self, session: Session | JanusConsult, limit: float = 30) -> None:
        """Wait until every member receives complete video frames from every other publisher."""
        deadline = time.monotonic() + limit
        while True:
            if all(
                m.media.receiving_video_from(session.publishers - {m.participant_id}) for m in session.members
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"media did not flow in consult {session.consult_id}")
            await asyncio.sleep(0.05)

    async def _invitee(self, session: Session, role: str, name: str) -> tuple[str, socketio.AsyncClient]:
        reply = await session.nurse.sio.call("consult:invite", {"role": role, "name": name}, timeout=30)
        token = str(expect_ok(reply, "invitation")["token"])
        sio = await connect(session.url, token=token)
        return await hello(sio), sio

    async def add_invitees(self, consult_id: str, count: int) -> None:
        """Receive-only invitees (companions) join the consult; they count and do not decode."""
        session = self.sessions[consult_id]
        if isinstance(session, JanusConsult):
            await self._add_janus_invitees(session, count)
            return
        new: list[Member] = []
        for _ in range(count):
            participant_id, sio = await self._invitee(
                session, "companion", f"Acompañante {len(session.members)}"
            )
            new.append(Member(participant_id, sio, self._participant(participant_id, False, False)))
        session.members.extend(new)
        await asyncio.gather(*(self._join(m) for m in new))
        await self._flowing(session)

    async def _add_janus_invitees(self, consult: JanusConsult, count: int) -> None:
        assert self._http is not None
        for _ in range(count):
            participant_id = self._janus_id()
            member = await consult.add(
                self._http, participant_id, self._participant(participant_id, False, False)
            )
            await consult.subscribe(member)
        await self._flowing(consult)

    async def late_join(self, consult_id: str) -> LateJoin:
        """An interpreter joins a running consult and decodes; timed from its ``media:offer``."""
        session = self.sessions[consult_id]
        assert isinstance(session, Session), "late joiners are timed on our server only"
        participant_id, sio = await self._invitee(session, "interpreter", "Intérprete")
        media = self._participant(participant_id, False, True)
        publishers = session.publishers
        self._new_decode_errors()
        started = time.monotonic()
        await self._join(Member(participant_id, sio, media))
        answered = time.monotonic()
        decoded: dict[str, float] = {}
        connected = started
        deadline = started + 20
        while len(decoded) < len(publishers):
            now = time.monotonic()
            if connected == started and media.subscriber and media.subscriber.connectionState == "connected":
                connected = now
            for publisher in publishers - set(decoded):
                if media.decoded.get(publisher):
                    decoded[publisher] = now
            if now > deadline:
                raise TimeoutError("the late joiner decoded nothing in 20 s")
            await asyncio.sleep(0.002)
        video = [s for s in media.streams.values() if s.kind == "video"]
        first_packet = min((s.first_packet_at for s in video if s.first_packet_at), default=started)
        first_complete = max(s.frames[0][1] for s in video if s.frames) if video else started
        # Then decode for a while: a joiner whose video the server paused, or whose decoder
        # starved, shows here as a frame rate below the publishers' own.
        counted = {publisher: media.decoded.get(publisher, 0) for publisher in publishers}
        await asyncio.sleep(LATE_WATCH_S)
        fps = min((media.decoded.get(p, 0) - counted[p]) / LATE_WATCH_S for p in publishers)
        figures = LateJoin(
            first_frame_s=max(decoded.values()) - started,
            answer_s=answered - started,
            subscriber_offer_s=(media.first_offer_at or started) - started,
            connected_s=connected - started,
            first_packet_s=first_packet - started,
            complete_frame_s=first_complete - started,
            decode_errors=self._new_decode_errors(),
            fps_after_first_frame=fps,
        )
        media.hanging_up = True
        await sio.call("consult:leave", {}, timeout=30)
        await media.close()
        await sio.disconnect()
        return figures

    async def end_consults(self, consult_ids: list[str] | None = None) -> None:
        """The nurse ends each consult (all of them by default); everyone hangs up."""
        for session in [
            s for s in self.sessions.values() if consult_ids is None or s.consult_id in consult_ids
        ]:
            del self.sessions[session.consult_id]
            if isinstance(session, JanusConsult):
                await session.close()
                continue
            for member in session.members:
                member.media.hanging_up = True
            try:
                await session.nurse.sio.call("consult:end", {"consult_id": session.consult_id}, timeout=30)
            except Exception:
                logging.getLogger(__name__).warning("ending consult %s failed", session.consult_id)
            for member in session.members:
                await member.media.close()
                await member.sio.disconnect()

    async def report(self, since: float, until: float) -> ClientReport:
        """Frames sent and received around a window: publishers from 1 s before it (to identify
        frames), subscribers until ``GRACE`` after it."""
        publishers: dict[str, list[tuple[int, float]]] = {}
        audio_sent: dict[str, int] = {}
        streams: list[StreamReport] = []
        members = [m for s in self.sessions.values() for m in s.members]
        for member in members:
            media = member.media
            if media.video is not None and media.audio is not None:
                publishers[member.participant_id] = [
                    (pts, t) for pts, t in media.video.sent if since - 1 <= t <= until
                ]
                media.video.sent = [(pts, t) for pts, t in media.video.sent if t > until - 2]
                audio_sent[member.participant_id] = sum(1 for t in media.audio.sent if since <= t <= until)
                media.audio.sent = [t for t in media.audio.sent if t > until - 2]
            for stream in media.streams.values():
                streams.append(stream.take(since, until))
        if self.direct is not None:
            video = self.direct.video
            publishers["direct"] = [(pts, t) for pts, t in video.sent if since - 1 <= t <= until]
            video.sent = [(pts, t) for pts, t in video.sent if t > until - 2]
            streams.append(self.direct.count.take(since, until))
        return ClientReport(
            publishers=publishers,
            audio_sent=audio_sent,
            streams=streams,
            decode_errors=self._new_decode_errors(),
            tap_errors=sum(tap.errors for m in members for tap in m.media.taps),
        )

    async def close(self) -> None:
        await self.end_consults()
        if self._http is not None:
            await self._http.close()
        if self.direct is not None:
            await self.direct.sender.close()
            await self.direct.receiver.close()
