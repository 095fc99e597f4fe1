"""Checks on a browser's session description before aiortc applies it.

aiortc parses leniently: it accepts, for instance, media with no DTLS fingerprint, which would
leave the media unauthenticated. Every description from a client passes these checks first, so a
bad one is refused with a clear reason and nothing is created.
"""

from __future__ import annotations

from aiortc import sdp as aiortc_sdp

from media.backend import MediaError, MediaErrorCode

SECURE_PROFILES = frozenset({"UDP/TLS/RTP/SAVPF", "TCP/TLS/RTP/SAVPF"})


def check_description(text: str, *, max_media: int) -> aiortc_sdp.SessionDescription:
    """Refuse (``bad_sdp``) anything but a well-formed, DTLS-SRTP audio/video description.

    Returns the parsed description, so callers can read what each media line offers.
    """
    try:
        description = aiortc_sdp.SessionDescription.parse(text)
    except Exception as error:  # aiortc raises assorted errors on malformed text
        raise _bad("The session description could not be parsed.") from error
    media = description.media
    if not media:
        raise _bad("The session description has no media.")
    if len(media) > max_media:
        raise _bad(f"At most {max_media} media lines are accepted here.")
    for section in media:
        if section.kind not in ("audio", "video"):
            raise _bad("Only audio and video are accepted.")
        if section.profile not in SECURE_PROFILES:
            raise _bad("Media must be protected with DTLS-SRTP.")
        if section.dtls is None or not section.dtls.fingerprints:
            raise _bad("Each media line needs a DTLS fingerprint.")
        if section.ice is None or not section.ice.usernameFragment or not section.ice.password:
            raise _bad("Each media line needs ICE credentials.")
    return description


def silent_mids(description: aiortc_sdp.SessionDescription) -> set[str]:
    """The mids of the media lines that send nothing (``recvonly`` or ``inactive``; a line with no
    direction is ``sendrecv``): in a publishing offer such a line publishes nothing."""
    return {
        section.rtp.muxId
        for section in description.media
        if section.rtp.muxId and section.direction in ("recvonly", "inactive")
    }


def _bad(message: str) -> MediaError:
    return MediaError(MediaErrorCode.BAD_SDP, message)
