"""The aiortc seam must fail loudly, naming what moved, when an aiortc upgrade breaks it.

If one of these tests fails after upgrading aiortc, read media/aiortc_seam.py's docstring: it
lists each internal the forwarder relies on and why; update the seam and TESTED_AIORTC together.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import aiortc
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtcpReceiverInfo, RtcpRrPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from media import aiortc_seam
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


_EXTENSION_URIS = {
    "mid": "urn:ietf:params:rtp-hdrext:sdes:mid",
    "repaired_rtp_stream_id": "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "rtp_stream_id": "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "abs_send_time": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "transmission_offset": "urn:ietf:params:rtp-hdrext:toffset",
    "audio_level": "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "transport_sequence_number": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
}


def _parse(extensions_map: HeaderExtensionsMap, profile: int, value: bytes) -> object:
    """What ``get`` returns, or the kind of error it raises."""
    try:
        return extensions_map.get(profile, value)
    except Exception as error:
        return type(error)


def _maps(ids: list[int]) -> tuple[HeaderExtensionsMap, HeaderExtensionsMap]:
    """aiortc's map and the indexed one, configured with these ids for the URIs in their order."""
    parameters = RTCRtpParameters(
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=i, uri=uri)
            for i, uri in zip(ids, _EXTENSION_URIS.values(), strict=True)
        ]
    )
    plain = HeaderExtensionsMap()
    plain.configure(parameters)
    indexed = aiortc_seam._IndexedHeaderExtensionsMap(HeaderExtensions())
    indexed.configure(parameters)
    return plain, indexed


@settings(max_examples=300, deadline=None)
@given(
    ids=st.lists(st.integers(1, 14), min_size=7, max_size=7),
    present=st.lists(st.tuples(st.integers(0, 15), st.binary(min_size=1, max_size=4)), max_size=8),
    padding=st.booleans(),
)
def test_the_indexed_extension_map_reads_what_aiortcs_map_reads(
    ids: list[int], present: list[tuple[int, bytes]], padding: bool
) -> None:
    """Any ids (shared ones included: the first field wins in both), any extensions present,
    values of any length (aiortc's errors for the wrong length are raised the same)."""
    plain, indexed = _maps(ids)
    value = b"".join(bytes([(x_id << 4) | (len(data) - 1)]) + data for x_id, data in present if x_id)
    value += b"\x00" * (padding * (-len(value) % 4))
    assert _parse(indexed, 0xBEDE, value) == _parse(plain, 0xBEDE, value)


@settings(max_examples=500, deadline=None)
@given(
    ids=st.lists(st.integers(1, 14), min_size=7, max_size=7),
    profile=st.sampled_from([0xBEDE, 0x1000, 0x1234]),
    value=st.binary(max_size=24),
)
def test_the_indexed_extension_map_refuses_what_aiortcs_map_refuses(
    ids: list[int], profile: int, value: bytes
) -> None:
    """Any bytes at all under either header form: truncated elements, padding anywhere, values
    of the wrong length, unknown profiles. The same fields or the same kind of error."""
    plain, indexed = _maps(ids)
    assert _parse(indexed, profile, value) == _parse(plain, profile, value)


async def _nowhere(sequence_number: int) -> None:
    return None


async def test_a_reports_round_trip_is_the_one_it_measured() -> None:
    """``roundTripTime`` is the round trip of the latest report, as the W3C statistics define it,
    not aiortc's average, which weighs a new one 0.15: after a congested link's 600 ms queue
    emptied, that average still said 200 ms or more for seven reports."""
    connection = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transceiver = connection.addTransceiver("video", direction="sendonly")
    port = aiortc_seam.SenderPort(transceiver, lambda: None, _nowhere, lambda highest: None)
    sender: Any = transceiver.sender
    try:

        async def round_trip(lsr: int, seconds: float) -> float | None:
            """What the statistics say after a report on ``lsr`` that took ``seconds``."""
            sender._RTCRtpSender__lsr, delay = 0x1234, 0.25
            sender._RTCRtpSender__lsr_time = time.time() - seconds - delay
            info = RtcpReceiverInfo(sender._ssrc, 0, 0, 5, 0, lsr=lsr, dlsr=int(delay * 65536))
            await sender._handle_rtcp_packet(RtcpRrPacket(ssrc=1, reports=[info]))
            stats = await sender.getStats()
            return next(s.roundTripTime for s in stats.values() if s.type == "remote-inbound-rtp")

        assert port.round_trip is None
        assert await round_trip(0x1234, 0.6) == pytest.approx(0.6, abs=0.02)
        assert await round_trip(0x1234, 0.01) == pytest.approx(0.01, abs=0.02)
        measured = port.round_trip
        assert measured is not None and measured[1] == pytest.approx(0.01, abs=0.02)
        assert await round_trip(0x1233, 0.01) is None  # it answers another report: nothing measured
        assert port.round_trip == measured  # the newest measurement stays the one to go by
    finally:
        port.close()
        await connection.close()
