"""A media backend for the worker pool's own tests: it answers an offer with the offer itself and
announces each one in an event as large, so what crosses the worker channel can be checked whole.
Module-level so a spawned worker process can unpickle its factory."""

from __future__ import annotations

from collections.abc import Mapping

from media.backend import MediaEvent, MediaEventKind, MediaListener, SessionDescription
from media.ice import IceSettings


class EchoBackend:
    def __init__(self, listener: MediaListener) -> None:
        self._listener = listener

    async def connect(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        sources: Mapping[str, str] | None = None,
    ) -> SessionDescription:
        await self._listener(
            MediaEvent(room_id, participant_id, MediaEventKind.CONNECTION, {"state": offer.sdp})
        )
        return SessionDescription(sdp=offer.sdp, type="answer")

    async def close(self) -> None:
        return None


def echo_backend(ice: IceSettings, listener: MediaListener) -> EchoBackend:
    return EchoBackend(listener)
