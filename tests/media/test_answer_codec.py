"""A quality sample reads the negotiated audio codec without printing the SDP each time
(media/link_facts.py AnswerCodec), and reads it again after a new negotiation."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media.link_facts import AnswerCodecs, link_facts


class CountingConnection(RTCPeerConnection):
    """Counts reads of the descriptions, each of which prints the whole SDP."""

    reads = 0

    @property
    def localDescription(self) -> RTCSessionDescription:
        CountingConnection.reads += 1
        return super().localDescription


async def _negotiate(server: RTCPeerConnection, browser: RTCPeerConnection, codec: str) -> None:
    transceiver = browser.addTransceiver("audio")
    preferred = [c for c in transceiver.receiver.getCapabilities("audio").codecs if c.name == codec]
    transceiver.setCodecPreferences(preferred)
    await browser.setLocalDescription(await browser.createOffer())
    await server.setRemoteDescription(browser.localDescription)
    await server.setLocalDescription(await server.createAnswer())


def _facts(server: RTCPeerConnection, codecs: AnswerCodecs) -> dict[str, object]:
    return link_facts(server, None, receive_video=True, video_paused=False, codecs=codecs)


async def test_the_codec_is_read_once_per_negotiation() -> None:
    config = RTCConfiguration(iceServers=[])
    browser, server = RTCPeerConnection(config), CountingConnection(config)
    codecs = AnswerCodecs.new()
    try:
        await _negotiate(server, browser, "PCMU")
        CountingConnection.reads = 0
        samples = [
            link_facts(server, None, receive_video=True, video_paused=False, codecs=codecs) for _ in range(5)
        ]
        assert [sample["codec"] for sample in samples] == ["pcmu"] * 5
        assert CountingConnection.reads == 1

        await browser.close()
        await server.close()
        browser, server = RTCPeerConnection(config), CountingConnection(config)  # the page reconnects
        await _negotiate(server, browser, "opus")
        assert (
            link_facts(server, None, receive_video=True, video_paused=False, codecs=codecs)["codec"] == "opus"
        )
    finally:
        await browser.close()
        await server.close()
