"""The interfaces the use cases talk through, so they never import an edge.

* :class:`LiveRooms`: telling the people connected to a consult what changed (the socket server
  implements it, on every node through socket.io's Redis manager).
* :class:`Lobby`: the appointment and queue side of a consult's waiting room (implemented by
  :class:`services.scheduling.Scheduling`; :class:`NoLobby` for consults without appointments).
* Hooks into the clinical record, given by the composition root (``web/app.py``).
* :class:`Outbox`: the messages an appointment change sends the patient, recorded in the same
  record transaction as the change (``notifications.recording`` implements it; :class:`NoOutbox`
  records nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from rooms.consult import Consult
from rooms.session_log import SessionEvent
from services.notifications import AppointmentChange

T = TypeVar("T")

AdmittedHook = Callable[[Consult, str], Awaitable[None]]
"""Called with the admitted consult (its host set) and the admitting client's network address:
the host gets a role in the patient's care."""
ConsultEndedHook = Callable[[str, list[SessionEvent]], Awaitable[None]]
"""Called with an ended consult's id and its whole session log: the record archives it."""


class LiveRooms(Protocol):
    """What the use cases tell the live side; every method is an announcement, none decides."""

    async def consult_changed(self, consult: Consult) -> None:
        """Its pages hear the new state; the staff lists that show it are sent again."""

    async def queue_changed(self, unit: str) -> None:
        """``unit``'s queue changed (its store told the consoles what): its dashboards look again."""

    async def list_changed(self, consult: Consult) -> None:
        """``consult`` changed outside the call (booked, rescheduled, sent home): the staff lists
        that show it hear that one row."""

    async def consult_closed(self, consult: Consult, at: datetime, reason: str) -> None:
        """The consult ended: its pages hear why, its media closes, its people are let go."""

    async def turned_away(self, consult_id: str, participant_id: str, reason: str) -> None:
        """A denied or revoked participant is told why; their media and link connection close."""

    async def sent_back(self, consult_id: str, participant_id: str) -> None:
        """Someone was sent back to the waiting room: their media stops until readmitted."""

    async def mute_requested(self, consult_id: str, by: str, participant_id: str) -> None:
        """The host asks one participant's page to mute its microphone."""

    async def room_opened(self, consult: Consult) -> None:
        """A room opened without an admission (an inter-unit session): its host's consoles enter it."""

    async def tell_participant(self, participant_id: str, event: str, payload: dict[str, object]) -> None:
        """Send one server event to every connection of one participant."""


class Lobby(Protocol):
    """The appointment and unit-queue side of a consult's waiting room.

    Whether a patient may check in now (their appointment's check-in window, the service hours)
    and where they wait is decided here. Every method may raise a
    :class:`~rooms.errors.DomainError`; a refused check-in changes nothing.
    """

    async def check_in(self, consult_id: str, token_id: str | None, now: datetime) -> None:
        """The patient of ``consult_id`` checks in (again): check the window and hours, queue them."""

    async def dropped(self, consult_id: str, now: datetime) -> None:
        """A waiting patient's connection dropped: they keep their place but cannot be taken."""

    async def returned(self, consult_id: str) -> None:
        """The waiting patient is connected again, in the same place."""

    async def admitted(self, consult_id: str, host_id: str, now: datetime) -> None:
        """A staff member admitted the patient into the call."""

    async def denied(self, consult_id: str, participant_id: str) -> None:
        """The host turned someone away from the waiting room; a patient leaves the queue too."""

    async def reinvited(self, consult_id: str, participant_id: str) -> None:
        """The host lifted a denial: a checked-in patient waits in the queue again, in order."""

    async def ended(self, consult_id: str, host_id: str | None, now: datetime) -> None:
        """The consult ended: its appointment, the queue and the nurses follow."""


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


class Outbox(Protocol):
    """Where an appointment change leaves the messages it sends the patient (the outbox)."""

    async def record(self, change: AppointmentChange, write: Callable[[], Awaitable[T]]) -> T:
        """Open one record transaction, write ``change``'s messages in it, run ``write`` (the use
        case's own store writes) inside it and commit: if either fails, neither happens (a store
        write that already succeeded is not undone when the final commit itself fails)."""


class NoOutbox:
    """No record database: the change is made and no message is recorded (tests of the rules)."""

    async def record(self, change: AppointmentChange, write: Callable[[], Awaitable[T]]) -> T:
        return await write()
