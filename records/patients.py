"""The patient register: one FHIR ``Patient`` per NSS, found again by NSS or CURP."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext, require_staff
from records.audit import Attempt, Audit, Work
from records.bundle_parties import patient_resource
from records.errors import InvalidFacts, UnknownPatient
from records.facts import PatientFacts
from records.identifiers import CURP_SYSTEM, NSS_SYSTEM, clean_nss
from records.resource_store import put_resources
from records.store import Store
from records.tables import IdentifierRow


async def patient_by(session: AsyncSession, system: str, value: str) -> str | None:
    """The id of the ``Patient`` with this identifier (NSS or CURP), or None."""
    return await session.scalar(
        select(IdentifierRow.resource_id).where(
            IdentifierRow.resource_type == "Patient",
            IdentifierRow.system == system,
            IdentifierRow.value == value,
        )
    )


async def registered(session: AsyncSession, nss: str) -> str:
    """The ``Patient`` id of this NSS; a patient not in the register yet is refused."""
    patient_id = await patient_by(session, NSS_SYSTEM, clean_nss(nss))
    if patient_id is None:
        raise UnknownPatient()
    return patient_id


class Patients:
    def __init__(self, store: Store, audit: Audit) -> None:
        self._store = store
        self._audit = audit

    async def ensure(self, facts: PatientFacts, ctx: AccessContext, then: Work[None] | None = None) -> str:
        """Register (or update) a patient by NSS and return their FHIR ``Patient`` id. Staff only.

        A CURP names one person: one already registered to another NSS is refused. A CURP the
        patient no longer has stops finding them. ``then`` runs in the same transaction after the
        registration (a booking's outbox messages and store writes): all commit or none.
        """
        attempt = Attempt("create", "C")

        async def work(session: AsyncSession) -> str:
            require_staff(ctx)
            patient_id = await patient_by(session, NSS_SYSTEM, facts.nss)
            if facts.curp:
                owner = await patient_by(session, CURP_SYSTEM, facts.curp)
                if owner is not None and owner != patient_id:
                    raise InvalidFacts(
                        "CURP", "ya pertenece a otro paciente", "it belongs to another patient"
                    )
            if patient_id is None:
                patient_id = self._store.new_id()
            else:
                attempt.interaction, attempt.action = "update", "U"
                await session.execute(
                    delete(IdentifierRow).where(
                        IdentifierRow.resource_id == patient_id,
                        IdentifierRow.system == CURP_SYSTEM,
                        IdentifierRow.value != (facts.curp or ""),
                    )
                )
            attempt.patient_id = patient_id
            attempt.entities.append(("Patient", {"reference": f"Patient/{patient_id}"}))
            await put_resources(
                self._store,
                session,
                [patient_resource(facts, patient_id)],
                patient_id=patient_id,
                bundle_id=None,
                now=self._store.clock(),
            )
            if then is not None:
                await then(session)
            return patient_id

        return await self._audit.write(ctx, attempt, work)

    async def find(self, nss: str) -> str | None:
        """The FHIR ``Patient`` id for an NSS, or None (not audited: it reveals no clinical data)."""
        async with self._store.read() as session:
            return await patient_by(session, NSS_SYSTEM, clean_nss(nss))
