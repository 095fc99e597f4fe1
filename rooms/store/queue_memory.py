"""The queue store for a single process: the pure rules applied to states kept in a dict.

Each method is a coroutine without an ``await`` between reading a unit's state and storing the
next one (numbered, when it changed), so it runs atomically on the event loop; that is all the
atomicity one process needs. The change is announced to the listener after it is stored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from rooms import queue as rules
from rooms.nurses import Nurse, NurseState
from rooms.queue import Pairing, QueueChange, QueueEntry, QueuePolicy, QueuePosition, UnitQueue
from rooms.store.queue import ChangeListener


class MemoryQueueStore:
    def __init__(self, policy: QueuePolicy | None = None) -> None:
        self.policy = policy or QueuePolicy()
        self._units: dict[str, UnitQueue] = {}
        self._listener: ChangeListener | None = None
        self._occupied: set[str] = set()

    def listen(self, listener: ChangeListener) -> None:
        self._listener = listener

    def _get(self, unit: str) -> UnitQueue:
        state = self._units.get(unit)
        return state if state is not None else UnitQueue(unit)

    def _put(self, after: UnitQueue) -> QueueChange | None:
        """Store ``after``; numbered (and returned) when it differs from what was stored."""
        before = self._get(after.unit)
        change = rules.changes_between(before, after, before.version + 1)
        if change.empty and before.durations == after.durations and before.served == after.served:
            return None
        self._units[after.unit] = replace(after, version=change.version)
        if after.waiting:
            self._occupied.add(after.unit)
        else:
            self._occupied.discard(after.unit)
        return change

    async def _store(self, after: UnitQueue) -> None:
        change = self._put(after)
        if change is not None and self._listener is not None:
            await self._listener(change)

    async def bump(self, unit: str) -> QueueChange:
        state = self._get(unit)
        self._units[unit] = replace(state, version=state.version + 1)
        return QueueChange(unit, state.version + 1)

    async def register_nurse(self, unit: str, nurse_id: str) -> Nurse:
        after, nurse = rules.register_nurse(self._get(unit), nurse_id)
        await self._store(after)
        return nurse

    async def remove_nurse(self, unit: str, nurse_id: str) -> None:
        await self._store(rules.remove_nurse(self._get(unit), nurse_id))

    async def set_nurse_state(self, unit: str, nurse_id: str, state: NurseState, now: datetime) -> Nurse:
        after, nurse = rules.set_nurse_state(self._get(unit), nurse_id, state, now)
        await self._store(after)
        return nurse

    async def finish_consult(self, unit: str, nurse_id: str, now: datetime) -> tuple[Nurse, timedelta]:
        after, nurse, duration = rules.end_consult(self._get(unit), nurse_id, now, self.policy)
        await self._store(after)
        return nurse, duration

    async def release_nurse(
        self, unit: str, nurse_id: str, appointment_id: str, now: datetime, requeue: QueueEntry | None = None
    ) -> Nurse:
        after, nurse = rules.release_nurse(self._get(unit), nurse_id, appointment_id, now, requeue)
        await self._store(after)
        return nurse

    async def take_directly(self, unit: str, nurse_id: str, appointment_id: str, now: datetime) -> Nurse:
        after, nurse = rules.take_directly(self._get(unit), nurse_id, appointment_id, now, self.policy)
        await self._store(after)
        return nurse

    async def check_in(self, entry: QueueEntry) -> QueueEntry:
        after, kept = rules.check_in(self._get(entry.unit), entry)
        await self._store(after)
        return kept

    async def next_patient(self, unit: str, nurse_id: str, now: datetime) -> Pairing | None:
        after, pairing = rules.next_patient(self._get(unit), nurse_id, now, self.policy)
        await self._store(after)
        return pairing

    async def drop(self, unit: str, appointment_id: str, now: datetime) -> QueueEntry | None:
        after, entry = rules.drop(self._get(unit), appointment_id, now)
        await self._store(after)
        return entry

    async def rejoin(self, unit: str, appointment_id: str) -> QueueEntry | None:
        after, entry = rules.rejoin(self._get(unit), appointment_id)
        await self._store(after)
        return entry

    async def cancel(self, unit: str, appointment_id: str) -> QueueEntry | None:
        after, entry = rules.cancel(self._get(unit), appointment_id)
        await self._store(after)
        return entry

    async def set_urgent(self, unit: str, appointment_id: str, urgent: bool) -> QueueEntry:
        after, entry = rules.set_urgent(self._get(unit), appointment_id, urgent)
        await self._store(after)
        return entry

    async def close(self, unit: str) -> tuple[QueueEntry, ...]:
        after, left = rules.close(self._get(unit))
        await self._store(after)
        return left

    async def position(self, unit: str, appointment_id: str, now: datetime) -> QueuePosition | None:
        return rules.position(self._get(unit), appointment_id, now, self.policy)

    async def nurses(self, unit: str) -> dict[str, Nurse]:
        return dict(self._get(unit).nurses)

    async def occupied(self) -> list[str]:
        return sorted(self._occupied)

    async def snapshot(self, unit: str) -> UnitQueue:
        return self._get(unit)

    async def aclose(self) -> None:
        return None
