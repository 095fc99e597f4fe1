"""How a published track reaches its subscribers: the strategy behind the SFU.

The SFU decides *who receives what*; a :class:`Forwarding` strategy moves the media. Two exist:

- packet forwarding (:class:`media.rtp_forwarding.Forwarder`): RTP packets go from the
  publisher's receiver to each subscriber's sender, rewritten but never decoded — the product;
- :class:`ReencodingForwarding`: aiortc decodes what it receives and encodes it again for each
  subscriber (``MediaRelay``) — the baseline the benchmark compares against, and the path that
  hands out decoded frames when pixels are needed.

Both work on transceivers, so the SFU's negotiation code is the same for either.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiortc import MediaStreamTrack, RTCRtpTransceiver
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from av.frame import Frame
from av.packet import Packet


class Sink(Protocol):
    """One subscriber's copy of one published track."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Forwarding(Protocol):
    audio_redundancy: bool
    """Whether it can carry RED audio (:mod:`media.red`): then the SFU negotiates RED with the
    browsers that offer or accept it."""

    def publish(self, transceiver: RTCRtpTransceiver) -> Any:
        """Start taking what arrives on ``transceiver``'s receiver; returns the source handle."""

    def subscribe(self, transceiver: RTCRtpTransceiver, source: Any) -> Sink:
        """Send ``source`` on ``transceiver``'s sender."""

    def unpublish(self, source: Any) -> None: ...

    def unsubscribe(self, sink: Any) -> None: ...

    async def close(self) -> None: ...


class SwitchableTrack(MediaStreamTrack):
    """An outgoing track whose source can be attached, replaced or detached while it is sent.

    A pending ``recv()`` also returns to the loop when the source is switched: aiortc's relay
    proxies never wake a waiting reader when they are stopped, and the sender would otherwise
    stay blocked on the old source for good.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: MediaStreamTrack | None = None
        self._changed = asyncio.Event()

    def attach(self, source: MediaStreamTrack | None) -> None:
        if self._source is source:
            return
        if self._source is not None:
            self._source.stop()
        self._source = source
        self._changed.set()

    async def recv(self) -> Frame | Packet[Any]:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self._source
            self._changed.clear()
            if source is None:
                await self._changed.wait()
                continue
            frame = asyncio.ensure_future(source.recv())
            switched = asyncio.ensure_future(self._changed.wait())
            await asyncio.wait((frame, switched), return_when=asyncio.FIRST_COMPLETED)
            switched.cancel()
            if not frame.done():
                frame.cancel()
                continue
            try:
                return frame.result()
            except MediaStreamError:
                if self._source is source:
                    self.attach(None)

    def stop(self) -> None:
        self.attach(None)
        super().stop()


class _ReencodedSink:
    def __init__(self, relay: MediaRelay, source: MediaStreamTrack, outgoing: SwitchableTrack) -> None:
        self._relay = relay
        self._source = source
        self.outgoing = outgoing
        self.resume()

    def pause(self) -> None:
        self.outgoing.attach(None)

    def resume(self) -> None:
        self.outgoing.attach(self._relay.subscribe(self._source, buffered=False))


class ReencodingForwarding:
    """Decode once per published track, encode once per subscriber (aiortc's ``MediaRelay``)."""

    audio_redundancy = False
    """aiortc can neither decode nor encode RED, so it is never negotiated for this strategy."""

    def __init__(self) -> None:
        self._relay = MediaRelay()

    def publish(self, transceiver: RTCRtpTransceiver) -> MediaStreamTrack:
        track: MediaStreamTrack = transceiver.receiver.track
        return track

    def subscribe(self, transceiver: RTCRtpTransceiver, source: MediaStreamTrack) -> _ReencodedSink:
        outgoing = transceiver.sender.track
        if not isinstance(outgoing, SwitchableTrack):
            outgoing = SwitchableTrack(source.kind)
            transceiver.sender.replaceTrack(outgoing)
        return _ReencodedSink(self._relay, source, outgoing)

    def unpublish(self, source: MediaStreamTrack) -> None:
        source.stop()

    def unsubscribe(self, sink: _ReencodedSink) -> None:
        # Detach only: a stopped track would end aiortc's sending loop, and the SFU reuses this
        # transceiver for the next subscription of the same kind.
        sink.pause()

    async def close(self) -> None:
        return None
