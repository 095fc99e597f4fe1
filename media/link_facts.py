"""What else a quality sample says about a participant's link: audio codec, media path, video state.

Added to every ``QUALITY`` event beside the RTCP figures of :mod:`media.quality`, so whoever scores
the link (signaling, with ``rooms/call_quality.py``) and summarizes the call knows:

* ``codec``: the audio codec negotiated on the participant's connections (its SDP name, lower case:
  ``opus``, ``pcmu``, ``pcma``), or None before any audio is negotiated;
* ``path``: ``turn`` when either of the participant's connections runs through a TURN relay (a
  relay candidate on either side of the selected ICE pair), ``direct`` when every connected one is
  known not to, ``unknown`` when the selected pair cannot be read;
* ``video``: ``on`` while the participant receives video, ``paused`` while the server holds it back
  for a weak link, ``off`` when they chose audio only.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCPeerConnection

from media.aiortc_seam import description_identity, selected_candidate_types


def audio_codec(sdp: str) -> str | None:
    """The codec of the first audio line of an SDP *answer* (its first payload type is the one used).

    RED (RFC 2198) only carries another codec's frames twice, so when it comes first the codec
    named is the next one, the one inside it."""
    payloads: list[str] = []
    names: dict[str, str] = {}
    for line in sdp.splitlines():
        if line.startswith("m="):
            if payloads:
                break
            fields = line[2:].split()
            payloads = fields[3:] if len(fields) > 3 and fields[0] == "audio" and fields[1] != "0" else []
        elif payloads and line.startswith("a=rtpmap:"):
            payload, _, encoding = line[len("a=rtpmap:") :].partition(" ")
            names[payload] = encoding.split("/")[0].strip().lower()
    for payload in payloads[:2]:
        name = names.get(payload)
        if name != "red":
            return name or None
    return None


@dataclass
class AnswerCodec:
    """The audio codec of one side's *answer* on one connection, read again only when a new
    description is set: aiortc prints the whole SDP on every read of a description, which every
    quality sample (every 2 s, for each participant) paid for nothing (about 5 % of a media
    worker's busy samples at 8 consults)."""

    local: bool
    """The server's own description (it answered the browser), or the browser's (its answer)."""
    _seen: object | None = None
    _codec: str | None = None

    def of(self, connection: RTCPeerConnection | None) -> str | None:
        seen = description_identity(connection, local=self.local) if connection is not None else None
        if seen is None:
            self._seen = self._codec = None
            return None
        if seen is not self._seen:
            assert connection is not None
            description = connection.localDescription if self.local else connection.remoteDescription
            self._seen = seen
            self._codec = audio_codec(description.sdp) if description.type == "answer" else None
        return self._codec


def connection_path(connection: RTCPeerConnection) -> str:
    types = selected_candidate_types(connection)
    if types is None:
        return "unknown"
    return "turn" if "relay" in types else "direct"


@dataclass
class AnswerCodecs:
    """Where one participant's codec is read: the server's answer to their publishing connection,
    then their answer on the subscribing one."""

    publisher: AnswerCodec
    subscriber: AnswerCodec

    @classmethod
    def new(cls) -> AnswerCodecs:
        return cls(AnswerCodec(local=True), AnswerCodec(local=False))


def link_facts(
    publisher: RTCPeerConnection | None,
    subscriber: RTCPeerConnection | None,
    *,
    receive_video: bool,
    video_paused: bool,
    codecs: AnswerCodecs | None = None,
) -> dict[str, object]:
    """The facts of one participant's link, for its ``QUALITY`` event's data (``codecs`` keeps
    the codec between samples)."""
    codecs = codecs or AnswerCodecs.new()
    codec = codecs.publisher.of(publisher) or codecs.subscriber.of(subscriber)
    paths = {
        connection_path(c)
        for c in (publisher, subscriber)
        if c is not None and c.connectionState == "connected"
    }
    path = "turn" if "turn" in paths else "direct" if paths == {"direct"} else "unknown"
    return {
        "codec": codec,
        "path": path,
        "video": "off" if not receive_video else "paused" if video_paused else "on",
    }
