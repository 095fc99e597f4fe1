"""What a participant receives, kept in line with what the room publishes.

One transceiver on the participant's subscribing connection per source received. A source no
longer wanted (its publisher left, stopped sharing, or the participant went audio-only) frees its
transceiver: set ``inactive`` and reused for the next source of the same kind, so the SDP does not
grow as people come and go. A publisher that publishes again (a reload, a reconnect) keeps its
media line with each subscriber; only the forwarded source changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiortc import RTCPeerConnection

from media.forwarding import Forwarding, Sink
from media.link_policy import hold_back
from media.sfu_room import Participant, Published, Room, Subscribed, SubscriptionKey


def reconcile(room: Room, participant: Participant, connection: Callable[[], RTCPeerConnection]) -> bool:
    """Subscribe and unsubscribe until the participant receives what the room has for them.

    ``connection`` returns the participant's subscribing connection, opening it on first use.
    Returns whether the transceivers changed, that is whether the page needs a new offer.
    """
    wanted = room.sources_for(participant)
    changed = _drop_unwanted(room.forwarding, participant, wanted)
    for key, published in wanted.items():
        current = participant.subscriptions.get(key)
        if current is not None and current.transceiver.kind == published.kind:
            _follow(room.forwarding, participant, current, published)
            continue
        participant.subscriptions[key] = _subscribe(
            room.forwarding, participant, key, published, connection()
        )
        changed = True
    return changed


def _drop_unwanted(
    forwarding: Forwarding, participant: Participant, wanted: Mapping[SubscriptionKey, Published]
) -> bool:
    unwanted = [key for key in participant.subscriptions if key not in wanted]
    for key in unwanted:
        subscription = participant.subscriptions.pop(key)
        forwarding.unsubscribe(subscription.sink)
        subscription.transceiver.direction = "inactive"
        participant.free[subscription.transceiver.kind].append(subscription.transceiver)
    return bool(unwanted)


def _follow(
    forwarding: Forwarding, participant: Participant, current: Subscribed, published: Published
) -> None:
    """The publisher came back (reload, reconnect): same media line, new source."""
    if current.handle is published.handle:
        return
    forwarding.unsubscribe(current.sink)
    current.sink = forwarding.subscribe(current.transceiver, published.handle)
    current.handle = published.handle
    _follow_pause(participant, published, current.sink)


def _subscribe(
    forwarding: Forwarding,
    participant: Participant,
    key: SubscriptionKey,
    published: Published,
    connection: RTCPeerConnection,
) -> Subscribed:
    free = participant.free[published.kind]
    transceiver = free.pop() if free else connection.addTransceiver(published.kind, "sendonly")
    transceiver.direction = "sendonly"
    sink = forwarding.subscribe(transceiver, published.handle)
    _follow_pause(participant, published, sink)
    publisher_id, source = key
    return Subscribed(publisher_id, source, transceiver, sink, published.handle)


def _follow_pause(participant: Participant, published: Published, sink: Sink) -> None:
    """A video sink made while the participant's video is paused starts paused (and probing)."""
    if participant.video_gate.paused and published.kind == "video":
        hold_back(sink, participant.video_gate)
