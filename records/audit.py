"""Every call into the record leaves an ``AuditEvent``, refused calls too: this is the one way in.

A call describes itself as an :class:`Attempt`: the FHIR interaction and action and, as it learns
them, the patient and the entities it touched, so the audit of a refused call names as much as was
known when it was refused (refused attempts are what an auditor looks for). :meth:`Audit.read` and
:meth:`Audit.write` are the gate every audited call goes through: the work in a read or a write
transaction, then its ``AuditEvent``, written after a read, or inside the write's own transaction
so that the change and its audit commit together. A refusal (:class:`RecordError`) is audited with
a failure outcome in a transaction of its own, after the work's transaction rolled back.

Who may call is decided by the work itself, first thing (see :mod:`records.care`), so that each
call keeps its own order of checks: a malformed id is a 400 before it is a 403.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext
from records.bundle_audit import audit_event
from records.errors import RecordError
from records.resource_store import parse_dt
from records.store import Resource, Store
from records.tables import AuditRow

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]
"""A call's own work, given the session of its transaction."""


@dataclass
class Attempt:
    """What a call touched so far: the audit of a refused call names as much as was known."""

    interaction: str
    action: str
    patient_id: str | None = None
    entities: list[tuple[str, Resource]] = field(default_factory=list)
    query: str | None = None


def _outcome(error: RecordError) -> str:
    """``AuditEvent.outcome``: 8 (serious failure) for a refused identity or access, else 4 (minor)."""
    return "8" if error.http_status in (401, 403) else "4"


class Audit:
    def __init__(self, store: Store) -> None:
        self._store = store

    def row(
        self, ctx: AccessContext, attempt: Attempt, *, outcome: str = "0", desc: str | None = None
    ) -> AuditRow:
        """The ``AuditEvent`` of this call as a row, for the caller to add to its own transaction."""
        now = self._store.clock()
        patient_ref = {"reference": f"Patient/{attempt.patient_id}"} if attempt.patient_id else None
        entities = list(attempt.entities)
        if patient_ref and not any(t == "Patient" for t, _ in entities):
            entities.append(("Patient", patient_ref))
        patient_self = attempt.patient_id if not ctx.is_staff else None
        content = audit_event(
            event_id=self._store.new_id(),
            recorded=now,
            interaction=attempt.interaction,
            action=attempt.action,
            who=ctx.agent(patient_self),
            address=ctx.address,
            entities=entities,
            outcome=outcome,
            outcome_desc=desc,
            query=attempt.query,
        )
        return AuditRow(
            id=str(content["id"]),
            recorded=now,
            patient_id=attempt.patient_id,
            agent_id=ctx.subject_id[:64],
            action=attempt.action,
            outcome=outcome,
            content=content,
        )

    async def alone(
        self, ctx: AccessContext, attempt: Attempt, outcome: str = "0", desc: str | None = None
    ) -> None:
        """Write the ``AuditEvent`` in a transaction of its own (after a read, or a refusal)."""
        async with self._store.write.begin() as session:
            session.add(self.row(ctx, attempt, outcome=outcome, desc=desc))

    async def guard(self, ctx: AccessContext, attempt: Attempt, body: Callable[[], Awaitable[T]]) -> T:
        """Run ``body``; if it refuses the call, audit the refusal and raise it again."""
        try:
            return await body()
        except RecordError as error:
            log.info("record request refused: %s %s (%s)", attempt.interaction, error.code, ctx.kind.value)
            await self.alone(ctx, attempt, outcome=_outcome(error), desc=error.code)
            raise

    async def read(
        self, ctx: AccessContext, attempt: Attempt, work: Work[T], *, desc: str | None = None
    ) -> T:
        """``work`` in a read transaction, then its ``AuditEvent``; a refusal is audited as such."""

        async def body() -> T:
            async with self._store.read() as session:
                result = await work(session)
            await self.alone(ctx, attempt, desc=desc)
            return result

        return await self.guard(ctx, attempt, body)

    async def write(
        self, ctx: AccessContext, attempt: Attempt, work: Work[T], *, desc: str | None = None
    ) -> T:
        """``work`` and its ``AuditEvent`` in one write transaction; a refusal is audited as such."""

        async def body() -> T:
            async with self._store.write.begin() as session:
                result = await work(session)
                session.add(self.row(ctx, attempt, desc=desc))
            return result

        return await self.guard(ctx, attempt, body)

    async def add_events(
        self,
        session: AsyncSession,
        events: Iterable[Resource],
        *,
        patient_id: str | None,
        agent: Callable[[Resource], str],
    ) -> None:
        """Store ``AuditEvent`` resources made elsewhere (a signed Bundle's, the session's) as rows.

        ``agent`` names who each one is about in the row's ``agent_id`` column (the resource itself
        says it in full); an event already stored is left as it was.
        """
        rows = [
            {
                "id": event["id"],
                "recorded": parse_dt(event["recorded"]),
                "patient_id": patient_id,
                "agent_id": agent(event),
                "action": event["action"],
                "outcome": event["outcome"],
                "content": event,
            }
            for event in events
        ]
        await self._store.insert_ignore(session, AuditRow.__table__, rows)
