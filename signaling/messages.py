"""Schemas of every client-to-server event payload.

Each model forbids unknown fields and bounds every string, so a payload either validates into a
typed value or is refused with ``bad_payload`` before any handler runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from media.backend import MAX_SDP_LENGTH
from rooms.chat import MAX_TEXT
from rooms.names import MAX_NAME_LENGTH, NAME_PATTERN, InvalidName, clean_name

MAX_MESSAGE_BYTES = 64 * 1024
"""Largest serialized payload accepted for one event; larger ones get ``payload_too_large``."""

PERSON_NAME = NAME_PATTERN
"""A display name, as a JSON-schema pattern for API descriptions; :data:`PersonName` checks the rule."""


def _person_name(value: str) -> str:
    try:
        return clean_name(value)
    except InvalidName as error:
        raise ValueError(error.message_en) from None


PersonName = Annotated[
    str, StringConstraints(min_length=1, max_length=4 * MAX_NAME_LENGTH), AfterValidator(_person_name)
]
"""A person's or a unit's name, checked and cleaned by the one rule in ``rooms/names.py``."""

ConsultId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Empty(Payload):
    pass


class CheckIn(Payload):
    consent: Literal[True]


class ConsultRef(Payload):
    consult_id: str = ConsultId


ParticipantId = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:-]+$")


class Admit(Payload):
    """Admit the waiting patient; in a live call, ``participant_id`` names someone in the lobby."""

    consult_id: str = ConsultId
    participant_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:-]+$"
    )


class ParticipantRef(Payload):
    """A host decision about one participant: deny, re-invite, send back, mute."""

    consult_id: str = ConsultId
    participant_id: str = ParticipantId


Source = Literal["microphone", "camera", "screen"]
Mid = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")]


class Invite(Payload):
    """The host invites someone into the call by link."""

    role: Literal["companion", "interpreter", "physician", "observer", "coordinator"]
    name: PersonName


class MediaOffer(Payload):
    """The offer of the browser's publishing connection; ``sources`` names each media line."""

    type: Literal["offer"]
    sdp: str = Field(min_length=1, max_length=MAX_SDP_LENGTH)
    sources: dict[Mid, Source] = Field(default_factory=dict, max_length=3)


class SubscriberAnswer(Payload):
    """The browser's answer to the server's offer for its subscribing connection."""

    type: Literal["answer"]
    sdp: str = Field(min_length=1, max_length=MAX_SDP_LENGTH)
    revision: int = Field(ge=1)


class MediaReceive(Payload):
    """``video: false`` asks for audio only; ``true`` asks for video again.

    ``data_saver: true`` keeps video but at the lowest bitrate (for metered mobile plans).
    """

    video: bool
    data_saver: bool = False


MAX_REPORTED_PACKETS = 10_000
"""More RTP packets than any stream brings a page between two of its reports (about a second)."""
ReportedPackets = Annotated[int, Field(ge=0, le=MAX_REPORTED_PACKETS)]


class MediaLinkReport(Payload):
    """What the page received since its previous report, about a second before: RTP packets of
    its subscribing connection (``inbound-rtp``), received and lost, audio and video apart."""

    audio_received: ReportedPackets
    audio_lost: ReportedPackets
    video_received: ReportedPackets = 0
    video_lost: ReportedPackets = 0
    queue_ms: int | None = Field(default=None, ge=0, le=10_000)
    """How much longer than its least the newest sender report the server sent took to arrive."""


class MediaCandidate(Payload):
    candidate: str = Field(max_length=1024)
    sdpMid: str | None = Field(default=None, max_length=64)
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=64)
    usernameFragment: str | None = Field(default=None, max_length=256)
    target: Literal["publisher", "subscriber"] = "publisher"


class MediaState(Payload):
    audio: bool
    video: bool
    screen: bool = False


DeviceState = Literal["ok", "blocked", "missing", "off", "ended"]
"""``off``: turned off by choice (muted, camera off, audio only); ``ended``: stopped mid-call
(unplugged, permission withdrawn) and could not be opened again."""


class ParticipantDevices(Payload):
    """Where a page is and which of its devices work, so the host sees why someone is not (fully)
    in the call: still checking devices, waiting, or in the call without camera or microphone."""

    stage: Literal["checking", "waiting", "in_call"]
    camera: DeviceState
    microphone: DeviceState


class ChatSend(Payload):
    """A chat message to everyone in the consult (its unit's staff while the patient waits).

    ``text`` is bounded here at four times the rule's length so the rule (``rooms/chat.py``) can
    refuse a long message with its own code (``chat_too_long``) rather than ``bad_payload``."""

    consult_id: str = ConsultId
    text: str = Field(max_length=4 * MAX_TEXT)


class ChatRead(Payload):
    """The sender has read the consult's chat up to message ``seq``."""

    consult_id: str = ConsultId
    seq: int = Field(ge=1, le=1_000_000)


class ChatHistoryRequest(Payload):
    """The messages after ``after`` (0: all), for a page that opens or reconnects."""

    consult_id: str = ConsultId
    after: int = Field(default=0, ge=0, le=1_000_000)
