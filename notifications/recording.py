"""The :class:`services.ports.Outbox` port over the record database (:mod:`records.outbox`).

A change's messages and the patient's channel choices are written in one record transaction, the
use case's store writes run inside it, and it commits after them: a store write that fails rolls
the messages back, and a database that fails before the writes stops the change. A booking also
registers the patient in the record in that same transaction (:meth:`RecordOutbox.registering`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext
from records.facts import PatientFacts
from records.outbox import Choice, OutboxEntry, OutboxStore
from records.repository import RecordRepository
from services.notifications import AppointmentChange
from services.ports import Outbox

T = TypeVar("T")


class RecordOutbox:
    def __init__(self, store: OutboxStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def record(self, change: AppointmentChange, write: Callable[[], Awaitable[T]]) -> T:
        return await self._store.transaction(lambda session: self.within(session, change, write))

    async def within(
        self, session: AsyncSession, change: AppointmentChange, write: Callable[[], Awaitable[T]]
    ) -> T:
        """``change``'s choices and messages in ``session``'s transaction, then ``write`` inside it."""
        await self._store.add(
            session,
            [OutboxEntry(**asdict(message)) for message in change.messages],
            now=self._clock(),
            choices=[Choice(**asdict(choice)) for choice in change.choices],
            withdraw_before=(change.appointment_id, change.generation),
        )
        return await write()

    def registering(self, records: RecordRepository, facts: PatientFacts, ctx: AccessContext) -> Outbox:
        """This outbox, registering the booked patient in the record in the same transaction."""
        return _Registering(self, records, facts, ctx)


class _Registering:
    def __init__(
        self, outbox: RecordOutbox, records: RecordRepository, facts: PatientFacts, ctx: AccessContext
    ) -> None:
        self._outbox = outbox
        self._records = records
        self._facts = facts
        self._ctx = ctx

    async def record(self, change: AppointmentChange, write: Callable[[], Awaitable[T]]) -> T:
        results: list[T] = []

        async def then(session: AsyncSession) -> None:
            results.append(await self._outbox.within(session, change, write))

        await self._records.ensure_patient(self._facts, self._ctx, then)
        return results[0]
