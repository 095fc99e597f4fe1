"""The seam between signaling and the media plane.

Signaling hands over a participant's SDP offer and ICE candidates and gets back an answer; it
never sees a peer connection. Media knows rooms and participants only by opaque ids: it knows
nothing of appointments, roles or notes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

MAX_SDP_LENGTH = 60_000


@dataclass(frozen=True, slots=True)
class SessionDescription:
    sdp: str
    type: Literal["offer", "answer"]


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """A remote ICE candidate as a browser trickles it (``RTCIceCandidate.toJSON()``)."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True, slots=True)
class LinkReport:
    """What a participant's page counted of the RTP packets it received over one interval
    (``media:link_report``): the browser's own ``inbound-rtp`` figures, audio and video apart.

    Fresher than the receiver reports the server gets: with video paused Chromium reports on audio
    only every ~5 s (:mod:`media.adaptation` says how the counts are judged)."""

    audio_received: int
    audio_lost: int
    video_received: int = 0
    video_lost: int = 0
    queue_ms: int | None = None
    """How much longer than its least the newest sender report took to reach the page: the queue
    on the link towards it alone (a round trip also carries their uplink), None without one."""


class MediaErrorCode(StrEnum):
    BAD_SDP = "bad_sdp"
    BAD_CANDIDATE = "bad_candidate"
    NOT_PUBLISHING = "not_publishing"
    ROOM_FULL = "room_full"
    STALE_ANSWER = "stale_answer"
    UNAVAILABLE = "media_unavailable"


class MediaError(Exception):
    def __init__(self, code: MediaErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MediaEventKind(StrEnum):
    CONNECTION = "connection"
    """``data``: ``{"state": "connecting"|"connected"|"failed"|"closed"}``."""
    SUBSCRIBER_OFFER = "subscriber_offer"
    """``data``: ``{"type": "offer", "sdp", "revision", "tracks": {mid: {participant_id, source, kind}}}``."""
    BITRATE = "bitrate"
    """``data``: ``{"source": "camera", "max_bitrate_bps"}``: the publisher should cap its camera there."""
    VIDEO_PAUSED = "video_paused"
    """``data``: ``{"paused": bool, "reason": "weak_link"}``: video to this participant paused for audio."""
    LINK_REPORT_WANTED = "link_report_wanted"
    """``data``: ``{"packets"}``: while video to this participant is paused, the clean packets their
    page's next report must bring for it to resume (:attr:`media.adaptation.VideoGate.packets_to_resume`)."""
    QUALITY = "quality"
    """``data``: :meth:`media.quality.QualitySample.to_json` and :func:`media.link_facts.link_facts`,
    every few seconds per participant."""


@dataclass(frozen=True, slots=True)
class MediaEvent:
    """Something the media plane noticed that signaling should pass on (plain data, picklable)."""

    room_id: str
    participant_id: str
    kind: MediaEventKind
    data: Mapping[str, object]


MediaListener = Callable[[MediaEvent], Awaitable[None]]


async def ignore_events(_: MediaEvent) -> None:
    """The listener for a backend whose events nobody needs (tools, benchmarks)."""


class MediaBackend(Protocol):
    async def connect(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        sources: Mapping[str, str] | None = None,
    ) -> SessionDescription:
        """Open (or replace) the participant's publishing connection and return its answer.

        ``sources`` names what each of the offer's media lines carries (``{mid: "microphone" |
        "camera" | "screen"}``); lines the offer does not send on (``recvonly``, ``inactive``) are
        not published. Raises :class:`MediaError` with ``bad_sdp`` and leaves the room unchanged
        when the offer cannot be applied or sends nothing (receive-only is :meth:`subscribe`). What
        the participant receives arrives as ``SUBSCRIBER_OFFER`` events, answered through
        :meth:`subscriber_answer`.
        """

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        """Join the room receive-only: no publishing connection, only what the others publish.

        For a companion or an observing specialist without a camera or microphone. Like
        :meth:`connect` it starts the participant's media afresh (closing any earlier connections);
        what they receive arrives as ``SUBSCRIBER_OFFER`` events once someone publishes. Raises
        :class:`MediaError` ``room_full`` when the room already holds ``MAX_PARTICIPANTS``.
        """

    async def subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None: ...

    async def set_receive(
        self, room_id: str, participant_id: str, *, video: bool, data_saver: bool = False
    ) -> None:
        """Receive audio only (``video=False``) or audio and video again; ``data_saver`` caps video."""

    async def set_sharing(self, room_id: str, participant_id: str, *, screen: bool) -> None:
        """Offer the participant's screen to the others (``True``) or stop offering it."""

    async def link_report(self, room_id: str, participant_id: str, report: LinkReport) -> None:
        """What the participant's page received over its last interval: evidence of their download."""

    async def add_candidate(
        self, room_id: str, participant_id: str, candidate: IceCandidate, target: str = "publisher"
    ) -> None:
        """A browser's trickled candidate for its ``publisher`` or ``subscriber`` connection."""

    async def disconnect(self, room_id: str, participant_id: str) -> None:
        """Close the participant's peer; the others' pages see its tracks end."""

    async def close_room(self, room_id: str) -> None: ...

    async def close(self) -> None:
        """Close every peer; called once on shutdown."""
