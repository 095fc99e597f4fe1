"""The server's peer connections: opened with the ICE settings, their state reported, candidates added.

Every participant has up to two: the *publisher* (the browser's offer) and the *subscriber* (the
server's). Signaling hears a connection's state only for the leg the page cares about: the
publisher's, or a receive-only participant's subscriber, which is their only connection; a
publishing participant's subscriber is reported only when it fails. Once connected, a
connection's SRTP datagrams are handled in the socket's callback (``install_fast_receive``).
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from media.aiortc_seam import install_fast_receive, offer_opus_fec
from media.backend import IceCandidate, MediaError, MediaErrorCode, MediaEvent, MediaEventKind, MediaListener
from media.ice import IceSettings
from media.sfu_room import Participant

FindParticipant = Callable[[str, str], Participant | None]
"""``(room_id, participant_id)`` → the participant now in that room, if any."""


class Peers:
    def __init__(self, ice: IceSettings, listener: MediaListener, find: FindParticipant) -> None:
        offer_opus_fec()
        self._ice = ice
        self._listener = listener
        self._find = find

    def open(self, room_id: str, participant_id: str, role: str) -> RTCPeerConnection:
        """A new connection for ``role`` (``publisher`` or ``subscriber``), its state watched."""
        connection = RTCPeerConnection(self._ice.rtc_configuration())

        @connection.on("connectionstatechange")
        async def on_state() -> None:
            if connection.connectionState == "connected":
                for transceiver in connection.getTransceivers():
                    install_fast_receive(transceiver.receiver.transport)
            participant = self._find(room_id, participant_id)
            # A connection that was replaced (a reload, a reconnect) no longer speaks for anyone.
            if participant is None or connection not in (participant.publisher, participant.subscriber):
                return
            state = connection.connectionState
            if role == "publisher" or state == "failed" or participant.publisher is None:
                await self._listener(
                    MediaEvent(
                        room_id, participant_id, MediaEventKind.CONNECTION, {"state": state, "leg": role}
                    )
                )

        return connection


async def add_candidate(connection: RTCPeerConnection | None, candidate: IceCandidate) -> None:
    """Add a browser's trickled candidate to a connection that has its remote description."""
    if connection is None or connection.remoteDescription is None:
        raise MediaError(MediaErrorCode.NOT_PUBLISHING, "There is no media connection to add it to.")
    text = candidate.candidate.removeprefix("candidate:").strip()
    if not text:
        return  # an empty candidate only marks the end of a generation
    try:
        parsed = candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError) as error:
        raise MediaError(MediaErrorCode.BAD_CANDIDATE, "The ICE candidate could not be parsed.") from error
    parsed.sdpMid = candidate.sdp_mid
    parsed.sdpMLineIndex = candidate.sdp_mline_index
    await connection.addIceCandidate(parsed)
