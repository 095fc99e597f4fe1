"""The async interface to the per-unit waiting queues and their nurses.

The rules are :mod:`rooms.queue`'s; a store keeps the state and applies each operation
atomically, so that any number of coroutines (in memory) or server processes (Redis) can call
``next_patient`` at once and no patient is ever given to two nurses, nor one nurse two patients.

Every change is numbered per unit (:class:`~rooms.queue.QueueChange`), atomically with the
change itself, and handed to the store's listener (:meth:`QueueStore.listen`) as the store
computed it: the consoles' diffs never need the unit read again. ``snapshot`` carries the number
it is consistent with.

Every implementation must pass the shared suite in ``tests/rooms/test_queue_store.py``, which
also checks each answer against the pure rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from rooms.nurses import Nurse, NurseState
from rooms.queue import Pairing, QueueChange, QueueEntry, QueuePosition, UnitQueue

ChangeListener = Callable[[QueueChange], Awaitable[None]]


class QueueStore(Protocol):
    def listen(self, listener: ChangeListener) -> None:
        """Hand every numbered change to ``listener`` after it is stored (one listener: the consoles')."""

    async def bump(self, unit: str) -> QueueChange:
        """Take the unit's next number for a change of its list outside the queue (a consult's state)."""

    async def register_nurse(self, unit: str, nurse_id: str) -> Nurse:
        """Make the nurse a member of ``unit``'s queue (away); idempotent."""

    async def remove_nurse(self, unit: str, nurse_id: str) -> None:
        """Take the nurse off ``unit`` (not while in a consult)."""

    async def set_nurse_state(self, unit: str, nurse_id: str, state: NurseState, now: datetime) -> Nurse:
        """Available or away; :class:`~rooms.queue.WrongUnit` if not a member of ``unit``."""

    async def finish_consult(self, unit: str, nurse_id: str, now: datetime) -> tuple[Nurse, timedelta]:
        """End the nurse's consult (wrap-up starts); returns the nurse and the consult's duration."""

    async def release_nurse(
        self, unit: str, nurse_id: str, appointment_id: str, now: datetime, requeue: QueueEntry | None = None
    ) -> Nurse:
        """The nurse's consult on ``appointment_id`` will not happen with her: she is available again;
        with ``requeue`` the patient goes back to their place (:func:`rooms.queue.release_nurse`)."""

    async def take_directly(self, unit: str, nurse_id: str, appointment_id: str, now: datetime) -> Nurse:
        """The nurse admitted the patient from the list: she is in that consult, the patient leaves the
        queue, other nurses paired with it are released (:func:`rooms.queue.take_directly`)."""

    async def check_in(self, entry: QueueEntry) -> QueueEntry:
        """Queue a checked-in patient in ``entry.unit``; again while waiting keeps the first entry."""

    async def next_patient(self, unit: str, nurse_id: str, now: datetime) -> Pairing | None:
        """Atomically give the nurse the head of their eligible queue and put them in the consult."""

    async def drop(self, unit: str, appointment_id: str, now: datetime) -> QueueEntry | None:
        """The patient's connection dropped; they keep their place."""

    async def rejoin(self, unit: str, appointment_id: str) -> QueueEntry | None:
        """The patient is back ("return"): eligible again, in the same place."""

    async def cancel(self, unit: str, appointment_id: str) -> QueueEntry | None:
        """Remove a waiting patient (cancelled or rescheduled); the removed entry or ``None``."""

    async def set_urgent(self, unit: str, appointment_id: str, urgent: bool) -> QueueEntry:
        """Triage flag; :class:`~rooms.queue.NotInQueue` if the patient is not waiting."""

    async def close(self, unit: str) -> tuple[QueueEntry, ...]:
        """The service closed: empty the queue and return who was still waiting, in order."""

    async def position(self, unit: str, appointment_id: str, now: datetime) -> QueuePosition | None:
        """Place, people ahead and expected wait; ``None`` when not waiting."""

    async def nurses(self, unit: str) -> dict[str, Nurse]:
        """The unit's nurses by id, without its waiting list (bounded by its staff, not its patients)."""

    async def occupied(self) -> list[str]:
        """The units with someone waiting (what the sweep closes), from an index: no unit is scanned."""

    async def snapshot(self, unit: str) -> UnitQueue:
        """The whole state of ``unit``'s queue, consistent at one instant."""

    async def aclose(self) -> None:
        """Release connections."""
