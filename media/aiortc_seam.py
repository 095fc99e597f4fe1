"""The seam into aiortc's internals that packet forwarding needs, and nothing else.

Tested with aiortc 1.16.x (``TESTED_AIORTC``). aiortc has no public API to read RTP packets from
an ``RTCRtpReceiver`` (it always reassembles frames and decodes them in a thread) or to write RTP
packets into an ``RTCRtpSender`` (it always takes frames and encodes them). Forwarding encoded
media needs both, so this module reaches into private attributes, and it is the ONLY module that
does: everything else in ``media/`` uses the small typed API below. When aiortc is upgraded, run
``tests/media`` first: ``verify_aiortc_seam()`` names each internal that moved.

What it relies on (all checked by ``verify_aiortc_seam``):

Receiving (``ReceiverTap``):
  * ``RTCDtlsTransport`` parses SRTP into ``aiortc.rtp.RtpPacket`` and calls
    ``receiver._handle_rtp_packet(packet, arrival_time_ms=...)`` looked up on the instance. We set an
    instance attribute of that name, so packets come to us instead of the jitter buffer and decoder.
  * To keep the receiver's RTCP working, our replacement does the bookkeeping aiortc's did: it
    feeds ``receiver.__remote_streams`` (``StreamStatistics``, read by the receiver's own RTCP loop
    to send receiver reports) and ``receiver.__remote_bitrate_estimator`` (REMB, sent with
    ``receiver._send_rtcp`` from ``receiver.__rtcp_ssrc``; its ``incoming_bitrate`` counter, read
    through ``_window_size`` and ``_scale``, is replaced by :class:`media.window_rate.WindowRate`,
    the same figures without a loop per millisecond; the estimator itself becomes a
    :class:`media.remb_estimator.RembEstimator` on the same state, its per-packet step inline and
    its Kalman filter ``estimator`` a :class:`media.overuse_filter.OveruseFilter`: the same REMBs
    at a fraction of the interpreter's work), unwraps RTX using ``receiver.__codecs``
    and ``receiver.__rtx_ssrc``, and honours ``receiver._enabled``. It does not update
    ``receiver.__active_ssrc``, so ``getSynchronizationSources()`` of a tapped receiver is empty.
  * NACK and PLI go upstream through ``receiver._send_rtcp_nack`` / ``receiver._send_rtcp_pli``,
    which fill in the receiver's RTCP SSRC.

Sending (``SenderPort``):
  * Packets go out as ``sender.transport._send_rtp(bytes)`` sends them (SRTP protection with
    ``_tx_srtp``, then aioice's nominated pair for component 1, ``Connection._nominated[1]``:
    ``pair.protocol.transport.sendto(data, pair.remote_addr)``, and the transport's
    ``__tx_bytes``/``__tx_packets`` counters), done inline rather than through three coroutines.
  * The sender's own RTP loop is parked on a track whose ``recv()`` never returns (public API:
    ``replaceTrack``), so it never encodes; its RTCP loop keeps running and sends sender reports
    built from ``sender.__ntp_timestamp``, ``__rtp_timestamp``, ``__packet_count`` and
    ``__octet_count``, which we update for every packet we send. It sends them with
    ``self._send_rtcp(packets)`` after setting ``__lsr`` and ``__lsr_time``; an instance attribute
    of that name dates each report when it is sent (aiortc dates it with the last packet) and
    sets those two to match.
  * ``sender._handle_rtcp_packet`` keeps its round trip in ``__rtt`` (an average); ours sets it to
    None before each report, so the statistics carry the round trip that report measured.
  * ``sender._handle_rtcp_packet`` calls ``self._send_keyframe()`` on PLI/FIR and
    ``await self._retransmit(seq)`` for each NACKed sequence number. We set instance attributes of
    those names to receive them, and one of ``_handle_rtcp_packet`` itself (which
    ``RTCDtlsTransport`` looks up per packet) to hear when a receiver report came in.
  * The negotiated codecs and header extensions are read from ``transceiver._codecs`` and
    ``transceiver._headerExtensions`` (set by ``RTCPeerConnection`` during negotiation), the SSRCs
    from ``sender._ssrc`` and ``sender._rtx_ssrc`` (announced in the SDP), the direction from
    ``sender._enabled``.

Removing a hook deletes the instance attribute, so the class's own method takes over again.

Receiving datagrams (``install_fast_receive``): aioice hands every datagram to the connection's
queue (after trying to parse it as STUN), and the DTLS transport's receive task takes it from
there: a queue put, a task wake-up and a loop iteration per packet. Once a transport is
connected, SRTP and SRTCP datagrams (first byte 128-191, RFC 7983) go straight from each of
the ICE connection's ``StunProtocol.datagram_received`` (``RTCIceTransport._connection``,
aioice's ``Connection._protocols``) through ``_rx_srtp``'s unprotect, updating the transport's
``__rx_bytes``/``__rx_packets`` as its receive task would. SRTCP then goes to
``RTCDtlsTransport._handle_rtcp_data``; SRTP is handled as ``_handle_rtp_data`` does, with
``media.rtp_parse.parse_rtp`` (aiortc's parse, result for result, in fewer steps), the transport's
``_rtp_router.route_rtp`` and the routed receiver's ``_handle_rtp_packet``. STUN and DTLS keep
the old path.
The transport's ``_rtp_header_extensions_map`` (whose ids live in ``HeaderExtensionsMap.__ids``)
is replaced by an indexed subclass that parses the same fields the same way.

Negotiating RED (``offer_red``, ``adopt_remote_red``): aiortc negotiates only the codecs in
``aiortc.codecs.CODECS``, and RED is left out of that global list on purpose (aiortc peers would
offer it and could not use it). So after aiortc's own negotiation, RED is put back first into
``transceiver._codecs`` (a new list), which aiortc reads when it writes an answer and when it
starts a receiver; an offer's audio lines are matched to transceivers by
``transceiver._get_mline_index()`` (set by ``createOffer``). aiortc's SDP parser and writer
round-trip its own descriptions exactly, so an offer is amended by parsing and writing it again.

Reporting (``selected_candidate_types``), not forwarding: which ICE candidate pair carries a
connection's media (direct, or through a TURN relay) is read from ``RTCIceTransport._connection``
(the aioice ``Connection``) and its ``_nominated`` pairs. It answers None instead of raising when
those are missing, so an upgrade that moves them costs the report ("unknown"), never the call.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from struct import unpack
from typing import Any, Final, cast

import aiortc
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import codecs as aiortc_codecs
from aiortc import sdp as aiortc_sdp
from aiortc.mediastreams import MediaStreamError
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
    is_rtcp,
    pack_remb_fci,
    unpack_header_extensions,
    unwrap_rtx,
)
from pylibsrtp import Error as SrtpError

from media import red
from media.remb_estimator import RembEstimator
from media.rtp_parse import parse_rtp
from media.rtp_rewrite import HeaderExtensionIds
from media.srtp_direct import direct_call, srtp_direct_problems
from media.window_rate import WindowRate

logger = logging.getLogger(__name__)

TESTED_AIORTC: Final = ">=1.16,<1.17"
_TESTED_SERIES: Final = (1, 16)

MID_URI: Final = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI: Final = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI: Final = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

RtpSink = Callable[[RtpPacket, RTCRtpCodecParameters], Awaitable[None]]


class AiortcSeamError(RuntimeError):
    """aiortc no longer has an internal the forwarding seam relies on: the SFU cannot run on it."""


# ---------------------------------------------------------------------------------------------
# What we rely on, declared once: used both by verify_aiortc_seam() and at install time.
# Methods: (class, name) -> (parameter names, is a coroutine function).
_METHODS: Final[dict[tuple[type, str], tuple[tuple[str, ...], bool]]] = {
    (RTCRtpReceiver, "_handle_rtp_packet"): (("self", "packet", "arrival_time_ms"), True),
    (RTCRtpReceiver, "_send_rtcp"): (("self", "packet"), True),
    (RTCRtpReceiver, "_send_rtcp_nack"): (("self", "media_ssrc", "lost"), True),
    (RTCRtpReceiver, "_send_rtcp_pli"): (("self", "media_ssrc"), True),
    (RTCRtpSender, "_handle_rtcp_packet"): (("self", "packet"), True),
    (RTCRtpSender, "_send_keyframe"): (("self",), False),
    (RTCRtpSender, "_retransmit"): (("self", "sequence_number"), True),
    (RTCDtlsTransport, "_send_rtp"): (("self", "data"), True),
    (RTCDtlsTransport, "_handle_rtp_data"): (("self", "data", "arrival_time_ms"), True),
    (RTCDtlsTransport, "_handle_rtcp_data"): (("self", "data"), True),
    (RtpRouter, "route_rtp"): (("self", "packet"), False),
    (RTCRtpTransceiver, "_get_mline_index"): (("self",), False),
    (StreamStatistics, "__init__"): (("self", "clockrate"), False),
    (StreamStatistics, "add"): (("self", "packet"), False),
    (RemoteBitrateEstimator, "add"): (
        ("self", "arrival_time_ms", "abs_send_time", "payload_size", "ssrc"),
        False,
    ),
}
# Instance attributes set in __init__ (name-mangled ones written out as Python stores them).
_RECEIVER_STATE: Final = (
    "_enabled",
    "_RTCRtpReceiver__codecs",
    "_RTCRtpReceiver__rtx_ssrc",
    "_RTCRtpReceiver__remote_streams",
    "_RTCRtpReceiver__remote_bitrate_estimator",
    "_RTCRtpReceiver__rtcp_ssrc",
)
_SENDER_STATE: Final = (
    "_enabled",
    "_RTCRtpSender__encoder",
    "_ssrc",
    "_rtx_ssrc",
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__packet_count",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__lsr",
    "_RTCRtpSender__lsr_time",
    "_RTCRtpSender__rtt",
    "_send_rtcp",
)
_TRANSCEIVER_STATE: Final = ("_codecs", "_headerExtensions")
_ESTIMATOR_STATE: Final = (
    "incoming_bitrate",
    "incoming_bitrate_initialized",
    "inter_arrival",
    "estimator",
    "detector",
    "rate_control",
    "last_update_ms",
    "ssrcs",
)
_RATE_COUNTER_STATE: Final = ("_window_size", "_scale")


def _seam_error(problems: list[str]) -> AiortcSeamError:
    return AiortcSeamError(
        f"aiortc {aiortc.__version__} is not compatible with media/aiortc_seam.py (tested with aiortc "
        f"{TESTED_AIORTC}); the packet-forwarding SFU cannot work until the seam is updated:\n  - "
        + "\n  - ".join(problems)
    )


def _class_problems() -> list[str]:
    problems: list[str] = []
    for (owner, name), (parameters, is_coroutine) in _METHODS.items():
        where = f"{owner.__name__}.{name}"
        method = owner.__dict__.get(name)
        if method is None or not callable(method):
            problems.append(f"{where} is missing")
            continue
        try:
            found = tuple(inspect.signature(method).parameters)
        except (TypeError, ValueError):
            found = ()
        if found != parameters:
            problems.append(f"{where} takes {found}, expected {parameters}")
        if inspect.iscoroutinefunction(method) != is_coroutine:
            expected = "a coroutine function" if is_coroutine else "a plain function"
            problems.append(f"{where} is no longer {expected}")
    return problems


def _instance_problems(instance: object, names: tuple[str, ...]) -> list[str]:
    return [
        f"{type(instance).__name__} instances have no attribute {name}"
        for name in names
        if not hasattr(instance, name)
    ]


def _require(instance: object, names: tuple[str, ...]) -> None:
    problems = _class_problems() + _instance_problems(instance, names)
    if problems:
        raise _seam_error(problems)


async def verify_aiortc_seam() -> None:
    """Check that every internal the seam uses exists with the expected shape; raise if not.

    Builds a throw-away peer connection (no network) to inspect real receiver, sender and
    transceiver instances. Warns if all is present but the aiortc version is outside the tested
    range, since behaviour can change without a signature changing.
    """
    connection = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        transceiver = connection.addTransceiver("video", direction="sendrecv")
        problems = (
            _class_problems()
            + _instance_problems(transceiver.receiver, _RECEIVER_STATE)
            + _instance_problems(transceiver.sender, _SENDER_STATE)
            + _instance_problems(transceiver, _TRANSCEIVER_STATE)
        )
        estimator = getattr(transceiver.receiver, "_RTCRtpReceiver__remote_bitrate_estimator", None)
        if estimator is not None:
            problems += _instance_problems(estimator, _ESTIMATOR_STATE)
            counter = getattr(estimator, "incoming_bitrate", None)
            if counter is not None:
                problems += _instance_problems(counter, _RATE_COUNTER_STATE)
    finally:
        await connection.close()
    if problems:
        raise _seam_error(problems)
    srtp_problems = srtp_direct_problems()
    if srtp_problems:
        warnings.warn(
            "media/srtp_direct.py cannot call libsrtp directly with this pylibsrtp; SRTP goes through "
            "pylibsrtp's own methods (correct, slower): " + "; ".join(srtp_problems),
            RuntimeWarning,
            stacklevel=2,
        )
    series = tuple(int(part) for part in aiortc.__version__.split(".")[:2])
    if series != _TESTED_SERIES:
        warnings.warn(
            f"aiortc {aiortc.__version__} has every internal media/aiortc_seam.py uses, but the seam "
            f"was tested with aiortc {TESTED_AIORTC}; run tests/media before relying on it.",
            RuntimeWarning,
            stacklevel=2,
        )


# ---------------------------------------------------------------------------------------------
# Receiving


class ReceiverTap:
    """Takes the RTP packets of one ``RTCRtpReceiver`` before its jitter buffer and decoder.

    ``sink(packet, codec)`` is awaited for every media packet (RTX already unwrapped to the
    original packet), in the receiving transport's task. By default the packet then stops here:
    nothing is reassembled or decoded, while receiver reports and REMB continue as before. With
    ``keep_decoding=True`` the packet also continues into aiortc's own path (for a recorder that
    reads decoded frames from ``receiver.track``); aiortc then does its own RTCP bookkeeping.
    """

    def __init__(
        self, receiver: RTCRtpReceiver, sink: RtpSink, *, keep_decoding: bool = False, send_remb: bool = True
    ) -> None:
        _require(receiver, _RECEIVER_STATE)
        self._receiver = receiver
        self._sink = sink
        self._keep_decoding = keep_decoding
        # These dicts are created in RTCRtpReceiver.__init__ and filled in place by receive(), so
        # holding them now is safe even before negotiation completes.
        internals = self._internals = cast(Any, receiver)
        self._codecs: dict[int, RTCRtpCodecParameters] = internals._RTCRtpReceiver__codecs
        self._rtx_ssrc: dict[int, int] = internals._RTCRtpReceiver__rtx_ssrc
        self._streams: dict[int, StreamStatistics] = internals._RTCRtpReceiver__remote_streams
        self._estimator: Any = internals._RTCRtpReceiver__remote_bitrate_estimator if send_remb else None
        if self._estimator is not None:
            counter: Any = getattr(self._estimator, "incoming_bitrate", None)
            problems = _instance_problems(self._estimator, _ESTIMATOR_STATE)
            problems += _instance_problems(counter, _RATE_COUNTER_STATE) if counter is not None else []
            if problems:
                raise _seam_error(problems)
            if not isinstance(counter, WindowRate):
                self._estimator.incoming_bitrate = WindowRate(counter._window_size, counter._scale)
            if not isinstance(self._estimator, RembEstimator):
                self._estimator = RembEstimator.taking_over(self._estimator)
                internals._RTCRtpReceiver__remote_bitrate_estimator = self._estimator
        self._rtx_types: dict[int, bool] = {}
        self._downstream_loss = 0
        self.errors = 0
        self._installed = False

    def install(self) -> None:
        # An instance attribute shadows the class method that RTCDtlsTransport looks up per packet.
        cast(Any, self._receiver)._handle_rtp_packet = self._handle_rtp_packet
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            del cast(Any, self._receiver)._handle_rtp_packet
            self._installed = False

    async def send_pli(self, media_ssrc: int) -> None:
        """Ask the publisher for a keyframe (RTCP PLI, RFC 4585 6.3.1)."""
        await cast(Any, self._receiver)._send_rtcp_pli(media_ssrc)

    async def send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        """Ask the publisher to retransmit these sequence numbers (generic NACK, RFC 4585 6.2.1)."""
        await cast(Any, self._receiver)._send_rtcp_nack(media_ssrc, lost)

    def codec(self, payload_type: int) -> RTCRtpCodecParameters | None:
        """The codec negotiated for a payload type on this receiver (None before negotiation)."""
        return self._codecs.get(payload_type)

    def arrival_jitter_ms(self, ssrc: int) -> float:
        """The interarrival jitter of one incoming stream, in milliseconds (0 before it has any)."""
        stream = self._streams.get(ssrc)
        if not isinstance(stream, _ReportedStatistics):
            return 0.0  # none yet, or aiortc's own (a decoding receiver keeps its own books)
        return 1000.0 * stream.jitter / stream.clock_rate

    def report_downstream_loss(self, fraction: float) -> None:
        """Let the receiver reports to the publisher say at least this fraction (0 to 1) was lost.

        The publisher's encoder hears loss only from our reports, which cover the leg to us; a
        subscriber's weak downlink would stay invisible to it, and Opus would not add in-band FEC
        where it is needed. Reporting the worst subscriber's loss of the forwarded audio, as
        LiveKit does for its audio tracks, makes the encoder protect the stream for them.
        """
        self._downstream_loss = max(0, min(255, round(256 * fraction)))
        for stream in self._streams.values():
            if isinstance(stream, _ReportedStatistics):
                stream.floor = self._downstream_loss

    def _is_rtx(self, payload_type: int, codec: RTCRtpCodecParameters) -> bool:
        known = self._rtx_types.get(payload_type)
        if known is None:
            known = self._rtx_types[payload_type] = codec.mimeType.lower().endswith("/rtx")
        return known

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        # An exception here would end the DTLS transport's receive task and with it the whole
        # peer connection, so a packet that breaks anything is dropped and counted instead.
        try:
            receiver = self._internals
            if not receiver._enabled:
                return
            codec = self._codecs.get(packet.payload_type)
            if codec is None:
                return
            if self._keep_decoding:
                await self._take(packet, codec)
                await RTCRtpReceiver._handle_rtp_packet(receiver, packet, arrival_time_ms)
                return
            remb = self._account(packet, codec, arrival_time_ms)
            if remb is not None:
                await self._send_remb(remb)
            # A media packet, the usual case, goes straight to the sink: one coroutine less for
            # every packet a publisher sends.
            if not self._is_rtx(packet.payload_type, codec) and packet.ssrc not in self._rtx_ssrc:
                await self._sink(packet, codec)
            else:
                await self._take(packet, codec)
        except Exception:
            self.errors += 1
            logger.debug("dropped an RTP packet that could not be handled", exc_info=True)

    async def _take(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        """Hand a media packet to the sink, unwrapping RTX (RFC 4588) to the original packet."""
        if self._is_rtx(packet.payload_type, codec):
            media_ssrc = self._rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if media_ssrc is None or not isinstance(apt, int) or apt not in self._codecs:
                return
            if len(packet.payload) < 2:
                return  # RTX padding (bandwidth probing) carries no media
            await self._sink(unwrap_rtx(packet, payload_type=apt, ssrc=media_ssrc), self._codecs[apt])
        elif packet.ssrc not in self._rtx_ssrc:  # media on the RTX SSRC is malformed: never a stream
            await self._sink(packet, codec)

    def _account(
        self, packet: RtpPacket, codec: RTCRtpCodecParameters, arrival_time_ms: int
    ) -> tuple[int, list[int]] | None:
        """What RTCRtpReceiver._handle_rtp_packet does for RTCP: statistics for RR, and REMB's
        estimate; returns the estimate to send now (bitrate, SSRCs), if there is one."""
        stream = self._streams.get(packet.ssrc)
        if stream is None:
            stream = self._streams[packet.ssrc] = _ReportedStatistics(codec.clockRate, self._downstream_loss)
        stream.add(packet)
        estimator = self._estimator
        abs_send_time = packet.extensions.abs_send_time
        if estimator is None or abs_send_time is None:
            return None
        remb: tuple[int, list[int]] | None = estimator.add(
            abs_send_time=abs_send_time,
            arrival_time_ms=arrival_time_ms,
            payload_size=len(packet.payload) + packet.padding_size,
            ssrc=packet.ssrc,
        )
        return remb

    async def _send_remb(self, remb: tuple[int, list[int]]) -> None:
        rtcp_ssrc = self._internals._RTCRtpReceiver__rtcp_ssrc
        if rtcp_ssrc is not None:
            await self._internals._send_rtcp(
                RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(*remb))
            )


class _ReportedStatistics(StreamStatistics):
    """A stream's statistics whose reported fraction lost (RFC 3550 6.4.1, in 1/256) is never
    below ``floor``: the loss the stream's subscribers see past us."""

    def __init__(self, clockrate: int, floor: int) -> None:
        super().__init__(clockrate)
        self.clock_rate = clockrate
        self.floor = floor

    @property
    def fraction_lost(self) -> int:
        return max(super().fraction_lost, self.floor)  # the parent's read also moves its interval on


def offer_opus_fec() -> None:
    """Say ``useinbandfec=1`` (and ``minptime=10``) for Opus in every description aiortc writes.

    aiortc answers with its own codec parameters, which for Opus are none; a browser whose Opus
    answer lacks ``useinbandfec=1`` never adds in-band FEC to what it sends (RFC 7587 6.1), so the
    nurse's voice reached a patient on a lossy link unprotected. Idempotent.
    """
    for codec in aiortc_codecs.CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.update({"minptime": 10, "useinbandfec": 1})


# ---------------------------------------------------------------------------------------------
# Negotiating audio redundancy (RED, RFC 2198)

RED_PAYLOAD_TYPE: Final = 63
"""The payload type the server offers RED under: Chromium's own, free in aiortc's numbering."""


def _red_codec(payload_type: int, opus: RTCRtpCodecParameters) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType=red.MIME_TYPE,
        clockRate=opus.clockRate,
        channels=opus.channels,
        payloadType=payload_type,
        parameters=red.fmtp_parameters(cast(int, opus.payloadType)),
    )


def _opus(codecs: list[RTCRtpCodecParameters]) -> RTCRtpCodecParameters | None:
    return next((c for c in codecs if c.mimeType.lower() == "audio/opus" and c.payloadType is not None), None)


def _red_first(transceiver: RTCRtpTransceiver, payload_type: int, opus: RTCRtpCodecParameters) -> None:
    others = [c for c in transceiver._codecs if c.mimeType.lower() != red.MIME_TYPE]
    if any(c.payloadType == payload_type for c in others):
        return  # the number is taken: no RED on this line rather than two codecs under one number
    # A new list, never the old one changed: SenderPort.negotiation() tells renegotiations apart by it.
    transceiver._codecs = [_red_codec(payload_type, opus), *others]


def adopt_remote_red(connection: RTCPeerConnection) -> None:
    """After ``setRemoteDescription``: put RED first on each audio line whose remote description
    has ``audio/red`` over the Opus negotiated on that line (``fmtp`` ``P/P``, P Opus's number).

    aiortc does not know RED (it is not in ``aiortc.codecs.CODECS``, on purpose: aiortc peers in
    the same process would then offer it and could neither encode nor decode it), so its own
    negotiation drops it; this adds it back to ``transceiver._codecs``, which aiortc reads when it
    writes its answer and when it starts the receiver (its payload types are routed to the tap).
    For an offer from a browser, RED first in the answer is what makes Chromium send RED. Lines
    without RED, and peers that do not offer it, keep exactly what aiortc negotiated.
    """
    description = connection.remoteDescription
    if description is None:
        return
    remote = aiortc_sdp.SessionDescription.parse(description.sdp)
    by_mid = {media.rtp.muxId: media for media in remote.media if media.kind == "audio"}
    for transceiver in connection.getTransceivers():
        mid = transceiver.mid
        media = by_mid.get(mid) if transceiver.kind == "audio" and mid is not None else None
        opus = _opus(transceiver._codecs) if media is not None else None
        if media is None or opus is None:
            continue
        offered = next(
            (
                codec.payloadType
                for codec in media.rtp.codecs
                if codec.mimeType.lower() == red.MIME_TYPE
                and codec.clockRate == opus.clockRate
                and codec.payloadType is not None
                and red.inner_payload_type(codec.parameters) == opus.payloadType
            ),
            None,
        )
        if offered is not None:
            _red_first(transceiver, offered, opus)


def offer_red(connection: RTCPeerConnection, offer: RTCSessionDescription) -> RTCSessionDescription:
    """``offer`` (just made by ``createOffer``) with RED first on each audio line, over that line's
    Opus. A browser that knows RED answers it (and :func:`adopt_remote_red` keeps it); an aiortc
    peer drops it from its answer and gets plain Opus as before."""
    parsed = aiortc_sdp.SessionDescription.parse(offer.sdp)
    by_line = {t._get_mline_index(): t for t in connection.getTransceivers() if t.kind == "audio"}
    for index, media in enumerate(parsed.media):
        transceiver = by_line.get(index)
        opus = _opus(transceiver._codecs) if transceiver is not None and media.kind == "audio" else None
        if transceiver is None or opus is None:
            continue
        _red_first(transceiver, RED_PAYLOAD_TYPE, opus)
        media.rtp.codecs = transceiver._codecs
        media.fmt = [codec.payloadType for codec in transceiver._codecs]
    return RTCSessionDescription(sdp=str(parsed), type=offer.type)


# ---------------------------------------------------------------------------------------------
# Receiving datagrams without the receive task


class _Resume:
    """Awaitable that lets a real task finish a coroutine that suspended while run inline: it
    first waits on what the coroutine yielded, then steps it as ``asyncio.Task`` would (sending
    None, throwing in what the task throws in, such as a cancellation)."""

    __slots__ = ("_coroutine", "_pending")

    def __init__(self, coroutine: Any, pending: object) -> None:
        self._coroutine = coroutine
        self._pending = pending

    def __await__(self) -> Any:
        pending = self._pending
        while True:
            try:
                yield pending
            except BaseException as error:  # handed to the coroutine, as a task does
                try:
                    pending = self._coroutine.throw(error)
                except StopIteration:
                    return
                continue
            try:
                pending = self._coroutine.send(None)
            except StopIteration:
                return


async def _finish(resume: _Resume) -> None:
    await resume


def run_inline(coroutine: Any, tasks: set[asyncio.Task[None]]) -> None:
    """Run ``coroutine`` now, in the caller's stack, as far as it goes without waiting; if it has
    to wait, a task (kept in ``tasks`` until done) finishes it. Forwarding a packet never waits,
    so this spares a task and a loop iteration per packet; errors are logged and dropped, since
    the caller is a socket's callback."""
    try:
        pending = coroutine.send(None)
    except StopIteration:
        return
    except Exception:
        logger.debug("an inline packet handler failed", exc_info=True)
        return
    task = asyncio.ensure_future(_finish(_Resume(coroutine, pending)))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


_EXTENSION_READERS: Final[tuple[tuple[str, Callable[[bytes], object]], ...]] = (
    # aiortc's HeaderExtensionsMap.get, field by field, in its order (the first id match wins).
    ("mid", lambda value: value.decode("utf8")),
    ("repaired_rtp_stream_id", lambda value: value.decode("ascii")),
    ("rtp_stream_id", lambda value: value.decode("ascii")),
    ("abs_send_time", lambda value: unpack("!L", b"\00" + value)[0]),
    ("transmission_offset", lambda value: unpack("!l", value + b"\00")[0] >> 8),
    ("audio_level", lambda value: (value[0] & 0x80 == 0x80, unpack("!B", value)[0] & 0x7F)),
    ("transport_sequence_number", lambda value: unpack("!H", value)[0]),
)


class _IndexedHeaderExtensionsMap(HeaderExtensionsMap):
    """aiortc's header-extension map, reading each extension with one dictionary lookup instead of
    a chain of comparisons (its ``get`` is the largest single cost of parsing a browser's packet,
    which carries five or six extensions). ``configure`` (each negotiation) rebuilds the index."""

    def __init__(self, ids: HeaderExtensions) -> None:
        super().__init__()
        self._HeaderExtensionsMap__ids = ids
        self._index = self._build()

    def _build(self) -> dict[int, tuple[str, Callable[[bytes], object]]]:
        ids = self._HeaderExtensionsMap__ids
        index: dict[int, tuple[str, Callable[[bytes], object]]] = {}
        for name, reader in _EXTENSION_READERS:
            extension_id = getattr(ids, name)
            if extension_id is not None:
                index.setdefault(extension_id, (name, reader))
        return index

    def configure(self, parameters: Any) -> None:
        super().configure(parameters)
        self._index = self._build()

    def get(self, extension_profile: int, extension_value: bytes) -> HeaderExtensions:
        values = HeaderExtensions()
        index = self._index
        if extension_profile != 0xBEDE:
            for extension_id, value in unpack_header_extensions(extension_profile, extension_value):
                known = index.get(extension_id)
                if known is not None:
                    setattr(values, known[0], known[1](value))
            return values
        # One-byte headers (RFC 8285 4.2), what browsers send, walked here without building
        # aiortc's list of every element: the whole value is checked before any is read, as
        # unpack_header_extensions does, so a truncated one is refused the same way.
        found: list[tuple[tuple[str, Callable[[bytes], object]], int, int]] = []
        size = len(extension_value)
        position = 0
        while position < size:
            byte = extension_value[position]
            if byte == 0:  # padding
                position += 1
                continue
            start = position + 1
            position = start + (byte & 0x0F) + 1
            if size < position:
                raise ValueError("RTP one-byte header extension value is truncated")
            known = index.get(byte >> 4)
            if known is not None:
                found.append((known, start, position))
        for (name, reader), start, end in found:
            setattr(values, name, reader(extension_value[start:end]))
        return values


_NTP_EPOCH_OFFSET_S: Final = 2_208_988_800
"""Seconds from 1900 (NTP) to 1970 (Unix): aiortc stamps arrivals in milliseconds since 1900."""


class _FastReceive:
    """SRTP/SRTCP datagrams of one connected DTLS transport, handled in the socket's callback."""

    def __init__(self, transport: RTCDtlsTransport, protocol: Any) -> None:
        self._transport: Any = transport
        self._original = protocol.datagram_received
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: object = None
        self._unprotect: Callable[[bytes], bytes] | None = None

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        transport = self._transport
        srtp = transport._rx_srtp
        if not data or not 127 < data[0] < 192 or srtp is None or transport._state is not DtlsState.CONNECTED:
            self._original(data, addr)
            return
        transport._RTCDtlsTransport__rx_bytes += len(data)
        transport._RTCDtlsTransport__rx_packets += 1
        try:
            if is_rtcp(data):
                handling = transport._handle_rtcp_data(srtp.unprotect_rtcp(data))
            else:
                unprotect = self._unprotect
                if srtp is not self._session or unprotect is None:  # a new DTLS handshake, new keys
                    self._session, unprotect = srtp, direct_call(srtp, "unprotect")
                    self._unprotect = unprotect
                arrival_time_ms = int((time.time() + _NTP_EPOCH_OFFSET_S) * 1000)  # clock.current_ms()
                # What RTCDtlsTransport._handle_rtp_data does, with the leaner parser.
                packet = parse_rtp(unprotect(data), transport._rtp_header_extensions_map)
                receiver = transport._rtp_router.route_rtp(packet)
                if receiver is None:
                    return
                handling = receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)
        except SrtpError:
            return  # not ours, replayed or damaged: aiortc drops these too
        except Exception:
            # Malformed (ValueError), or a header extension of the wrong length for its reader
            # (struct.error, which aiortc's receive task would die of). Raised here, it would reach
            # the event loop, which logs a traceback at error level: one per packet a client sends.
            logger.debug("dropped an RTP packet that could not be parsed", exc_info=True)
            return
        run_inline(handling, self._tasks)


def install_fast_receive(transport: RTCDtlsTransport) -> bool:
    """Route the SRTP datagrams of a connected DTLS transport around its receive task (see the
    module docstring). Idempotent; False if the internals it needs are not there (the transport
    then keeps aiortc's own path, which is correct, only slower)."""
    agent = getattr(getattr(transport, "transport", None), "_connection", None)
    protocols = getattr(agent, "_protocols", None)
    needed = ("_rx_srtp", "_state", "_rtp_router", "_rtp_header_extensions_map")
    if not isinstance(protocols, list) or not all(hasattr(transport, n) for n in needed):
        return False
    current = getattr(transport, "_rtp_header_extensions_map", None)
    if isinstance(current, HeaderExtensionsMap) and not isinstance(current, _IndexedHeaderExtensionsMap):
        ids = getattr(current, "_HeaderExtensionsMap__ids", None)
        if isinstance(ids, HeaderExtensions):
            cast(Any, transport)._rtp_header_extensions_map = _IndexedHeaderExtensionsMap(ids)
    for protocol in protocols:
        if not isinstance(protocol.__dict__.get("datagram_received"), _FastReceiveHook):
            protocol.datagram_received = _FastReceiveHook(_FastReceive(transport, protocol))
    return True


class _FastReceiveHook:
    """The bound handler installed on a protocol, recognisable so it is installed only once."""

    __slots__ = ("_receive",)

    def __init__(self, receive: _FastReceive) -> None:
        self._receive = receive

    def __call__(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._receive.datagram_received(data, addr)


# ---------------------------------------------------------------------------------------------
# Sending


@dataclass(frozen=True, slots=True)
class NegotiatedCodec:
    """One negotiated codec of a sender, with the payload type of its RTX stream if any."""

    payload_type: int
    mime_type: str
    clock_rate: int
    parameters: Mapping[str, object]
    rtx_payload_type: int | None


@dataclass(frozen=True, slots=True)
class Negotiation:
    """What a subscriber's sender agreed with the remote side: codecs (in preference order),
    MID and header extension ids. ``version`` changes when aiortc renegotiates."""

    codecs: tuple[NegotiatedCodec, ...]
    mid: str | None
    extensions: HeaderExtensionIds
    version: int


def negotiated_codecs(codecs: list[RTCRtpCodecParameters]) -> tuple[NegotiatedCodec, ...]:
    """Pair each media codec with its RTX codec (``apt``) from an aiortc codec list."""
    rtx_for: dict[int, int] = {}
    for codec in codecs:
        apt = codec.parameters.get("apt")
        if codec.mimeType.lower().endswith("/rtx") and isinstance(apt, int) and codec.payloadType is not None:
            rtx_for.setdefault(apt, codec.payloadType)
    return tuple(
        NegotiatedCodec(
            payload_type=codec.payloadType,
            mime_type=codec.mimeType,
            clock_rate=codec.clockRate,
            parameters=dict(codec.parameters),
            rtx_payload_type=rtx_for.get(codec.payloadType),
        )
        for codec in codecs
        if codec.payloadType is not None and not codec.mimeType.lower().endswith("/rtx")
    )


class _ParkedTrack(MediaStreamTrack):
    """Given to a sender so its own RTP loop waits forever instead of polling or encoding.

    ``RTCRtpSender._run_rtp`` awaits ``track.recv()``; this never returns until the track stops.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] | None = None

    async def recv(self) -> Any:
        if self._never is None:
            self._never = asyncio.get_running_loop().create_future()
        await self._never
        raise MediaStreamError

    def stop(self) -> None:
        if self._never is not None and not self._never.done():
            self._never.set_result(None)
        super().stop()


class _EstimateRecorder:
    """Stands where aiortc keeps a sender's encoder, only to receive REMB estimates."""

    def __init__(self, port: SenderPort) -> None:
        self._port = port

    @property
    def target_bitrate(self) -> int | None:
        return self._port.receiver_estimate_bps

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        self._port.receiver_estimate_bps = int(bitrate)


class _SendRoute:
    """Where one transport's RTP goes, looked up once per nominated pair and SRTP session rather
    than per packet: the pair's ``remote_addr`` builds a tuple through two properties, and
    pylibsrtp's ``protect`` allocates on every call (see ``media/srtp_direct.py``)."""

    __slots__ = ("address", "pair", "protect", "sendto", "session")

    def __init__(self, pair: Any, session: Any) -> None:
        self.pair = pair
        self.session = session
        self.protect = direct_call(session, "protect")
        self.sendto: Callable[[bytes, tuple[Any, ...]], None] = pair.protocol.transport.sendto
        self.address: tuple[Any, ...] = pair.remote_addr


def _send_now(transport: Any, packet: bytes) -> bool:
    """What ``RTCDtlsTransport._send_rtp`` and aioice's ``Connection.sendto`` do for an RTP packet
    (protect, send on the nominated pair's socket, count), without their chain of coroutines;
    False when the transport is not connected or has no nominated pair (the caller then takes
    aiortc's path, which raises ``ConnectionError`` as it always did)."""
    try:
        if transport._state is not DtlsState.CONNECTED:
            return False
        pair = transport.transport._connection._nominated.get(1)
        session = transport._tx_srtp
    except AttributeError:  # internals moved: aiortc's own path still works
        return False
    if pair is None:
        return False
    route: _SendRoute | None = getattr(transport, "_teleconsulta_send_route", None)
    if route is None or route.pair is not pair or route.session is not session:
        route = transport._teleconsulta_send_route = _SendRoute(pair, session)
    data = route.protect(packet)
    route.sendto(data, route.address)
    transport._RTCDtlsTransport__tx_bytes += len(data)
    transport._RTCDtlsTransport__tx_packets += 1
    return True


class SenderPort:
    """Writes ready-made RTP packets into one ``RTCRtpSender`` and hears its RTCP feedback.

    ``on_keyframe_request()`` is called for each PLI or FIR the remote side sends;
    ``on_nack(sequence_number)`` is awaited for each sequence number it NACKs;
    ``on_report(highest_sequence)`` is called after each receiver report about this sender's stream
    is taken in, with the highest sequence number it says was received (low 16 bits).
    The transceiver's sender must not carry a track: its RTP would interleave with ours.
    ``inline=False`` sends through aiortc's coroutines (only to measure what inline sending saves).
    """

    def __init__(
        self,
        transceiver: RTCRtpTransceiver,
        on_keyframe_request: Callable[[], None],
        on_nack: Callable[[int], Awaitable[None]],
        on_report: Callable[[int], None] | None = None,
        *,
        inline: bool = True,
    ) -> None:
        sender = transceiver.sender
        _require(sender, _SENDER_STATE)
        _require(transceiver, _TRANSCEIVER_STATE)
        if sender.track is not None and not isinstance(sender.track, _ParkedTrack):
            raise ValueError("the sender already sends a track; give the forwarder a transceiver without one")
        self._transceiver = transceiver
        self._inline = inline
        self._sender: Any = cast(Any, sender)
        self._parked = (
            sender.track if isinstance(sender.track, _ParkedTrack) else _ParkedTrack(transceiver.kind)
        )
        sender.replaceTrack(self._parked)
        self._sender._send_keyframe = on_keyframe_request
        self._sender._retransmit = on_nack
        self._sender._send_rtcp = self._send_rtcp_now
        self._clock_rate = 0
        """Of the codec last sent: 0 before anything was (a report then says nothing of timing)."""
        self._round_trip: tuple[float, float] | None = None
        if on_report is not None:
            self._sender._handle_rtcp_packet = _reporting(sender, on_report, self._measured)
        self.receiver_estimate_bps: int | None = None
        # aiortc gives a subscriber's REMB estimate to its encoder's ``target_bitrate``; this sender
        # never encodes (its track is parked), so a stand-in encoder records the estimate instead.
        self._sender._RTCRtpSender__encoder = _EstimateRecorder(self)
        self._negotiation: Negotiation | None = None
        self._negotiated_from: object = None

    @property
    def kind(self) -> str:
        return str(self._transceiver.kind)

    @property
    def ssrc(self) -> int:
        return int(self._sender._ssrc)

    @property
    def rtx_ssrc(self) -> int:
        return int(self._sender._rtx_ssrc)

    @property
    def ready(self) -> bool:
        """Whether packets can go out now: transport connected and direction allows sending."""
        return bool(self._sender._enabled) and self._sender.transport.state == "connected"

    def negotiation(self) -> Negotiation | None:
        """The current negotiated parameters, or None before negotiation (no codecs yet)."""
        codecs = self._transceiver._codecs
        if self._negotiation is None or self._negotiated_from is not codecs:
            # aiortc assigns a new list on every (re)negotiation, so identity tells us it changed.
            if not codecs:
                return None
            ids = {ext.uri: ext.id for ext in self._transceiver._headerExtensions}
            self._negotiation = Negotiation(
                codecs=negotiated_codecs(codecs),
                mid=self._transceiver.mid,
                extensions=HeaderExtensionIds(
                    mid=ids.get(MID_URI),
                    abs_send_time=ids.get(ABS_SEND_TIME_URI),
                    audio_level=ids.get(AUDIO_LEVEL_URI),
                ),
                version=(self._negotiation.version + 1) if self._negotiation else 1,
            )
            self._negotiated_from = codecs
        return self._negotiation

    def send_inline(self, packet: bytes) -> bool | None:
        """:meth:`send` without a coroutine, for the per-packet path: True if sent, False if the
        negotiated direction does not let this sender send, None if only aiortc's coroutines can
        send it now (the transport is not connected, or ``inline=False``): then await ``send``."""
        sender = self._sender
        if not sender._enabled:
            return False
        if self._inline and _send_now(sender.transport, packet):
            return True
        return None

    async def send(self, packet: bytes) -> bool:
        """Send one plain RTP packet (aiortc protects it with SRTP); False if the negotiated
        direction does not let this sender send. Raises ConnectionError if the transport is down."""
        sender = self._sender
        if not sender._enabled:
            return False
        if not (self._inline and _send_now(sender.transport, packet)):
            await sender.transport._send_rtp(packet)
        return True

    @property
    def round_trip(self) -> tuple[float, float] | None:
        """When (monotonic seconds) the newest receiver report that measured a round trip came,
        and that round trip in seconds; None before one did."""
        return self._round_trip

    def _measured(self, round_trip_s: float) -> None:
        self._round_trip = (time.monotonic(), round_trip_s)

    def record_sent(
        self, rtp_timestamp: int, ntp_timestamp: int, payload_octets: int, clock_rate: int
    ) -> None:
        """Keep the sender's own sender-report fields current, as its RTP loop would."""
        sender = self._sender
        sender._RTCRtpSender__ntp_timestamp = ntp_timestamp
        sender._RTCRtpSender__rtp_timestamp = rtp_timestamp
        sender._RTCRtpSender__packet_count += 1
        sender._RTCRtpSender__octet_count += payload_octets
        self._clock_rate = clock_rate

    async def _send_rtcp_now(self, packets: list[Any]) -> None:
        """Send the sender's RTCP with its sender report dated now (:func:`sender_info_now`).

        aiortc dates a report with the last packet sent. While a stream sends nothing (video
        paused for a weak link) its reports then all carry one timestamp, and a receiver that
        answers an older one than the last (the newest lost or still queued on that link) makes
        aiortc's round trip negative or seconds long; a long one read as the link's kept paused
        video from resuming once the link was clean (bench.weak_networks).
        """
        sender = self._sender
        for packet in packets:
            if isinstance(packet, RtcpSrPacket) and packet.ssrc == sender._ssrc and self._clock_rate:
                now = time.time()
                packet.sender_info = sender_info_now(packet.sender_info, self._clock_rate, now)
                sender._RTCRtpSender__lsr = (packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF
                sender._RTCRtpSender__lsr_time = now
        await RTCRtpSender._send_rtcp(sender, packets)

    def close(self) -> None:
        """Give the RTCP callbacks back to aiortc. The sender stays parked (silent)."""
        for name in ("_send_keyframe", "_retransmit", "_handle_rtcp_packet", "_send_rtcp"):
            self._sender.__dict__.pop(name, None)


_NTP_SCALE: Final = 1 << 32
"""NTP timestamps count seconds in their upper 32 bits and fractions of one in the lower 32."""


def sender_info_now(info: RtcpSenderInfo, clock_rate: int, now: float) -> RtcpSenderInfo:
    """A sender report's timing as of ``now`` (Unix seconds), as RFC 3550 6.4.1 defines it: the
    wall clock when the report is sent, and the same instant on the stream's RTP clock, carried
    on from the last packet at ``clock_rate``; the counts stay those of the packets sent."""
    sent_at = info.ntp_timestamp / _NTP_SCALE - _NTP_EPOCH_OFFSET_S
    ticks = round((now - sent_at) * clock_rate)
    return RtcpSenderInfo(
        ntp_timestamp=int((now + _NTP_EPOCH_OFFSET_S) * _NTP_SCALE),
        rtp_timestamp=(info.rtp_timestamp + ticks) & 0xFFFFFFFF,
        packet_count=info.packet_count,
        octet_count=info.octet_count,
    )


def _reporting(
    sender: RTCRtpSender, on_report: Callable[[int], None], on_round_trip: Callable[[float], None]
) -> Callable[[Any], Awaitable[None]]:
    """The sender's own RTCP handling, then ``on_report(highest)`` for a report on its stream,
    and ``on_round_trip(seconds)`` when it measured one.

    The round trip in its statistics (``remote-inbound-rtp`` ``roundTripTime``) is the one this
    report measured, as the W3C statistics define it, or None when it measured none: aiortc
    keeps an average that weighs a new measurement 0.15, so after a congested link's queue
    emptied it still read 600 ms for seven reports, and the link was not judged clean.
    """

    async def handle(packet: Any) -> None:
        internals = cast(Any, sender)
        internals._RTCRtpSender__rtt = None
        await RTCRtpSender._handle_rtcp_packet(sender, packet)
        if internals._RTCRtpSender__rtt is not None:
            on_round_trip(internals._RTCRtpSender__rtt)
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    on_report(report.highest_sequence & 0xFFFF)

    return handle


def remote_inbound_stats_id(sender: RTCRtpSender) -> str:
    """The id of the ``remote-inbound-rtp`` statistics (the receiver's reports) of one sender,
    as ``RTCRtpSender.getStats`` names them, so figures of our own can be matched to them."""
    return f"remote-inbound-rtp_{id(sender)}"


# ---------------------------------------------------------------------------------------------
# Descriptions, for reporting only


def description_identity(connection: RTCPeerConnection, *, local: bool) -> object | None:
    """aiortc's own parsed description of one side (the object itself, replaced by each new
    description), or None: ``localDescription`` and ``remoteDescription`` print the whole SDP on
    every read, so whoever reads them often can read them again only when this changes."""
    name = "_RTCPeerConnection__localDescription" if local else "_RTCPeerConnection__remoteDescription"
    method = getattr(connection, name, None)
    return method() if callable(method) else None


# ---------------------------------------------------------------------------------------------
# ICE, for reporting only


def selected_candidate_types(connection: RTCPeerConnection) -> tuple[str, str] | None:
    """The types (``host``, ``srflx``, ``prflx``, ``relay``) of the local and remote candidates of
    the pair that carries the connection's media, or None when no pair is selected yet (or the
    internals moved; see the module docstring).

    A remote candidate the server learnt from a connectivity check (``prflx``) takes the type of a
    candidate the participant signalled at the same address, trickled or in its description: with
    ``max-bundle``, aiortc hands aioice only the candidates of the *last* bundled media line, and
    browsers write theirs under the first, so a browser's relay is usually learnt from its checks.
    """
    for transceiver in connection.getTransceivers():
        ice = getattr(getattr(transceiver.receiver, "transport", None), "transport", None)
        agent = getattr(ice, "_connection", None)
        nominated = getattr(agent, "_nominated", None)
        if not isinstance(nominated, dict) or not nominated:
            continue
        pair = next(iter(nominated.values()))
        local, remote = getattr(pair, "local_candidate", None), getattr(pair, "remote_candidate", None)
        if local is None or remote is None:
            return None
        remote_type = str(remote.type)
        if remote_type == "prflx":
            signalled = _signalled_candidates(connection, getattr(agent, "remote_candidates", []))
            remote_type = signalled.get((str(remote.host), int(remote.port)), remote_type)
        return str(local.type), remote_type
    return None


def _signalled_candidates(connection: RTCPeerConnection, trickled: list[Any]) -> dict[tuple[str, int], str]:
    """(address, port) → type of every candidate the remote side signalled (public description,
    then what aioice holds), so a peer-reflexive one can be named for what it is."""
    found: dict[tuple[str, int], str] = {}
    description = connection.remoteDescription
    for line in description.sdp.splitlines() if description is not None else []:
        fields = line.removeprefix("a=candidate:").split()
        if line.startswith("a=candidate:") and len(fields) >= 8 and fields[6] == "typ":
            try:
                found[(fields[4], int(fields[5]))] = fields[7]
            except ValueError:
                continue
    for candidate in trickled:
        if candidate.type != "prflx":
            found[(str(candidate.host), int(candidate.port))] = str(candidate.type)
    return found
