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

from aiortc import RTCPeerConnection

from media.aiortc_seam import selected_candidate_types


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


def connection_path(connection: RTCPeerConnection) -> str:
    types = selected_candidate_types(connection)
    if types is None:
        return "unknown"
    return "turn" if "relay" in types else "direct"


def link_facts(
    publisher: RTCPeerConnection | None,
    subscriber: RTCPeerConnection | None,
    *,
    receive_video: bool,
    video_paused: bool,
) -> dict[str, object]:
    """The facts of one participant's link, for its ``QUALITY`` event's data."""
    answers = [
        description.sdp
        for description in (
            publisher.localDescription if publisher else None,  # the server answered the browser
            subscriber.remoteDescription if subscriber else None,  # the browser answered the server
        )
        if description is not None and description.type == "answer"
    ]
    codec = next((name for sdp in answers if (name := audio_codec(sdp))), None)
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
