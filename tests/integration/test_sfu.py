"""The SFU with real aiortc participants, in-process: who receives what, caps, and bad offers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import numpy as np
import pytest

from media.adaptation import LinkReading
from media.backend import MediaError, MediaEvent, MediaEventKind, SessionDescription
from media.forwarding import Forwarding, ReencodingForwarding
from media.ice import IceSettings, restrict_host_addresses
from media.link_policy import DATA_SAVER_VIDEO_BPS, MAX_CAMERA_BPS, MIN_CAMERA_BPS
from media.rtp_forwarding import Forwarder
from media.sfu import SfuBackend
from tests.support.clients import MediaClient
from tests.support.red_sender import TONE_HZ, RedPublisher, first_audio_payload

COLORS = {"a": (200, 30, 30), "b": (30, 200, 30), "c": (30, 30, 200)}


@dataclass
class Room:
    sfu: SfuBackend
    clients: dict[str, MediaClient] = field(default_factory=dict)
    events: list[MediaEvent] = field(default_factory=list)

    async def join(self, name: str) -> MediaClient:
        client = self.clients[name] = MediaClient(COLORS.get(name, (90, 90, 90)))
        offer = await client.offer()
        answer = await self.sfu.connect(
            "room", name, SessionDescription(offer["sdp"], "offer"), offer["sources"]
        )
        await client.accept({"sdp": answer.sdp, "type": answer.type})
        return client

    async def wait(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        async def satisfied() -> None:
            while not condition():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(satisfied(), timeout)


def tone_share(samples: np.ndarray[Any, np.dtype[np.float64]], hz: float, rate: int = 48000) -> float:
    """The share of a frame's energy within 100 Hz of ``hz``."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / rate)
    return float(spectrum[np.abs(frequencies - hz) <= 100].sum() / max(spectrum.sum(), 1e-9))


def _near(rgb: tuple[float, float, float] | None, expected: tuple[int, int, int]) -> bool:
    return rgb is not None and all(abs(a - b) < 45 for a, b in zip(rgb, expected, strict=True))


@pytest.fixture(params=["packet", "reencode"])
async def room(request: pytest.FixtureRequest) -> AsyncIterator[Room]:
    async with open_room(Forwarder if request.param == "packet" else ReencodingForwarding) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_room(
    forwarding: Callable[[], Forwarding], quality_interval: float = 0.5
) -> AsyncIterator[Room]:
    original = aioice.ice.get_host_addresses
    restrict_host_addresses(["127.0.0.1"])
    holder: list[Room] = []

    async def listener(event: MediaEvent) -> None:
        current = holder[0]
        current.events.append(event)
        if event.kind is MediaEventKind.SUBSCRIBER_OFFER and event.participant_id in current.clients:
            answer = await current.clients[event.participant_id].answer_offer(dict(event.data))
            await current.sfu.subscriber_answer(
                event.room_id,
                event.participant_id,
                SessionDescription(answer["sdp"], "answer"),
                answer["revision"],
            )

    holder.append(Room(SfuBackend(IceSettings(), listener, forwarding, quality_interval=quality_interval)))
    try:
        yield holder[0]
    finally:
        for client in holder[0].clients.values():
            await client.close()
        await holder[0].sfu.close()
        aioice.ice.get_host_addresses = original


async def test_everyone_receives_everyone_else_and_a_leaver_is_dropped(room: Room) -> None:
    for name in ("a", "b", "c"):
        await room.join(name)
    for name, client in room.clients.items():
        for other in set(room.clients) - {name}:
            await client.wait_for_media(video_frames=10, audio_frames=10, participant=other)
            assert _near(client.by_participant[other].last_rgb, COLORS[other]), (name, other)
    await room.sfu.disconnect("room", "c")
    # The others get a new offer in which c's media lines are inactive.
    for name in ("a", "b"):
        await room.wait(
            lambda n=name: all(  # type: ignore[misc]
                info["participant_id"] != "c" for info in room.clients[n].offers[-1]["tracks"].values()
            )
        )


async def test_audio_only_stops_video_to_that_participant_only(room: Room) -> None:
    a, b = await room.join("a"), await room.join("b")
    await a.wait_for_media(video_frames=5, audio_frames=5)
    await room.sfu.set_receive("room", "a", video=False)
    await room.wait(lambda: {i["kind"] for i in a.offers[-1]["tracks"].values()} == {"audio"})
    frozen = a.received.video_frames
    audio = a.received.audio_frames
    await room.wait(lambda: a.received.audio_frames > audio + 50)
    assert a.received.video_frames <= frozen + 2  # at most what was already in flight
    await b.wait_for_media(video_frames=b.received.video_frames + 20, audio_frames=0)  # b still gets video
    await room.sfu.set_receive("room", "a", video=True)
    await a.wait_for_media(video_frames=frozen + 20, audio_frames=0)


async def test_forwarded_publishers_are_capped_at_their_weakest_subscriber() -> None:
    # Only forwarded media needs this: with re-encoding, aiortc's own encoder follows REMB.
    async with open_room(Forwarder) as room:
        await room.join("a")
        await room.join("b")
        await room.wait(
            lambda: {e.participant_id for e in room.events if e.kind is MediaEventKind.BITRATE} == {"a", "b"}
        )
        caps = [e for e in room.events if e.kind is MediaEventKind.BITRATE]
        assert {e.data["source"] for e in caps} == {"camera"}
        assert all(MIN_CAMERA_BPS <= int(str(e.data["max_bitrate_bps"])) <= MAX_CAMERA_BPS for e in caps)


async def test_absurd_offers_are_refused_and_the_room_carries_on(room: Room) -> None:
    a, b = await room.join("a"), await room.join("b")
    unsigned = MediaClient((1, 1, 1))
    absurd = [
        "v=0\r\n" + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" * 200,
        "not sdp at all",
        (await unsigned.offer())["sdp"].replace("a=fingerprint", "a=fingerprinx"),
    ]
    await unsigned.close()
    for sdp in absurd:
        with pytest.raises(MediaError) as caught:
            await room.sfu.connect("room", "mallory", SessionDescription(sdp, "offer"))
        assert caught.value.code.value == "bad_sdp"
    frames = a.received.video_frames
    await a.wait_for_media(video_frames=frames + 20, audio_frames=0)
    assert "mallory" not in room.sfu._rooms["room"].participants
    assert b.received.video_frames > 0


@pytest.mark.parametrize("forwarding", [Forwarder, ReencodingForwarding])
async def test_a_bad_link_pauses_incoming_video_and_keeps_audio(forwarding: Callable[[], Forwarding]) -> None:
    # The test feeds the quality levels itself, so the room's own measurement must stay out of it.
    async with open_room(forwarding, quality_interval=3600) as room:
        await _pause_and_resume(room)


async def _pause_and_resume(room: Room) -> None:
    a, _ = await room.join("a"), await room.join("b")
    await a.wait_for_media(video_frames=10, audio_frames=10)
    sfu_room = room.sfu._rooms["room"]
    participant = sfu_room.participants["a"]
    for _ in range(5):  # a window of samples at 30 % loss
        await room.sfu._links.protect_audio(sfu_room, participant, LinkReading(loss_pct=30.0))
    paused = [e for e in room.events if e.kind is MediaEventKind.VIDEO_PAUSED]
    assert [e.data["paused"] for e in paused] == [True]
    frozen, audio = a.received.video_frames, a.received.audio_frames
    await room.wait(lambda: a.received.audio_frames > audio + 50)
    assert a.received.video_frames <= frozen + 3  # only what was already in flight
    await room.sfu._links.protect_audio(sfu_room, participant, LinkReading(loss_pct=0.0, rtt_ms=20.0))
    assert [e.data["paused"] for e in room.events if e.kind is MediaEventKind.VIDEO_PAUSED] == [True, False]
    await a.wait_for_media(video_frames=frozen + 20, audio_frames=0)


async def test_data_saver_caps_what_that_participant_watches_and_lifts_it_after() -> None:
    async with open_room(Forwarder) as room:
        a, _ = await room.join("a"), await room.join("b")
        await a.wait_for_media(video_frames=5, audio_frames=5)

        def last_cap(publisher: str) -> int | None:
            caps = [
                e for e in room.events if e.kind is MediaEventKind.BITRATE and e.participant_id == publisher
            ]
            return int(str(caps[-1].data["max_bitrate_bps"])) if caps else None

        await room.sfu.set_receive("room", "a", video=True, data_saver=True)
        # b's camera is what a watches: it is capped at the data-saver figure; a's own camera is not.
        await room.wait(lambda: last_cap("b") == DATA_SAVER_VIDEO_BPS)
        assert (last_cap("a") or MAX_CAMERA_BPS) > DATA_SAVER_VIDEO_BPS
        frames = a.received.video_frames
        await a.wait_for_media(video_frames=frames + 10, audio_frames=0)  # video goes on, unlike audio only

        await room.sfu.set_receive("room", "a", video=True, data_saver=False)
        await room.wait(lambda: (last_cap("b") or 0) > DATA_SAVER_VIDEO_BPS)


async def test_red_audio_reaches_a_subscriber_without_red_as_opus(
    room: Room, request: pytest.FixtureRequest
) -> None:
    """A publisher that offers RED (as Chromium does) is answered with RED first and sends it; an
    aiortc subscriber, which cannot answer RED, hears the primary Opus frames. The re-encoding SFU
    decodes with aiortc, so it never answers RED and the publisher sends plain Opus."""
    forwards_packets = request.node.callspec.params["room"] == "packet"
    listener = await room.join("b")
    publisher = RedPublisher()
    try:
        offer = await publisher.offer()
        answer = await room.sfu.connect(
            "room",
            "a",
            SessionDescription(str(offer["sdp"]), "offer"),
            dict(offer["sources"]),  # type: ignore[call-overload]
        )
        payload_type, codec = first_audio_payload(answer.sdp)
        if forwards_packets:
            assert (payload_type, codec) == (63, "red")
            assert "a=fmtp:63 96/96" in answer.sdp  # over the publisher's own Opus number
            assert "opus/48000/2" in answer.sdp  # and Opus itself stays negotiated
        else:
            assert codec == "opus" and "red/" not in answer.sdp
        await publisher.accept({"sdp": answer.sdp, "type": answer.type})
        await listener.wait_for_media(video_frames=0, audio_frames=60, participant="a")
        heard = listener.by_participant["a"]
        # The tone itself, not the noise an Opus decoder makes of RED blocks.
        assert heard.last_audio is not None and tone_share(heard.last_audio, TONE_HZ) > 0.9
        assert (publisher.sent_red > 0) == forwards_packets
        assert (publisher.sent_plain > 0) != forwards_packets
        # The listener was offered RED (packet forwarding) but, being aiortc, answered Opus only.
        assert listener.subscriber is not None
        assert ("red/48000/2" in listener.offers[-1]["sdp"]) == forwards_packets
        assert "red/" not in listener.subscriber.localDescription.sdp
    finally:
        await publisher.close()
