"""The record follows the consult's end: an Encounter signed during the call becomes ``finished``.

A note signed during the call stored the consult's Encounter ``in-progress`` with no end. Once the
consult's session log is archived it holds the end, so the Encounter gets a new version, finished at
the consult's end, with a ``Provenance`` of the update and an ``AuditEvent``, in one transaction.
The writer is the server, not a person, so this needs no access context.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from records import codes
from records.audit import Audit
from records.bundle_audit import audit_event, session_audit_events
from records.bundle_encounter import finished_encounter
from records.bundle_refs import concept, derived_id, encounter_id
from records.errors import InvalidRecord
from records.identifiers import CONSULT_SYSTEM
from records.notes import NoteStatus
from records.resource_store import put_resources
from records.session_logs import events_of
from records.store import Resource, Store
from records.tables import NoteRow, ResourceRow
from records.validation import validate_resource

log = logging.getLogger(__name__)
_SERVER: Resource = {"type": "Device", "display": "Teleconsulta"}
"""The server as an agent: it assembles the Encounter from the session log, on the unit's behalf."""


def _end_provenance(encounter: Mapping[str, Any], consult_id: str, previous: int, now: datetime) -> Resource:
    """Who changed the Encounter and from what: the server, from the session log, for the unit."""
    visit_id = str(encounter["id"])
    return {
        "resourceType": "Provenance",
        "id": derived_id(f"consult:{consult_id}", f"Provenance/Encounter/{previous + 1}"),
        "target": [{"reference": f"Encounter/{visit_id}/_history/{previous + 1}"}],
        "occurredDateTime": str(encounter["period"]["end"]),
        "recorded": now.isoformat(),
        "activity": concept(codes.V3_DATA_OPERATION, "UPDATE", "revise"),
        "reason": [{"text": "La consulta terminó / the consult ended"}],
        "agent": [
            {
                "type": concept(codes.PROVENANCE_AGENT, "assembler", "Assembler"),
                "who": dict(_SERVER),
                **(
                    {"onBehalfOf": encounter["serviceProvider"]}
                    if isinstance(encounter.get("serviceProvider"), Mapping)
                    else {}
                ),
            }
        ],
        "entity": [
            {"role": "revision", "what": {"reference": f"Encounter/{visit_id}/_history/{previous}"}},
            {
                "role": "source",
                "what": {
                    "identifier": {"system": CONSULT_SYSTEM, "value": consult_id},
                    "display": "Bitácora de la sesión / session log",
                },
            },
        ],
    }


class ConsultEnd:
    def __init__(self, store: Store, audit: Audit) -> None:
        self._store = store
        self._audit = audit

    async def follow(self, consult_id: str) -> str | None:
        """The record follows the consult's end; call it once the consult's session log is archived.

        The Encounter's ``period.end`` becomes the consult's end (length and participants' periods
        from the whole log): a new version of the resource, with a ``Provenance`` of the update (the
        server assembling it from the session log, on behalf of the unit) and an ``AuditEvent``, in
        one transaction; the session events after the signing get their ``AuditEvent``\\ s too.
        Returns the Encounter's new version id, or None when there is nothing to follow (no signed
        note, no end in the log, already finished); calling it again changes nothing.
        """
        any_note = select(NoteRow.id).where(NoteRow.consult_id == consult_id).limit(1)
        async with self._store.read() as session:
            if await session.scalar(any_note) is None:
                return None  # no note, nothing to follow (and no write transaction taken)
        async with self._store.write.begin() as session:
            return await self._finish(session, consult_id)

    async def _finish(self, session: AsyncSession, consult_id: str) -> str | None:
        visit_id = encounter_id(consult_id)
        # Lock the consult's notes first: a signing still in flight commits its Encounter before
        # this reads it (PostgreSQL row locks; SQLite write transactions are serialized anyway).
        notes = list(
            await session.scalars(
                select(NoteRow)
                .where(NoteRow.consult_id == consult_id, NoteRow.amends_id.is_(None))
                .order_by(NoteRow.signed_at)
                .with_for_update()
            )
        )
        signed = [n for n in notes if n.status == NoteStatus.SIGNED.value]
        row = await session.get(ResourceRow, visit_id, populate_existing=True)
        if not signed or row is None or row.resource_type != "Encounter":
            return None
        events = await events_of(session, consult_id)
        encounter = finished_encounter(row.content, events, signed[0].author_id)
        if encounter is None:
            return None
        issues = validate_resource(encounter)
        if issues:
            log.warning("consult %s ended: its Encounter would be invalid: %s", consult_id, issues[:3])
            raise InvalidRecord(issues)
        patient_id, previous = row.patient_id, row.version_id
        now = self._store.clock()
        await put_resources(
            self._store, session, [encounter], patient_id=patient_id, bundle_id=row.bundle_id, now=now
        )
        provenance = _end_provenance(encounter, consult_id, previous, now)
        await put_resources(
            self._store, session, [provenance], patient_id=patient_id, bundle_id=None, now=now
        )
        reference: Resource = {"reference": f"Encounter/{visit_id}"}
        patient_ref: Resource = {"reference": f"Patient/{patient_id}"}
        audit = audit_event(
            event_id=self._store.new_id(),
            recorded=now,
            interaction="update",
            action="U",
            who=dict(_SERVER),
            address=platform.node() or "localhost",
            entities=[("Encounter", reference), ("Patient", patient_ref)],
            outcome_desc="consult-ended",
        )
        await self._audit.add_events(
            session,
            [audit, *session_audit_events(consult_id, events, patient_ref, reference)],
            patient_id=patient_id,
            agent=lambda event: "system" if event is audit else "session",
        )
        log.info("consult %s ended: Encounter %s finished (version %d)", consult_id, visit_id, previous + 1)
        return str(previous + 1)
