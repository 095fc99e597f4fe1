"""Packet-level forwarding of encoded media between server-side aiortc peer connections.

This is the core of the SFU: a publisher's RTP packets (VP8, H.264, Opus) go to each subscriber
as they arrive, with no jitter buffer, no decoding and no re-encoding. A :class:`PublishedTrack`
takes packets from a server-side receiver; a :class:`Subscription` sends them through a
server-side sender, rewritten into that sender's own continuous stream (:mod:`media.rtp_rewrite`).

What makes forwarding hold up on real networks, and why:

* A subscriber starts (on attach, switch or resume) only at a packet that starts a keyframe
  (:mod:`media.keyframes`); until then it gets nothing, so its decoder is never fed deltas it
  cannot decode. Attaching asks the publisher for a keyframe at once.
* Keyframe requests (a subscriber's PLI/FIR, a new subscriber, an unrecovered loss) go to the
  publisher as PLI, at most one per ``keyframe_request_interval`` per published track: every
  keyframe is large and a storm of them would congest the publisher's uplink. A request that falls
  inside the interval is not lost; it is sent when the interval ends, unless a keyframe came first.
* Loss upstream: the server NACKs gaps at once and again every ``renack_interval``; a gap still
  open after ``loss_timeout`` is given up and a keyframe is requested, so a lost packet freezes a
  picture for about ``loss_timeout`` + one round trip, not until the next natural keyframe
  (which for aiortc's VP8 encoder is 100 s away).
* Loss downstream: each subscriber keeps its last packets and answers its NACKs itself (as RTX
  when negotiated). A NACK the cache cannot answer is a packet the server never got; the upstream
  NACK rounds already chase it.
* Audio redundancy (RED, :mod:`media.red`): a publisher's RED goes unchanged to a subscriber
  who negotiated RED (its blocks relabelled if that subscriber numbers Opus differently), and as
  its primary Opus frame alone to one who did not; malformed RED is dropped like any garbage.
* Garbage from a publisher (its own stream only: SRTP already authenticated it): a malformed or
  empty payload is dropped and a keyframe requested (its frame is broken for everyone; forwarding
  it empty would make aiortc/FFmpeg decoders take it for end of stream); duplicates and stale
  packets are dropped; a wild sequence jump is accepted only when the next packet confirms it
  (RFC 3550 A.1); packets from a second SSRC are ignored unless the first one has gone silent. A
  packet that raises is dropped by the seam, so nothing a publisher sends can end a peer
  connection or reach another room.

Everything runs in the event loop, in the receiving transport's task, so there are no locks;
subscriber lists are replaced, never mutated, so a switch during a send cannot disturb the loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiortc import RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media import red
from media.aiortc_seam import NegotiatedCodec, ReceiverTap, SenderPort
from media.census import TrafficCounts
from media.keyframes import DELTA, INVALID, KEY_START, CodecTraits, traits_for
from media.rtp_rewrite import HeaderWriter, RetransmissionCache, SequenceMapper, wrap_rtx

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

_NTP_EPOCH_OFFSET: Final = 2208988800.0  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
_NTP_SCALE: Final = 4294967296.0  # 2**32: NTP timestamps are 32.32 fixed point
_ABS_SEND_TIME_SCALE: Final = 262144.0  # 2**18: abs-send-time is 6.18 fixed point seconds
_NEVER: Final = float("-inf")


@dataclass(frozen=True, slots=True)
class ForwardingPolicy:
    """Tunables; the defaults suit browsers on ordinary links (RTT up to ~100 ms)."""

    keyframe_request_interval: float = 0.3
    """At most one PLI per published track per this many seconds."""
    loss_timeout: float = 0.15
    """A gap not filled by retransmission within this time is unrecovered: request a keyframe."""
    renack_interval: float = 0.04
    """How often still-missing packets are NACKed again."""
    max_tracked_losses: int = 256
    """A larger gap is not NACKed packet by packet: a keyframe is requested at once."""
    max_dropout: int = 3000
    """A forward sequence jump larger than this must be confirmed by the next packet."""
    max_misorder: int = 100
    """An unknown packet at most this far behind is a duplicate; further behind, a jump back."""
    ssrc_takeover_silence: float = 1.0
    """A new SSRC replaces the current one only after the current one was silent this long."""
    retransmission_cache_size: int = 512
    """Packets kept per subscriber to answer NACKs (a power of two; ~2 s of 1.5 Mbit/s video)."""
    send_remb: bool = True
    """Send the publisher REMB bandwidth estimates, as aiortc's receiver does."""
    count_bytes: bool = True
    """Count received payload bytes for metrics (off only to measure what counting costs)."""
    inline_send: bool = True
    """Protect and send each packet inline (``aiortc_seam.SenderPort``); off only to measure."""


@dataclass(slots=True)
class PublisherStats:
    """Counters of one published track (cumulative)."""

    packets_received: int = 0
    payload_bytes_received: int = 0
    packets_accepted: int = 0
    packets_invalid: int = 0
    packets_duplicate: int = 0
    packets_foreign_ssrc: int = 0
    packets_out_of_range: int = 0
    keyframes: int = 0
    keyframe_requests_sent: int = 0
    keyframe_requests_suppressed: int = 0
    nacks_sent: int = 0
    losses_recovered: int = 0
    losses_unrecovered: int = 0


@dataclass(slots=True)
class SubscriberStats:
    """Counters of one subscription (cumulative)."""

    packets_sent: int = 0
    bytes_sent: int = 0
    starts: int = 0
    dropped_waiting_for_keyframe: int = 0
    dropped_before_start: int = 0
    dropped_incompatible_codec: int = 0
    keyframe_requests_received: int = 0
    nacks_received: int = 0
    retransmissions_sent: int = 0
    retransmissions_missed: int = 0
    send_errors: int = 0
    upstream_holes: int = 0
    """Outgoing sequence numbers left empty because the server never got the packet from the
    publisher: the subscriber's receiver reports count them as lost, but its own link lost none
    of them (:mod:`media.quality` takes them out of its download loss)."""
    probes_sent: int = 0
    """Padding-only packets sent while paused (:meth:`Subscription.probe`), not in the counts above."""


def match_codec(
    codecs: tuple[NegotiatedCodec, ...], mime_type: str, clock_rate: int, parameters: Mapping[str, object]
) -> NegotiatedCodec | None:
    """The subscriber codec that can carry the publisher's packets unchanged, or None.

    H.264 must also agree on packetization mode; an identical profile-level-id is preferred,
    then the same profile (first byte), since a decoder handles any level of its profile.
    """
    mime = mime_type.lower()
    candidates = [c for c in codecs if c.mime_type.lower() == mime and c.clock_rate == clock_rate]
    if mime != "video/h264":
        return candidates[0] if candidates else None

    def mode(values: Mapping[str, object]) -> str:
        return str(values.get("packetization-mode", "0"))

    def profile(values: Mapping[str, object]) -> str:
        return str(values.get("profile-level-id", "42001f")).lower()

    candidates = [c for c in candidates if mode(c.parameters) == mode(parameters)]
    wanted = profile(parameters)
    for codec in candidates:
        if profile(codec.parameters) == wanted:
            return codec
    for codec in candidates:
        if profile(codec.parameters)[:2] == wanted[:2]:
            return codec
    return None


PayloadChange = Callable[[bytes], bytes | None]
"""What a subscriber's copy of a payload becomes (None: not sendable, dropped)."""


def _output_for(
    codecs: tuple[NegotiatedCodec, ...],
    source: RTCRtpCodecParameters,
    source_codec: Callable[[int], RTCRtpCodecParameters | None],
) -> tuple[NegotiatedCodec | None, PayloadChange | None]:
    """The subscriber codec that carries a source codec, and how its payloads change on the way.

    RED (:mod:`media.red`) goes as RED to a subscriber who negotiated it, its blocks relabelled if
    the subscriber numbers Opus differently; a subscriber without RED gets the primary frame
    alone, as the inner codec. Everything else goes unchanged (:func:`match_codec`).
    """
    codec = match_codec(codecs, source.mimeType, source.clockRate, source.parameters)
    if source.mimeType.lower() != red.MIME_TYPE:
        return codec, None
    inner = red.inner_payload_type(source.parameters)
    if codec is not None:
        outer = red.inner_payload_type(codec.parameters)
        if inner is None or outer is None:
            return None, None
        return codec, None if inner == outer else _relabelling({inner: outer})
    inner_codec = source_codec(inner) if inner is not None else None
    if inner is None or inner_codec is None:
        return None, None
    codec = match_codec(codecs, inner_codec.mimeType, inner_codec.clockRate, inner_codec.parameters)
    return codec, _unwrapping(inner) if codec is not None else None


def _relabelling(payload_types: Mapping[int, int]) -> PayloadChange:
    def relabel(payload: bytes) -> bytes | None:
        return red.relabel(payload, payload_types)

    return relabel


def _unwrapping(inner_payload_type: int) -> PayloadChange:
    def unwrap(payload: bytes) -> bytes | None:
        found = red.primary(payload)
        return found[1] if found is not None and found[0] == inner_payload_type else None

    return unwrap


class Forwarder:
    """Creates and owns published tracks and subscriptions; holds the policy and the clock.

    It knows nothing of rooms: the SFU backend decides who subscribes to what.
    ``clock`` (monotonic seconds) can be replaced in tests to make rate limits deterministic.
    """

    audio_redundancy = True
    """RED is forwarded as RED, or unwrapped to its primary Opus frame (:mod:`media.red`)."""

    def __init__(self, policy: ForwardingPolicy | None = None, *, clock: Clock = time.monotonic) -> None:
        self.policy = policy or ForwardingPolicy()
        self.clock = clock
        self._published: list[PublishedTrack] = []
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._streams: weakref.WeakKeyDictionary[object, _OutgoingStream] = weakref.WeakKeyDictionary()
        self._retired = TrafficCounts()
        """What tracks and subscriptions that are gone had counted, so totals never go down."""

    @property
    def published(self) -> tuple[PublishedTrack, ...]:
        return tuple(self._published)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    def publish(self, transceiver: RTCRtpTransceiver, *, keep_decoding: bool = False) -> PublishedTrack:
        """Take over the RTP of a server-side transceiver's receiver (call before media flows,
        e.g. from the peer connection's ``track`` event). ``keep_decoding`` also lets aiortc decode
        it, for a recorder reading ``transceiver.receiver.track``."""
        track = PublishedTrack(self, transceiver, keep_decoding=keep_decoding)
        self._published.append(track)
        return track

    def subscribe(self, transceiver: RTCRtpTransceiver, source: PublishedTrack | None = None) -> Subscription:
        """Send forwarded packets through a server-side transceiver's sender (which must carry no
        track). It may be called before negotiation; packets flow once the transport connects."""
        subscription = Subscription(self, transceiver)
        self._subscriptions.append(subscription)
        if source is not None:
            subscription.switch(source)
        return subscription

    def unpublish(self, track: PublishedTrack) -> None:
        """Give the receiver back to aiortc; its subscribers stay, waiting for another source."""
        if track in self._published:
            self._published.remove(track)
            track._close()
            _count_publisher(self._retired, track.stats)

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            subscription._close()
            _count_subscription(self._retired, subscription.stats)

    def traffic(self) -> TrafficCounts:
        """Everything this forwarder has moved so far, for metrics (:mod:`media.census`)."""
        totals = TrafficCounts()
        totals.add(self._retired)
        for track in self._published:
            _count_publisher(totals, track.stats)
        for subscription in self._subscriptions:
            _count_subscription(totals, subscription.stats)
        return totals

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)
        for track in list(self._published):
            self.unpublish(track)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stream_for(self, transceiver: RTCRtpTransceiver) -> _OutgoingStream:
        stream = self._streams.get(transceiver.sender)
        if stream is None:
            stream = _OutgoingStream(transceiver.kind, self.policy.retransmission_cache_size)
            self._streams[transceiver.sender] = stream
        return stream

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run an RTCP send from synchronous code (an RTCP callback, an API call)."""
        task = asyncio.get_running_loop().create_task(_logged(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _count_publisher(totals: TrafficCounts, stats: PublisherStats) -> None:
    totals.packets_in += stats.packets_received
    totals.payload_bytes_in += stats.payload_bytes_received
    totals.nacks_sent += stats.nacks_sent
    totals.keyframe_requests_sent += stats.keyframe_requests_sent
    totals.dropped_invalid += stats.packets_invalid
    totals.dropped_duplicate += stats.packets_duplicate
    totals.losses_recovered += stats.losses_recovered
    totals.losses_unrecovered += stats.losses_unrecovered


def _count_subscription(totals: TrafficCounts, stats: SubscriberStats) -> None:
    totals.packets_out += stats.packets_sent
    totals.bytes_out += stats.bytes_sent
    totals.nacks_received += stats.nacks_received
    totals.retransmissions += stats.retransmissions_sent
    totals.keyframe_requests_received += stats.keyframe_requests_received
    totals.keyframe_waits += stats.starts
    totals.dropped_waiting_for_keyframe += stats.dropped_waiting_for_keyframe
    totals.send_errors += stats.send_errors


async def _logged(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        await coroutine
    except ConnectionError:
        pass
    except Exception:
        logger.warning("an RTCP send failed", exc_info=True)


class _OutgoingStream:
    """What makes one sender's outgoing stream continuous: kept per sender by the forwarder, so a
    later subscription on the same (reused) transceiver continues the numbering instead of
    restarting it on the same SSRC, which a receiver would see as a jump."""

    __slots__ = ("cache", "fills", "gaps", "gaps_total", "holes_at_report", "mapper", "rtx_sequence")

    def __init__(self, kind: str, cache_size: int) -> None:
        self.mapper = SequenceMapper(90000 if kind == "video" else 48000)
        self.cache = RetransmissionCache(cache_size)
        self.rtx_sequence = random.randrange(0x8000)
        # The holes the publisher's link left in our numbering: each gap as (the sequence number
        # after it, gaps before it, gaps through it), so a receiver report is matched with the
        # gaps up to the highest number it covers; and the late packets that filled one.
        self.gaps: deque[tuple[int, int, int]] = deque(maxlen=128)
        self.gaps_total = 0
        self.fills = 0
        self.holes_at_report = 0

    def note_gap(self, after: int, missing: int) -> None:
        self.gaps.append((after, self.gaps_total, self.gaps_total + missing))
        self.gaps_total += missing

    def holes_through(self, highest_sequence: int) -> int:
        """Holes as a report up to ``highest_sequence`` saw them (packets sent after it was
        written are not in it), less the late packets that filled some."""
        gaps = self.gaps_total
        for after, before, through in reversed(self.gaps):
            if ((highest_sequence - after) & 0xFFFF) < 0x8000:
                gaps = through
                break
            gaps = before
        return max(0, gaps - self.fills)


@dataclass(frozen=True, slots=True)
class _SourceCodec:
    parameters: RTCRtpCodecParameters
    traits: CodecTraits | None
    nack: bool


class PublishedTrack:
    """One publisher's incoming track, fanned out to its subscriptions."""

    def __init__(self, forwarder: Forwarder, transceiver: RTCRtpTransceiver, *, keep_decoding: bool) -> None:
        self.kind: str = transceiver.kind
        self.stats = PublisherStats()
        self._forwarder = forwarder
        self._policy = forwarder.policy
        self._clock = forwarder.clock
        self._subscriptions: list[Subscription] = []
        self._codecs: dict[int, _SourceCodec] = {}
        self._ssrc: int | None = None
        self._max_seq = -1
        self._last_ts = -1
        self._last_packet_at = _NEVER
        self._probation_seq = -1
        self._missing: dict[int, float] = {}  # sequence number -> when the gap was seen
        self._next_renack = 0.0
        self._last_keyframe_request = _NEVER
        self._keyframe_pending = False
        self._tap = ReceiverTap(
            transceiver.receiver, self._on_rtp, keep_decoding=keep_decoding, send_remb=self._policy.send_remb
        )
        self._tap.install()
        self._closed = False
        self._count_bytes = self._policy.count_bytes

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    @property
    def ssrc(self) -> int | None:
        """The publisher's media SSRC the track follows (None before the first packet)."""
        return self._ssrc

    @property
    def handler_errors(self) -> int:
        """Packets that raised while being handled (dropped by the seam). Should stay 0."""
        return self._tap.errors

    @property
    def upstream_jitter_ms(self) -> float:
        """The interarrival jitter of the publisher's stream at the server (RFC 3550 A.8)."""
        if self._ssrc is None:
            return 0.0
        return self._tap.arrival_jitter_ms(self._ssrc)

    def report_downstream_loss(self, fraction: float) -> None:
        """The worst loss (0 to 1) the track's subscribers see on their own links: our receiver reports
        to the publisher say at least that much, so its encoder protects the stream (Opus FEC)."""
        self._tap.report_downstream_loss(fraction)

    def codec_parameters(self, payload_type: int) -> RTCRtpCodecParameters | None:
        """The negotiated codec of a payload type, whether or not packets of it came yet (RED's
        inner Opus never comes on its own)."""
        source = self._codecs.get(payload_type)
        return source.parameters if source else self._tap.codec(payload_type)

    def request_keyframe(self) -> bool:
        """Ask the publisher for a keyframe now if the rate limit allows, else as soon as it does.

        Returns whether a PLI was sent now. Audio tracks ignore the request.
        """
        if self.kind != "video" or self._closed:
            return False
        now = self._clock()
        if self._ssrc is None or now - self._last_keyframe_request < self._policy.keyframe_request_interval:
            if self._ssrc is not None:
                self.stats.keyframe_requests_suppressed += 1
            self._keyframe_pending = True
            return False
        self._claim_keyframe_request(now)
        self._forwarder._spawn(self._tap.send_pli(self._ssrc))
        return True

    # -- internals used by Subscription ------------------------------------------------------

    def _add(self, subscription: Subscription) -> None:
        if subscription not in self._subscriptions:
            self._subscriptions = [*self._subscriptions, subscription]

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]

    def _want_keyframe(self) -> None:
        """A subscriber is waiting: make sure a request goes out when the rate limit allows."""
        if self.kind == "video":
            self._keyframe_pending = True

    def _close(self) -> None:
        self._closed = True
        self._tap.uninstall()
        for subscription in self._subscriptions:
            subscription._source_gone(self)
        self._subscriptions = []

    # -- the per-packet path -----------------------------------------------------------------

    def _claim_keyframe_request(self, now: float) -> None:
        self._last_keyframe_request = now
        self._keyframe_pending = False
        self.stats.keyframe_requests_sent += 1

    def _source_codec(self, codec: RTCRtpCodecParameters) -> _SourceCodec:
        nack = any(fb.type == "nack" and not fb.parameter for fb in codec.rtcpFeedback)
        source = _SourceCodec(codec, traits_for(codec.mimeType, codec.clockRate), nack)
        if codec.payloadType is not None:
            self._codecs[codec.payloadType] = source
        return source

    async def _on_rtp(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        stats = self.stats
        stats.packets_received += 1
        if self._count_bytes:
            stats.payload_bytes_received += len(packet.payload)
        if self._closed:
            return
        now = self._clock()
        source = self._codecs.get(packet.payload_type)
        if source is None or source.parameters is not codec:
            source = self._source_codec(codec)
        traits = source.traits
        if traits is None:
            stats.packets_invalid += 1
            return

        if packet.ssrc != self._ssrc:
            if self._ssrc is not None and now - self._last_packet_at < self._policy.ssrc_takeover_silence:
                stats.packets_foreign_ssrc += 1
                return
            self._restart_stream(packet.ssrc)

        seq = packet.sequence_number
        in_order = True
        nack = source.nack and traits.is_video
        if self._max_seq < 0:
            self._max_seq = seq
        else:
            delta = (seq - self._max_seq) & 0xFFFF
            if delta == 0:
                stats.packets_duplicate += 1
                return
            if delta <= self._policy.max_dropout:
                if delta > 1:
                    await self._note_gap(seq, delta - 1, now, nack)
                self._max_seq = seq
            elif self._missing.pop(seq, None) is not None:
                stats.losses_recovered += 1  # a retransmission (or a late packet) filled a gap
                in_order = False
            elif delta >= 0x8000 and 0x10000 - delta <= self._policy.max_misorder:
                stats.packets_duplicate += 1  # or too old to be of use
                return
            elif seq != self._probation_seq:
                # A jump either way (RFC 3550 A.1): believe it only if the next packet follows it.
                self._probation_seq = (seq + 1) & 0xFFFF
                stats.packets_out_of_range += 1
                return
            else:
                self._restart_stream(packet.ssrc)
                self._max_seq = seq
        self._last_packet_at = now
        stats.packets_accepted += 1

        timestamp = packet.timestamp
        payload = packet.payload
        code = traits.classify(payload, timestamp != self._last_ts)
        if in_order:
            self._last_ts = timestamp
            if code == KEY_START and traits.is_video:
                stats.keyframes += 1
                self._keyframe_pending = False
        elif code == KEY_START:
            code = DELTA  # never start a subscriber on a late packet: what followed it is gone
        if code == INVALID:
            # Not forwarded: an empty or truncated payload is worse than a gap (FFmpeg takes an
            # empty frame for end of stream). The frame it belonged to is broken for everyone, so
            # ask for a keyframe now rather than wait for each subscriber to notice.
            stats.packets_invalid += 1
            if traits.is_video:
                self._request_keyframe_after_loss(now)

        if self._missing:
            await self._check_losses(now, traits.is_video, nack)
        interval = self._policy.keyframe_request_interval
        if self._keyframe_pending and now - self._last_keyframe_request >= interval:
            self._claim_keyframe_request(now)
            await self._tap.send_pli(packet.ssrc)  # == self._ssrc by now
        if code == INVALID:
            if in_order:
                for subscription in self._subscriptions:
                    subscription._skip(seq)
            return

        subscriptions = self._subscriptions
        if not subscriptions:
            return
        wall = time.time()
        abs_send_time = int(wall * _ABS_SEND_TIME_SCALE) & 0xFFFFFF
        ntp = int((wall + _NTP_EPOCH_OFFSET) * _NTP_SCALE)
        level = -1
        if not traits.is_video:
            audio_level = packet.extensions.audio_level
            if audio_level is not None:
                level = (0x80 if audio_level[0] else 0) | (audio_level[1] & 0x7F)
        marker = packet.marker
        payload_type = packet.payload_type
        for subscription in subscriptions:
            await subscription._forward(
                seq, timestamp, marker, payload, code, payload_type, traits, now, abs_send_time, ntp, level
            )

    def _restart_stream(self, ssrc: int) -> None:
        """A new SSRC, or a confirmed sequence discontinuity: numbering starts over."""
        self._ssrc = ssrc
        self._max_seq = -1
        self._last_ts = -1
        self._probation_seq = -1
        self._missing.clear()
        for subscription in self._subscriptions:
            subscription._restart()
        if self._subscriptions:
            self._want_keyframe()

    async def _note_gap(self, seq: int, missing: int, now: float, nack: bool) -> None:
        """Packets before ``seq`` are missing: remember them (a late one is still welcome) and NACK."""
        if missing > self._policy.max_tracked_losses:
            self._missing.clear()
            if self.kind == "video":
                self.stats.losses_unrecovered += 1
                self._request_keyframe_after_loss(now)
            return
        first = (seq - missing) & 0xFFFF
        lost = [(first + i) & 0xFFFF for i in range(missing)]
        for lost_seq in lost:
            self._missing[lost_seq] = now
        while len(self._missing) > self._policy.max_tracked_losses:
            del self._missing[next(iter(self._missing))]
        if nack and self._ssrc is not None:
            self.stats.nacks_sent += 1
            self._next_renack = now + self._policy.renack_interval
            await self._tap.send_nack(self._ssrc, lost)

    async def _check_losses(self, now: float, video: bool, nack: bool) -> None:
        """Give up on gaps older than ``loss_timeout`` (keyframe), else NACK them again if due."""
        oldest = next(iter(self._missing.values()))
        if now - oldest >= self._policy.loss_timeout:
            self._missing.clear()
            if video:
                self.stats.losses_unrecovered += 1
                self._request_keyframe_after_loss(now)
            return
        if nack and now >= self._next_renack and self._ssrc is not None:
            self._next_renack = now + self._policy.renack_interval
            self.stats.nacks_sent += 1
            await self._tap.send_nack(self._ssrc, sorted(self._missing))

    def _request_keyframe_after_loss(self, now: float) -> None:
        # Sent from the per-packet path right after this returns (pending flag), so the PLI goes
        # out in order with the packet that revealed the loss.
        if self.kind != "video":
            return
        if now - self._last_keyframe_request < self._policy.keyframe_request_interval:
            self.stats.keyframe_requests_suppressed += 1
        self._want_keyframe()


class Subscription:
    """One subscriber's outgoing track: a source, its rewriting state and its retransmission cache."""

    def __init__(self, forwarder: Forwarder, transceiver: RTCRtpTransceiver) -> None:
        self.kind: str = transceiver.kind
        self.stats = SubscriberStats()
        self._forwarder = forwarder
        self._port = SenderPort(
            transceiver,
            self._on_keyframe_request,
            self._on_nack,
            self._on_report,
            inline=forwarder.policy.inline_send,
        )
        self._source: PublishedTrack | None = None
        self._paused = False
        self._probing: asyncio.Task[None] | None = None
        self._probe_interval = 0.0
        self._waiting = True
        self._stream = forwarder._stream_for(transceiver)
        self._mapper = self._stream.mapper
        self._cache = self._stream.cache
        # Output for the current source codec, chosen at each start (see _prepare).
        self._in_payload_type = -1
        self._out_payload_type = 0
        self._rtx_payload_type: int | None = None
        self._writer: HeaderWriter | None = None
        self._level_writer: HeaderWriter | None = None
        self._payload_change: PayloadChange | None = None
        self._prepared_for: tuple[int, int] = (-1, -1)  # (source payload type, negotiation version)
        self._incompatible_logged: tuple[int, int] = (-1, -1)

    @property
    def receiver_estimate_bps(self) -> int | None:
        """The subscriber's latest REMB bandwidth estimate for this stream, if it sent one."""
        return self._port.receiver_estimate_bps

    @property
    def round_trip(self) -> tuple[float, float] | None:
        """When (monotonic seconds) the subscriber's newest report that measured a round trip on
        this stream came, and that round trip in seconds."""
        return self._port.round_trip

    @property
    def source(self) -> PublishedTrack | None:
        return self._source

    @property
    def upstream_jitter_ms(self) -> float:
        """The jitter the source's stream had when it reached the server; forwarding keeps it."""
        return self._source.upstream_jitter_ms if self._source is not None else 0.0

    @property
    def upstream_holes(self) -> int:
        """Outgoing sequence numbers never sent because the publisher's link lost them, as of the
        subscriber's latest receiver report (cumulative, for the outgoing stream): counted up to
        the highest number the report covers, so it matches the report's own loss count."""
        return self._stream.holes_at_report

    @property
    def holes_sent(self) -> int:
        """Outgoing sequence numbers left empty so far because the publisher's link lost them,
        less the late packets that filled some (cumulative, for the outgoing stream): the
        subscriber's page counts them as lost, though its own link lost none of them."""
        return max(0, self._stream.gaps_total - self._stream.fills)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._waiting

    def switch(self, source: PublishedTrack | None) -> None:
        """Forward another publisher's track (or none). The outgoing stream stays continuous: it
        resumes at the new source's next keyframe, which is requested now."""
        if source is not None and source.kind != self.kind:
            raise ValueError(f"cannot forward a {source.kind} track to a {self.kind} sender")
        if self._source is not None:
            self._source._remove(self)
        self._source = source
        self._restart()
        if source is not None and not self._paused:
            source._add(self)
            if self._port.ready:
                source.request_keyframe()
            # Not connected yet: a keyframe now would arrive before we could send it and use up the
            # rate limit; the first packet after the connection is ready asks for one instead.

    def pause(self) -> None:
        """Stop forwarding (e.g. video off for a weak link); the sender stays, silent."""
        self._paused = True
        if self._source is not None:
            self._source._remove(self)

    def resume(self) -> None:
        self._stop_probing()
        if self._paused:
            self._paused = False
            self.switch(self._source)

    def probe(self, packets_per_second: float) -> None:
        """While paused, send padding-only packets in the outgoing stream at this rate, until it
        resumes: the subscriber's browser counts them as received or lost like any packet, so its
        page reports (``media:link_report``) say within 2-3 s whether the link is clean again,
        where audio alone (50 packets a second) took 6-7 s. A few bytes each, so the link
        still carries the audio. The numbering goes on from the last packet sent, so the stream
        resumes after the probes without a hole. Asked again while probing, it changes the rate."""
        if not self._paused:
            return
        self._probe_interval = 1.0 / packets_per_second
        if self._probing is None:
            self._probing = asyncio.get_running_loop().create_task(self._send_probes())

    def _stop_probing(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
            self._probing = None

    async def _send_probes(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while self._paused:
            due += self._probe_interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not await self._send_probe():
                due = loop.time()  # not sendable now (connecting, renegotiated): no catching up

    async def _send_probe(self) -> bool:
        writer, mapper = self._writer, self._mapper
        if writer is None or not mapper.sent_any or not self._port.ready:
            return False
        sequence = (mapper.last_sequence + 1) & 0xFFFF
        abs_send_time = int(time.time() * _ABS_SEND_TIME_SCALE) & 0xFFFFFF
        packet = bytearray(
            writer.write(self._out_payload_type, sequence, mapper.last_timestamp, abs_send_time, -1, b"")
        )
        packet[0] |= 0x20  # padding: the last octet says how many octets are padding
        packet.append(1)
        try:
            if not await self._port.send(bytes(packet)):
                return False
        except ConnectionError:
            return False
        mapper.last_sequence = sequence
        self.stats.probes_sent += 1
        return True

    # -- internals ----------------------------------------------------------------------------

    def _restart(self) -> None:
        self._waiting = True

    def _source_gone(self, source: PublishedTrack) -> None:
        if self._source is source:
            self._source = None
            self._waiting = True

    def _close(self) -> None:
        self._stop_probing()
        if self._source is not None:
            self._source._remove(self)
        self._source = None
        self._port.close()

    def _prepare(self, payload_type: int, traits: CodecTraits) -> bool:
        """Choose the outgoing payload type and header layout for this source codec."""
        negotiation = self._port.negotiation()
        source = self._source
        if negotiation is None or source is None:
            return False
        if self._prepared_for == (payload_type, negotiation.version):
            return True
        parameters = source.codec_parameters(payload_type)
        if parameters is None:
            return False
        codec, change = _output_for(negotiation.codecs, parameters, source.codec_parameters)
        if codec is None:
            if self._incompatible_logged != (payload_type, negotiation.version):
                self._incompatible_logged = (payload_type, negotiation.version)
                logger.warning(
                    "a %s subscriber negotiated no codec that can carry the publisher's %s; not forwarding",
                    self.kind,
                    parameters.mimeType,
                )
            return False
        self._out_payload_type = codec.payload_type
        self._rtx_payload_type = codec.rtx_payload_type
        self._payload_change = change
        self._writer = HeaderWriter(
            self._port.ssrc, negotiation.mid, negotiation.extensions, audio_level=False
        )
        self._level_writer = None
        if not traits.is_video and negotiation.extensions.audio_level is not None:
            self._level_writer = HeaderWriter(
                self._port.ssrc, negotiation.mid, negotiation.extensions, audio_level=True
            )
        self._prepared_for = (payload_type, negotiation.version)
        return True

    def _start(
        self, seq: int, timestamp: int, code: int, payload_type: int, traits: CodecTraits, now: float
    ) -> bool:
        """Try to (re)start the outgoing stream at this packet; False drops it."""
        self._waiting = True
        if not self._port.ready:
            # Still connecting, or renegotiated not to send: no use asking for keyframes yet.
            self.stats.dropped_waiting_for_keyframe += 1
            return False
        if code != KEY_START:
            self.stats.dropped_waiting_for_keyframe += 1
            if self._source is not None:
                self._source._want_keyframe()
            return False
        if not self._prepare(payload_type, traits):
            self.stats.dropped_incompatible_codec += 1
            return False
        self._mapper.restart(seq, timestamp, now, traits.clock_rate)
        self._in_payload_type = payload_type
        self._waiting = False
        self.stats.starts += 1
        return True

    async def _forward(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        code: int,
        payload_type: int,
        traits: CodecTraits,
        now: float,
        abs_send_time: int,
        ntp: int,
        level: int,
    ) -> None:
        mapper = self._mapper
        if self._waiting or payload_type != self._in_payload_type:
            if not self._start(seq, timestamp, code, payload_type, traits, now):
                return
        elif ((seq - mapper.start_sequence) & 0xFFFF) >= 0x8000:
            self.stats.dropped_before_start += 1
            return
        change = self._payload_change
        if change is not None:
            changed = change(payload)
            if changed is None:
                self.stats.dropped_incompatible_codec += 1
                mapper.skip(seq)  # keep the numbering continuous without it
                return
            payload = changed
        out_seq = (seq + mapper.seq_offset) & 0xFFFF
        out_ts = (timestamp + mapper.ts_offset) & 0xFFFFFFFF
        writer = self._level_writer if level >= 0 and self._level_writer is not None else self._writer
        assert writer is not None  # set by _prepare before the first start
        packet = writer.write(
            (marker << 7) | self._out_payload_type, out_seq, out_ts, abs_send_time, level, payload
        )
        ahead = (out_seq - mapper.last_sequence) & 0xFFFF
        if ahead < 0x8000:
            if ahead > 1:
                self._stream.note_gap(out_seq, ahead - 1)
                self.stats.upstream_holes += ahead - 1
            mapper.last_sequence = out_seq
            mapper.last_timestamp = out_ts
            mapper.last_sent_at = now
        elif self.stats.upstream_holes > 0:
            self.stats.upstream_holes -= 1  # a late (retransmitted) packet filled a hole
            self._stream.fills += 1
        self._cache.put(out_seq, packet)
        port = self._port
        try:
            sent = port.send_inline(packet)
            if sent is None:
                sent = await port.send(packet)
            if not sent:
                self._waiting = True  # direction renegotiated to not send: start afresh later
                return
        except ConnectionError:
            self.stats.send_errors += 1
            self._waiting = True  # once the transport is back, start again at a keyframe
            return
        port.record_sent(out_ts, ntp, len(payload), traits.clock_rate)
        stats = self.stats
        stats.packets_sent += 1
        stats.bytes_sent += len(packet)

    def _skip(self, seq: int) -> None:
        """The source dropped this packet: keep our numbering continuous without it."""
        if not self._waiting:
            self._mapper.skip(seq)

    def _on_keyframe_request(self) -> None:
        """The subscriber sent PLI or FIR: pass it on to the publisher (rate-limited there)."""
        self.stats.keyframe_requests_received += 1
        if self._source is not None:
            self._source.request_keyframe()

    def _on_report(self, highest_sequence: int) -> None:
        self._stream.holes_at_report = self._stream.holes_through(highest_sequence)

    async def _on_nack(self, sequence_number: int) -> None:
        """The subscriber NACKed one of our sequence numbers: resend it from the cache, unless this
        video is paused for the subscriber's weak link. Its browser goes on asking for what the
        link lost before the pause, each packet several times; answering flooded a 150 kbit/s link
        with thousands of resent video packets in the seconds after the pause, and audio lost a
        fifth of its packets to them (bench/weak_networks.py)."""
        self.stats.nacks_received += 1
        if self._paused:
            return
        packet = self._cache.get(sequence_number)
        if packet is None:
            self.stats.retransmissions_missed += 1
            return
        if self._rtx_payload_type is not None:
            stream = self._stream
            packet = wrap_rtx(packet, self._rtx_payload_type, stream.rtx_sequence, self._port.rtx_ssrc)
            stream.rtx_sequence = (stream.rtx_sequence + 1) & 0xFFFF
        try:
            if not await self._port.send(packet):
                return
        except ConnectionError:
            return
        self.stats.retransmissions_sent += 1
