"""What signaling tells the appointment and queue side about a consult's waiting room.

The socket server only routes; whether a patient may check in now (their appointment's check-in
window, the service hours) and where they wait (the unit's queue) is decided behind this small
interface, which the composition root implements with the appointment and queue stores. A consult
without an appointment (e.g. one created by another flow) is simply let through.

Every method may raise :class:`~signaling.errors.SignalingError`; a refused check-in changes
nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Lobby(Protocol):
    async def check_in(self, consult_id: str, token_id: str | None, now: datetime) -> None:
        """The patient of ``consult_id`` checks in (again): check the window and hours, queue them."""

    async def dropped(self, consult_id: str, now: datetime) -> None:
        """A waiting patient's connection dropped: they keep their place but cannot be taken."""

    async def returned(self, consult_id: str) -> None:
        """The waiting patient is connected again, in the same place."""

    async def admitted(self, consult_id: str, host_id: str, now: datetime) -> None:
        """A staff member admitted the patient into the call."""

    async def denied(self, consult_id: str, participant_id: str) -> None:
        """The host turned someone away from the waiting room; a patient must leave the queue too."""

    async def reinvited(self, consult_id: str, participant_id: str) -> None:
        """The host lifted a denial: a checked-in patient waits in the queue again, in order."""

    async def ended(self, consult_id: str, host_id: str | None, now: datetime) -> None:
        """The consult ended (its host's consult time is over)."""


class NoLobby:
    """No appointments: every consult may be checked into at any time (tests of the call itself)."""

    async def check_in(self, consult_id: str, token_id: str | None, now: datetime) -> None:
        return None

    async def dropped(self, consult_id: str, now: datetime) -> None:
        return None

    async def returned(self, consult_id: str) -> None:
        return None

    async def admitted(self, consult_id: str, host_id: str, now: datetime) -> None:
        return None

    async def denied(self, consult_id: str, participant_id: str) -> None:
        return None

    async def reinvited(self, consult_id: str, participant_id: str) -> None:
        return None

    async def ended(self, consult_id: str, host_id: str | None, now: datetime) -> None:
        return None
