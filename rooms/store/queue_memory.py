"""The queue store for a single process: the pure rules applied to states kept in a dict.

Each method is a coroutine without an ``await`` between reading a unit's state and storing the
next one, so it runs atomically on the event loop; that is all the atomicity one process needs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rooms import queue as rules
from rooms.nurses import Nurse, NurseState
from rooms.queue import Pairing, QueueEntry, QueuePolicy, QueuePosition, UnitQueue


class MemoryQueueStore:
    def __init__(self, policy: QueuePolicy | None = None) -> None:
        self.policy = policy or QueuePolicy()
        self._units: dict[str, UnitQueue] = {}

    def _get(self, unit: str) -> UnitQueue:
        state = self._units.get(unit)
        return state if state is not None else UnitQueue(unit)

    async def register_nurse(self, unit: str, nurse_id: str) -> Nurse:
        self._units[unit], nurse = rules.register_nurse(self._get(unit), nurse_id)
        return nurse

    async def remove_nurse(self, unit: str, nurse_id: str) -> None:
        self._units[unit] = rules.remove_nurse(self._get(unit), nurse_id)

    async def set_nurse_state(self, unit: str, nurse_id: str, state: NurseState, now: datetime) -> Nurse:
        self._units[unit], nurse = rules.set_nurse_state(self._get(unit), nurse_id, state, now)
        return nurse

    async def finish_consult(self, unit: str, nurse_id: str, now: datetime) -> tuple[Nurse, timedelta]:
        self._units[unit], nurse, duration = rules.end_consult(self._get(unit), nurse_id, now, self.policy)
        return nurse, duration

    async def release_nurse(
        self, unit: str, nurse_id: str, appointment_id: str, now: datetime, requeue: QueueEntry | None = None
    ) -> Nurse:
        self._units[unit], nurse = rules.release_nurse(
            self._get(unit), nurse_id, appointment_id, now, requeue
        )
        return nurse

    async def take_directly(self, unit: str, nurse_id: str, appointment_id: str, now: datetime) -> Nurse:
        self._units[unit], nurse = rules.take_directly(
            self._get(unit), nurse_id, appointment_id, now, self.policy
        )
        return nurse

    async def check_in(self, entry: QueueEntry) -> QueueEntry:
        self._units[entry.unit], kept = rules.check_in(self._get(entry.unit), entry)
        return kept

    async def next_patient(self, unit: str, nurse_id: str, now: datetime) -> Pairing | None:
        self._units[unit], pairing = rules.next_patient(self._get(unit), nurse_id, now, self.policy)
        return pairing

    async def drop(self, unit: str, appointment_id: str, now: datetime) -> QueueEntry | None:
        self._units[unit], entry = rules.drop(self._get(unit), appointment_id, now)
        return entry

    async def rejoin(self, unit: str, appointment_id: str) -> QueueEntry | None:
        self._units[unit], entry = rules.rejoin(self._get(unit), appointment_id)
        return entry

    async def cancel(self, unit: str, appointment_id: str) -> QueueEntry | None:
        self._units[unit], entry = rules.cancel(self._get(unit), appointment_id)
        return entry

    async def set_urgent(self, unit: str, appointment_id: str, urgent: bool) -> QueueEntry:
        self._units[unit], entry = rules.set_urgent(self._get(unit), appointment_id, urgent)
        return entry

    async def close(self, unit: str) -> tuple[QueueEntry, ...]:
        self._units[unit], left = rules.close(self._get(unit))
        return left

    async def position(self, unit: str, appointment_id: str, now: datetime) -> QueuePosition | None:
        return rules.position(self._get(unit), appointment_id, now, self.policy)

    async def snapshot(self, unit: str) -> UnitQueue:
        return self._get(unit)

    async def aclose(self) -> None:
        return None
