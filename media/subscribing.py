"""The subscribing connection's negotiation: the server offers, the page answers.

Each offer is sent as ``SUBSCRIBER_OFFER``, numbered by ``revision``, with the ``tracks`` map
that tells the page whose source each media line carries. One offer is open at a time: changes
made while it is open wait for its answer (``resync``), and an answer to any other revision is
stale. Each side only ever offers on its own connection, so offers never collide.
"""

from __future__ import annotations

import logging

from aiortc import RTCSessionDescription

from media.aiortc_seam import adopt_remote_red, offer_red
from media.backend import (
    MediaError,
    MediaErrorCode,
    MediaEvent,
    MediaEventKind,
    MediaListener,
    SessionDescription,
)
from media.sdp_checks import check_description
from media.sfu_room import Participant

logger = logging.getLogger(__name__)


async def send_offer(
    room_id: str, participant: Participant, listener: MediaListener, *, redundancy: bool = False
) -> None:
    """Offer the participant's subscribing connection as it now stands (``redundancy``: with RED
    first on its audio lines, for a browser that can receive it)."""
    connection = participant.subscriber
    if connection is None:
        return
    participant.negotiating = True
    try:
        offer = await connection.createOffer()
        await connection.setLocalDescription(offer_red(connection, offer) if redundancy else offer)
    except Exception:
        participant.negotiating = False
        logger.exception("could not renegotiate a subscriber in room %s", room_id)
        return
    participant.revision += 1
    data = {
        "type": "offer",
        "sdp": connection.localDescription.sdp,
        "revision": participant.revision,
        "tracks": offered_tracks(participant),
    }
    await listener(MediaEvent(room_id, participant.participant_id, MediaEventKind.SUBSCRIBER_OFFER, data))


def offered_tracks(participant: Participant) -> dict[str, dict[str, str]]:
    """``{mid: {participant_id, source, kind}}``: whose source each negotiated line carries."""
    return {
        s.transceiver.mid: {"participant_id": s.publisher_id, "source": s.source, "kind": s.transceiver.kind}
        for s in participant.subscriptions.values()
        if s.transceiver.mid is not None
    }


async def accept_answer(
    room_id: str,
    participant: Participant,
    answer: SessionDescription,
    revision: int,
    *,
    redundancy: bool = False,
) -> bool:
    """Apply the page's answer to the open offer; returns whether changes wait for a new one.
    With ``redundancy``, the audio lines it answered with RED get RED (aiortc's own negotiation
    would drop it)."""
    connection = participant.subscriber
    if connection is None or not participant.negotiating or revision != participant.revision:
        raise MediaError(MediaErrorCode.STALE_ANSWER, "That answer is for an offer that is no longer open.")
    if answer.type != "answer":
        raise MediaError(MediaErrorCode.BAD_SDP, "Expected an SDP answer.")
    check_description(answer.sdp, max_media=len(connection.getTransceivers()))
    try:
        await connection.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
    except Exception as error:
        logger.info("rejected a subscriber answer in room %s: %s", room_id, type(error).__name__)
        raise MediaError(MediaErrorCode.BAD_SDP, "The session description could not be used.") from error
    if redundancy:
        adopt_remote_red(connection)
    participant.negotiating = False
    resync, participant.resync = participant.resync, False
    return resync
