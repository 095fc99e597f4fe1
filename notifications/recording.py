"""The :class:`services.ports.Outbox` port over the record database (:mod:`records.outbox`).

A change's messages and the patient's channel choices are written in one record transaction, the
use case's store writes run inside it, and it commits after them: a store write that fails rolls
the messages back, and a database that fails before the writes stops the change. A booking also
registers the patient in the record in that same transaction (:meth:`RecordOutbox.registering`),
and signing a consult's note records "your summary is ready" in the signing's own transaction
(:class:`SummaryReady`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext
from records.facts import PatientFacts
from records.notes import Note
from records.outbox import Choice, OutboxEntry, OutboxStore
from records.repository import RecordRepository
from rooms import summary_links
from rooms.store.appointments import AppointmentStore
from services import notifications as notices
from services.notifications import AppointmentChange
from services.ports import Outbox

T = TypeVar("T")


class RecordOutbox:
    def __init__(self, store: OutboxStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def record(self, change: AppointmentChange, write: Callable[[], Awaitable[T]]) -> T:
        if not change.messages and not change.choices and not change.default_choices:
            return await write()  # nothing to record (an admission of a patient who is there)
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
            defaults=[Choice(**asdict(choice)) for choice in change.default_choices],
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


SigningWork = Callable[[AsyncSession, Note], Awaitable[None]]
"""Work in a signing's transaction, given the signed note (``records.signing.SignRequest.then``)."""


class SummaryReady:
    """ "Your summary is ready", with the consult's lasting summary link, recorded as its note is signed.

    The link is the one the summary page hands out (:mod:`rooms.summary_links`: the same claims,
    counted from the signing, give the same token). Its key is per appointment, so only the first
    signed note of a consult sends it; a consult without an appointment or a stored patient sends none.
    """

    def __init__(
        self,
        outbox: RecordOutbox,
        appointments: AppointmentStore,
        *,
        link_key: bytes,
        link_days: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._outbox = outbox
        self._appointments = appointments
        self._link_key = link_key
        self._link_days = link_days
        self._clock = clock

    async def for_consult(self, consult_id: str) -> SigningWork | None:
        appointment = await self._appointments.get(consult_id)
        patient = await self._appointments.get_patient(appointment.patient_id) if appointment else None
        if appointment is None or patient is None:
            return None

        async def record(session: AsyncSession, note: Note) -> None:
            since = note.signed_at or self._clock()
            claims = summary_links.SummaryClaims(
                consult_id,
                summary_links.link_id(consult_id),
                int(since.timestamp()),
                summary_links.expiry(since, self._link_days),
            )
            token = summary_links.issue(self._link_key, claims)
            change = notices.summary_ready(appointment, patient, summary_token=token, now=self._clock())
            await self._outbox.within(session, change, _nothing)

        return record


async def _nothing() -> None:
    return None
