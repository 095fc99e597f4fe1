"""The outbox: messages to patients kept in the record database until a dispatcher has sent them.

A change that should reach the patient (a booking, a reschedule, a cancellation, an admission, a
summary) writes its messages here in the same database transaction as the rest of its record work
(:meth:`OutboxStore.add` takes the caller's session), so a message exists exactly when its change
was committed. Dispatchers on any number of nodes then :meth:`~OutboxStore.claim` due rows: on
PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED`` (two nodes never claim the same row and never
wait for each other), on SQLite with one ``UPDATE … RETURNING`` in a write transaction (SQLite has
one writer at a time, so the claim is atomic). A claim is a lease: a node that dies mid-send lets
the row become due again when ``lease_until`` passes. Every attempt is a row of its own.

A message goes only where the patient's newest choice that applies to it allows
(``notification_choices``: a choice of the whole channel, or of that channel for the message's
kind): checked when it is recorded and again when it is claimed, so an unsubscribe stops messages
already queued. Times come from the caller's clock, so tests drive them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from records.db import writer
from records.outbox_tables import NotificationChoiceRow, OutboxAttemptRow, OutboxMessageRow

T = TypeVar("T")


class Status(StrEnum):
    PENDING = "pending"
    """Waiting for ``due_at`` (its first send, or the next retry)."""
    SENDING = "sending"
    """Claimed by a node until ``lease_until``."""
    SENT = "sent"
    FAILED = "failed"
    """Every attempt failed; not tried again."""
    UNSENT = "unsent"
    """Not sendable: no channel of its kind is configured (``last_error`` says so)."""
    OPTED_OUT = "opted_out"
    """The patient turned the channel off after it was queued."""
    WITHDRAWN = "withdrawn"
    """The appointment changed (rescheduled, cancelled) before it was sent: it no longer applies."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One message a change asks to send: to one address on one channel, not before ``due_at``."""

    idempotency_key: str
    unit: str
    appointment_id: str
    generation: int
    kind: str
    channel: str
    address: str
    patient_nss: str
    first_name: str
    language: str
    time_zone: str
    starts_at: datetime
    ends_at: datetime
    token: str | None
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Choice:
    """A patient turns one channel on or off, for every kind of message or (``kind``) for one;
    ``source`` says who and where (no personal data)."""

    patient_nss: str
    channel: str
    enabled: bool
    source: str
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a dispatcher holds the lease of: what it needs to send it, and its attempt number."""

    message_id: str
    entry: OutboxEntry
    attempt: int


@dataclass(frozen=True, slots=True)
class AttemptView:
    at: datetime
    node: str
    outcome: str
    error: str | None


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as staff see it: what, on which channel, its state and every attempt; no link."""

    message_id: str
    appointment_id: str
    kind: str
    channel: str
    address: str
    status: str
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    attempts: tuple[AttemptView, ...]


def _entry(row: OutboxMessageRow) -> OutboxEntry:
    return OutboxEntry(
        idempotency_key=row.idempotency_key,
        unit=row.unit,
        appointment_id=row.appointment_id,
        generation=row.generation,
        kind=row.kind,
        channel=row.channel,
        address=row.address,
        patient_nss=row.patient_nss,
        first_name=row.first_name,
        language=row.language,
        time_zone=row.time_zone,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        token=row.token,
        due_at=row.due_at,
    )


async def _enabled(session: AsyncSession, patient_nss: str, channel: str, kind: str | None) -> bool:
    """The patient's newest choice for ``channel`` that applies to ``kind`` (one about the whole
    channel, or about that kind on it; ``kind=None``: the whole channel only); never chosen: on."""
    table = NotificationChoiceRow
    applies = table.kind.is_(None) if kind is None else or_(table.kind.is_(None), table.kind == kind)
    enabled = await session.scalar(
        select(table.enabled)
        .where(table.patient_nss == patient_nss, table.channel == channel, applies)
        .order_by(table.id.desc())
        .limit(1)
    )
    return enabled is not False


async def _ever_chosen(session: AsyncSession, patient_nss: str, channel: str) -> bool:
    table = NotificationChoiceRow
    found = await session.scalar(
        select(table.id)
        .where(table.patient_nss == patient_nss, table.channel == channel, table.kind.is_(None))
        .limit(1)
    )
    return found is not None


class OutboxStore:
    def __init__(self, engine: AsyncEngine, *, new_id: Callable[[], str]) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        self._write = async_sessionmaker(writer(engine), expire_on_commit=False)
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._new_id = new_id

    async def transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``work`` in one write transaction (for callers with no other record work to share it with)."""
        async with self._write.begin() as session:
            return await work(session)

    async def add(
        self,
        session: AsyncSession,
        entries: Sequence[OutboxEntry],
        *,
        now: datetime,
        choices: Sequence[Choice] = (),
        defaults: Sequence[Choice] = (),
        withdraw_before: tuple[str, int] | None = None,
    ) -> None:
        """Record ``choices``, then the ``entries`` the patient's choices allow, in the caller's transaction.

        ``defaults``: choices recorded only for a channel the patient has never chosen either way (a
        booking that names no channels must not turn back on a channel the patient turned off).
        ``withdraw_before``: ``(appointment id, generation)``; that appointment's messages of older
        generations that were not sent yet no longer apply (it was rescheduled or cancelled). An
        entry whose key is stored already (the same change recorded twice) is left as it was.
        """
        unchosen = [d for d in defaults if not await _ever_chosen(session, d.patient_nss, d.channel)]
        for choice in (*choices, *unchosen):
            session.add(
                NotificationChoiceRow(
                    patient_nss=choice.patient_nss,
                    channel=choice.channel,
                    kind=choice.kind,
                    enabled=choice.enabled,
                    at=now,
                    source=choice.source[:100],
                )
            )
        await session.flush()
        if withdraw_before is not None:
            appointment_id, generation = withdraw_before
            await session.execute(
                update(OutboxMessageRow)
                .where(
                    OutboxMessageRow.appointment_id == appointment_id,
                    OutboxMessageRow.generation < generation,
                    OutboxMessageRow.status == Status.PENDING,
                )
                .values(status=Status.WITHDRAWN, last_error="appointment_changed")
            )
        rows = [
            {
                **{field.name: getattr(entry, field.name) for field in fields(OutboxEntry)},
                "id": self._new_id(),
                "status": Status.PENDING.value,
                "created_at": now,
                "attempts": 0,
            }
            for entry in entries
            if await _enabled(session, entry.patient_nss, entry.channel, entry.kind)
        ]
        if rows:
            dialect = postgresql if self._postgres else sqlite
            await session.execute(dialect.insert(OutboxMessageRow).on_conflict_do_nothing(), rows)

    async def choose(self, choices: Sequence[Choice], now: datetime) -> None:
        """Record choices on their own (an unsubscribe link): later messages they turn off stop."""
        async with self._write.begin() as session:
            await self.add(session, (), now=now, choices=choices)

    async def enabled(self, patient_nss: str, channel: str, kind: str | None = None) -> bool:
        """Whether ``kind`` (``None``: every kind) may go to the patient on ``channel``."""
        async with self._read() as session:
            return await _enabled(session, patient_nss, channel, kind)

    async def claim(self, *, node: str, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
        """Take up to ``limit`` due messages for ``node`` until ``now + lease``; none is given to two nodes.

        Due: pending with ``due_at`` passed, or claimed by a node whose lease ran out (it died).
        A message whose channel the patient turned off meanwhile becomes ``opted_out`` instead.
        """
        table = OutboxMessageRow
        due = or_(
            and_(table.status == Status.PENDING, table.due_at <= now),
            and_(table.status == Status.SENDING, table.lease_until <= now),
        )
        candidates = select(table.id).where(due).order_by(table.due_at).limit(limit)
        if self._postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        claim = (
            update(table)
            .where(table.id.in_(candidates.scalar_subquery()), due)
            .values(
                status=Status.SENDING,
                lease_until=now + lease,
                claimed_by=node[:64],
                attempts=table.attempts + 1,
            )
            .returning(table)
        )
        async with self._read() as session:
            if await session.scalar(select(table.id).where(due).limit(1)) is None:
                return []  # nothing due: no write transaction (on SQLite, no write lock) every round
        claimed: list[Claimed] = []
        async with self._write.begin() as session:
            for row in (await session.scalars(claim, execution_options={"synchronize_session": False})).all():
                if not await _enabled(session, row.patient_nss, row.channel, row.kind):
                    row.status, row.last_error, row.lease_until = Status.OPTED_OUT, "opted_out", None
                    continue
                claimed.append(Claimed(row.id, _entry(row), row.attempts))
        return claimed

    async def finish(
        self,
        message_id: str,
        *,
        node: str,
        now: datetime,
        status: Status,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> bool:
        """Record one attempt by ``node`` and the message's new state; ``retry_at`` makes it due again.

        Only the node that holds the lease changes the message (one that lost it to another node
        after its lease ran out records its attempt and changes nothing else). Returns whether it did.
        """
        table = OutboxMessageRow
        new_status = Status.PENDING if retry_at is not None else status
        values: dict[str, object] = {
            "status": new_status,
            "lease_until": None,
            "last_error": error[:200] if error else None,
        }
        if retry_at is not None:
            values["due_at"] = retry_at
        if status is Status.SENT:
            values["sent_at"] = now
        async with self._write.begin() as session:
            result = await session.execute(
                update(table)
                .where(table.id == message_id, table.claimed_by == node[:64], table.status == Status.SENDING)
                .values(**values)
            )
            session.add(
                OutboxAttemptRow(
                    message_id=message_id,
                    at=now,
                    node=node[:64],
                    outcome=Status.FAILED.value if retry_at is not None else status.value,
                    error=error[:200] if error else None,
                )
            )
        return bool(getattr(result, "rowcount", 0))

    async def message(self, message_id: str) -> OutboxEntry | None:
        async with self._read() as session:
            row = await session.get(OutboxMessageRow, message_id)
            return None if row is None else _entry(row)

    async def of_unit(self, unit: str, *, limit: int = 200) -> list[MessageView]:
        """A unit's newest messages, each with every attempt, for its staff."""
        async with self._read() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessageRow)
                    .where(OutboxMessageRow.unit == unit)
                    .order_by(OutboxMessageRow.created_at.desc(), OutboxMessageRow.id)
                    .limit(limit)
                )
            ).all()
            attempts: dict[str, list[AttemptView]] = {row.id: [] for row in rows}
            if rows:
                for attempt in (
                    await session.scalars(
                        select(OutboxAttemptRow)
                        .where(OutboxAttemptRow.message_id.in_(list(attempts)))
                        .order_by(OutboxAttemptRow.id)
                    )
                ).all():
                    attempts[attempt.message_id].append(
                        AttemptView(attempt.at, attempt.node, attempt.outcome, attempt.error)
                    )
        return [
            MessageView(
                message_id=row.id,
                appointment_id=row.appointment_id,
                kind=row.kind,
                channel=row.channel,
                address=mask(row.address),
                status=row.status,
                due_at=row.due_at,
                created_at=row.created_at,
                sent_at=row.sent_at,
                last_error=row.last_error,
                attempts=tuple(attempts[row.id]),
            )
            for row in rows
        ]


def mask(address: str) -> str:
    """Enough of an address for staff to tell which one it was, not enough to read it off a screen."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}…@{domain}"
    return f"{address[:3]}…{address[-2:]}"
