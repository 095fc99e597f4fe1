"""The publishing connection's negotiation: the browser offers, the server answers ``recvonly``.

The browser sends its microphone, camera and (idle until shared) screen, each on its own media
line, and names them in a ``sources`` map (``{mid: source}``); lines it leaves unnamed take the
next default source of their kind.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from media.aiortc_seam import adopt_remote_red
from media.backend import MediaError, MediaErrorCode

SOURCES = ("microphone", "camera", "screen")
SOURCE_KINDS = {"microphone": "audio", "camera": "video", "screen": "video"}
DEFAULT_SOURCES = {"audio": ("microphone",), "video": ("camera", "screen")}
"""Which sources an unnamed line of each kind carries, in order."""


async def answer_offer(
    connection: RTCPeerConnection,
    sdp: str,
    sources: Mapping[str, str],
    silent: set[str],
    *,
    redundancy: bool = False,
) -> dict[str, RTCRtpTransceiver]:
    """Apply the browser's offer, answer it, and return its sending transceivers by source.

    With ``redundancy``, audio the browser offers RED for is answered with RED first, so the
    browser sends each Opus frame twice (:mod:`media.red`)."""
    await connection.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    if redundancy:
        adopt_remote_red(connection)
    published = name_sources(connection, sources, silent)
    await connection.setLocalDescription(await connection.createAnswer())
    return published


def name_sources(
    connection: RTCPeerConnection, sources: Mapping[str, str], silent: set[str]
) -> dict[str, RTCRtpTransceiver]:
    """Match the offer's sending transceivers to sources; answer each ``recvonly``.

    A line the offer does not send on (``silent``) publishes nothing and is answered
    ``inactive``: published, it would show the others a tile that never gets a picture.
    """
    named: dict[str, RTCRtpTransceiver] = {}
    for transceiver in connection.getTransceivers():
        if transceiver.kind not in DEFAULT_SOURCES:
            raise ValueError("only audio and video can be published")
        if transceiver.mid in silent:
            transceiver.direction = "inactive"
            continue
        source = _source_of(transceiver, sources, named)
        transceiver.direction = "recvonly"
        named[source] = transceiver
    if not named:
        raise MediaError(
            MediaErrorCode.BAD_SDP,
            "The offer sends no audio or video; to only watch and listen, join with media:subscribe.",
        )
    return named


def _source_of(
    transceiver: RTCRtpTransceiver, sources: Mapping[str, str], named: Mapping[str, RTCRtpTransceiver]
) -> str:
    """The source one sending line carries: as the page named it, else its kind's next default."""
    source = sources.get(transceiver.mid or "")
    if source is None:
        source = next((s for s in DEFAULT_SOURCES[transceiver.kind] if s not in named), None)
    if source is None or SOURCE_KINDS.get(source) != transceiver.kind:
        raise MediaError(MediaErrorCode.BAD_SDP, "Each media line must carry one known source.")
    if source in named:
        raise MediaError(MediaErrorCode.BAD_SDP, f"The source {source} appears twice.")
    return source
