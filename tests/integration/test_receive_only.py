"""Receive-only participants in the SFU, with real aiortc peers: they watch and listen, publish
nothing, and so never appear (as an empty picture) on anyone else's screen."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from media.backend import MediaError, MediaEventKind, SessionDescription
from media.rtp_forwarding import Forwarder
from media.sfu import MAX_PARTICIPANTS
from tests.integration.test_sfu import COLORS, _near, open_room
from tests.support.clients import MediaClient


async def test_a_receive_only_participant_gets_everyone_and_is_offered_to_nobody() -> None:
    async with open_room(Forwarder) as room:
        a, b = await room.join("a"), await room.join("b")
        watcher = room.clients["o"] = MediaClient((0, 0, 0))  # its publishing side is never used
        await room.sfu.subscribe("room", "o")
        for name in ("a", "b"):
            await watcher.wait_for_media(video_frames=15, audio_frames=15, participant=name)
            assert _near(watcher.by_participant[name].last_rgb, COLORS[name]), name
        # Its only connection is reported, so the others see it connect.
        await room.wait(
            lambda: any(
                e.kind is MediaEventKind.CONNECTION
                and e.participant_id == "o"
                and e.data["state"] == "connected"
                for e in room.events
            )
        )
        # The publishers keep receiving each other, and never a media line for the watcher.
        await a.wait_for_media(video_frames=15, audio_frames=15, participant="b")
        await b.wait_for_media(video_frames=15, audio_frames=15, participant="a")
        for client in (a, b):
            assert all(
                info["participant_id"] != "o" for offer in client.offers for info in offer["tracks"].values()
            )
        assert "o" not in a.by_participant and "o" not in b.by_participant


async def test_subscribing_after_publishing_withdraws_what_was_published() -> None:
    async with open_room(Forwarder) as room:
        a, _ = await room.join("a"), await room.join("b")
        await a.wait_for_media(video_frames=5, audio_frames=5, participant="b")
        await room.sfu.subscribe("room", "b")  # b's page reloads without camera or microphone
        await room.wait(
            lambda: (
                bool(a.offers)
                and all(info["participant_id"] != "b" for info in a.offers[-1]["tracks"].values())
            )
        )


async def test_an_offer_that_sends_nothing_is_refused_and_changes_nothing() -> None:
    async with open_room(Forwarder) as room:
        pc = RTCPeerConnection()
        try:
            pc.addTransceiver("audio", "recvonly")
            pc.addTransceiver("video", "inactive")
            await pc.setLocalDescription(await pc.createOffer())
            offer = SessionDescription(pc.localDescription.sdp, "offer")
            with pytest.raises(MediaError) as refused:
                await room.sfu.connect("room", "x", offer, {})
            assert refused.value.code == "bad_sdp" and "media:subscribe" in refused.value.message
            await room.join("a")
            assert room.clients["a"].offers == []  # nobody else in the room to offer
        finally:
            await pc.close()


async def test_a_line_that_sends_nothing_is_not_published() -> None:
    async with open_room(Forwarder) as room:
        watcher = room.clients["o"] = MediaClient((0, 0, 0))
        await room.sfu.subscribe("room", "o")
        silent_microphone = MediaClient(COLORS["a"])
        room.clients["a"] = silent_microphone
        pc = silent_microphone.publisher
        camera, microphone = pc.getTransceivers()
        microphone.direction = "inactive"  # the camera sends, the microphone line does not
        offer = await silent_microphone.offer()
        answer = await room.sfu.connect(
            "room", "a", SessionDescription(offer["sdp"], "offer"), offer["sources"]
        )
        await silent_microphone.accept({"sdp": answer.sdp, "type": answer.type})
        await watcher.wait_for_media(video_frames=10, audio_frames=0, participant="a")
        assert {info["kind"] for info in watcher.offers[-1]["tracks"].values()} == {"video"}
        assert camera.direction == "sendonly"


async def test_receive_only_participants_count_towards_the_room_limit() -> None:
    async with open_room(Forwarder) as room:
        for index in range(MAX_PARTICIPANTS):
            await room.sfu.subscribe("room", f"o{index}")
        with pytest.raises(MediaError) as full:
            await room.sfu.subscribe("room", "one-more")
        assert full.value.code == "room_full"
        late = MediaClient(COLORS["c"])
        room.clients["late"] = late
        offer = await late.offer()
        with pytest.raises(MediaError) as also_full:
            await room.sfu.connect(
                "room", "late", SessionDescription(offer["sdp"], "offer"), offer["sources"]
            )
        assert also_full.value.code == "room_full"
        await room.sfu.subscribe("room", "o0")  # someone already inside may start afresh
