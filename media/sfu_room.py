"""What the SFU knows of a room: its participants, what each publishes and what each receives.

Plain state the SFU's parts share: :mod:`media.publishing` fills ``published``,
:mod:`media.subscriptions` keeps ``subscriptions`` in line with the others' ``published``,
:mod:`media.subscribing` negotiates the subscribing connection, and :mod:`media.link_policy`
reads and adjusts both sides for the participant's link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpTransceiver

from media.adaptation import VideoGate
from media.forwarding import Forwarding, Sink
from media.link_facts import AnswerCodecs
from media.quality import QualityMeter

SubscriptionKey = tuple[str, str]
"""``(publisher_id, source)``: one published source as a subscriber receives it."""


@dataclass
class Published:
    source: str
    kind: str
    transceiver: RTCRtpTransceiver
    handle: Any
    active: bool = True
    """A screen is offered to others only while its owner shares it."""


@dataclass
class Subscribed:
    publisher_id: str
    source: str
    transceiver: RTCRtpTransceiver
    sink: Sink
    handle: Any
    """The published source this sink forwards; a publisher that publishes again has a new one."""


def _no_free_transceivers() -> dict[str, list[RTCRtpTransceiver]]:
    return {"audio": [], "video": []}


@dataclass
class Participant:
    participant_id: str
    publisher: RTCPeerConnection | None = None
    subscriber: RTCPeerConnection | None = None
    published: dict[str, Published] = field(default_factory=dict)
    subscriptions: dict[SubscriptionKey, Subscribed] = field(default_factory=dict)
    free: dict[str, list[RTCRtpTransceiver]] = field(default_factory=_no_free_transceivers)
    """Subscribing transceivers a leaver freed (``inactive``), reused for the next track of a kind."""
    receive_video: bool = True
    data_saver: bool = False
    revision: int = 0
    negotiating: bool = False
    resync: bool = False
    meter: QualityMeter = field(default_factory=QualityMeter)
    camera_cap_bps: int | None = None
    microphone_cap_bps: int | None = None
    """What this participant's page was last asked to cap its microphone at (None: no cap)."""
    video_gate: VideoGate = field(default_factory=VideoGate)
    answer_codecs: AnswerCodecs = field(default_factory=AnswerCodecs.new)
    reported_holes: dict[SubscriptionKey, int] = field(default_factory=dict)
    """Each subscription's upstream holes as of the page's last ``media:link_report``."""
    sent_mark: tuple[float, int] | None = None
    """When the last overrun check ran, and the bytes sent to the participant by then."""

    def wants(self, published: Published) -> bool:
        """Whether this participant should receive a source: shared, and video only if wanted."""
        return published.active and (self.receive_video or published.kind == "audio")

    async def reset(self, forwarding: Forwarding) -> None:
        """Start afresh: stop forwarding to and from this participant and close both connections."""
        for subscription in self.subscriptions.values():
            forwarding.unsubscribe(subscription.sink)
        self.subscriptions.clear()
        self.free = _no_free_transceivers()
        self.negotiating = self.resync = False
        self.camera_cap_bps = self.microphone_cap_bps = None  # a new page knows no caps yet
        for published in self.published.values():
            forwarding.unpublish(published.handle)
        self.published.clear()
        if self.publisher is not None:
            await self.publisher.close()
            self.publisher = None
        if self.subscriber is not None:
            await self.subscriber.close()
            self.subscriber = None


@dataclass
class Room:
    room_id: str
    forwarding: Forwarding
    participants: dict[str, Participant] = field(default_factory=dict)

    def others(self, participant: Participant) -> list[Participant]:
        return [other for other in self.participants.values() if other is not participant]

    def sources_for(self, participant: Participant) -> dict[SubscriptionKey, Published]:
        """Everything the others publish that this participant should receive."""
        return {
            (other.participant_id, source): published
            for other in self.others(participant)
            for source, published in other.published.items()
            if participant.wants(published)
        }
