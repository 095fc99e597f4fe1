"""The aiortc seam must fail loudly, naming what moved, when an aiortc upgrade breaks it.

If one of these tests fails after upgrading aiortc, read media/aiortc_seam.py's docstring: it
lists each internal the forwarder relies on and why; update the seam and TESTED_AIORTC together.
"""

from __future__ import annotations

import warnings
from typing import Any

import aiortc
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpreceiver import StreamStatistics

from media.aiortc_seam import TESTED_AIORTC, AiortcSeamError, verify_aiortc_seam
from media.rtp_forwarding import Forwarder


async def test_installed_aiortc_has_every_internal_the_seam_uses() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # also: the installed version is inside the tested range
        await verify_aiortc_seam()
    assert aiortc.__version__.startswith("1.16."), (
        f"aiortc {aiortc.__version__} is installed but the seam was tested with {TESTED_AIORTC}"
    )


async def test_a_missing_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpSender, "_retransmit")
    with pytest.raises(AiortcSeamError) as raised:
        await verify_aiortc_seam()
    message = str(raised.value)
    assert "RTCRtpSender._retransmit is missing" in message
    assert TESTED_AIORTC in message and aiortc.__version__ in message


async def test_a_changed_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handle(self: RTCRtpReceiver, packet: object) -> None:  # arrival_time_ms dropped
        return None

    def add(self: StreamStatistics, packet: object, arrival: float) -> None:
        return None

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", handle)
    monkeypatch.setattr(StreamStatistics, "add", add)
    with pytest.raises(AiortcSeamError) as raised:
        await verify_aiortc_seam()
    message = str(raised.value)
    assert "RTCRtpReceiver._handle_rtp_packet takes ('self', 'packet')" in message
    assert "StreamStatistics.add takes ('self', 'packet', 'arrival')" in message


async def test_a_method_that_stopped_being_a_coroutine_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def retransmit(self: RTCRtpSender, sequence_number: int) -> None:
        return None

    monkeypatch.setattr(RTCRtpSender, "_retransmit", retransmit)
    with pytest.raises(AiortcSeamError, match=r"RTCRtpSender._retransmit is no longer a coroutine function"):
        await verify_aiortc_seam()


async def test_renamed_private_state_is_named_and_stops_the_forwarder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original_init = RTCRtpSender.__init__

    def init_without_packet_count(self: RTCRtpSender, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        del self.__dict__["_RTCRtpSender__packet_count"]  # as if aiortc renamed the attribute

    monkeypatch.setattr(RTCRtpSender, "__init__", init_without_packet_count)
    with pytest.raises(
        AiortcSeamError, match=r"RTCRtpSender instances have no attribute _RTCRtpSender__packet_count"
    ):
        await verify_aiortc_seam()

    # Installing the forwarder on such a sender refuses at once rather than failing per packet.
    connection = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    forwarder = Forwarder()
    try:
        transceiver = connection.addTransceiver("video", direction="sendonly")
        with pytest.raises(AiortcSeamError, match="_RTCRtpSender__packet_count"):
            forwarder.subscribe(transceiver)
    finally:
        await forwarder.close()
        await connection.close()
