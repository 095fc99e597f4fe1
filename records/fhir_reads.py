"""FHIR read and search: what ``/fhir`` serves, and the patient's own summary.

Staff read a patient's resources only with a role in the patient's care (:func:`records.care.admit`);
a patient link reads only its own summary. Every read and every search leaves an ``AuditEvent``,
including the reading of the audit trail itself. Search parameters are parsed and checked by
:mod:`records.fhir_api`; here they become queries on the stored resources' index columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext, require_patient, require_staff
from records.audit import Attempt, Audit
from records.care import admit
from records.errors import AccessDenied, NotFound
from records.fhir_api import DateFilter, SearchQuery, check_resource_id, parse_search, searchset
from records.patients import registered
from records.resource_store import MASTER_TYPES, references_to
from records.store import Resource
from records.tables import AuditRow, IdentifierRow, ResourceRow

SUMMARY_TYPES = (
    "Patient",
    "Encounter",
    "Composition",
    "Condition",
    "Observation",
    "CarePlan",
    "ServiceRequest",
    "Consent",
)
"""What a patient reads of their own record: no Provenance, AuditEvents or practitioners' details."""


def _date_clause(d: DateFilter) -> Any:
    """A ``date=`` filter on a resource's date range (an instant is a range of no length)."""
    start = ResourceRow.date_start
    end = func.coalesce(ResourceRow.date_end, ResourceRow.date_start)
    eq = and_(start >= d.lower, end < d.upper)
    return {
        "eq": eq,
        "ne": not_(eq),
        "gt": end >= d.upper,
        "lt": start < d.lower,
        "ge": end >= d.lower,
        "le": start < d.upper,
    }[d.prefix]


async def _stored(
    session: AsyncSession, resource_type: str, resource_id: str
) -> AuditRow | ResourceRow | None:
    """The current version of ``resource_type/resource_id`` (AuditEvents have their own table)."""
    if resource_type == "AuditEvent":
        return await session.get(AuditRow, resource_id)
    row = await session.get(ResourceRow, resource_id)
    return row if row is not None and row.resource_type == resource_type else None


async def _compartment(session: AsyncSession, patient_id: str, types: Sequence[str] | None) -> list[Resource]:
    stmt = select(ResourceRow.content).where(ResourceRow.patient_id == patient_id)
    if types is not None:
        stmt = stmt.where(ResourceRow.resource_type.in_(types))
    stmt = stmt.order_by(ResourceRow.resource_type, ResourceRow.date_start)
    return list(await session.scalars(stmt))


class FhirReads:
    def __init__(self, audit: Audit, base_url: str) -> None:
        self._audit = audit
        self._base_url = base_url

    async def read(self, resource_type: str, resource_id: str, ctx: AccessContext) -> Resource:
        """``GET [type]/[id]``: the current version, for staff with a role in the patient's care."""
        attempt = Attempt("read", "R")

        async def work(session: AsyncSession) -> Resource:
            check_resource_id(resource_type, resource_id)
            attempt.entities.append((resource_type, {"reference": f"{resource_type}/{resource_id}"}))
            require_staff(ctx)
            row = await _stored(session, resource_type, resource_id)
            if row is None:
                raise NotFound(f"{resource_type}/{resource_id}")
            if row.patient_id is not None:
                await admit(session, ctx, attempt, row.patient_id)
            elif resource_type == "AuditEvent":
                raise AccessDenied()  # an AuditEvent about no patient: no role in anyone's care reaches it
            return dict(row.content)

        return await self._audit.read(ctx, attempt, work)

    async def search(
        self, resource_type: str, params: Sequence[tuple[str, str]], ctx: AccessContext
    ) -> Resource:
        """``GET [type]?params``: a searchset Bundle (see :mod:`records.fhir_api` for the parameters)."""
        query_text = "&".join(f"{k}={v}" for k, v in params)[:1000]
        attempt = Attempt("search-type", "E", query=f"{resource_type}?{query_text}")

        async def work(session: AsyncSession) -> list[Resource]:
            query = parse_search(resource_type, params)
            require_staff(ctx)
            if query.resource_type == "Patient":
                return await self._patients(session, query, ctx, attempt)
            if query.resource_type == "Encounter":
                return await self._encounters(session, query, ctx, attempt)
            return await self._compositions(session, query, ctx, attempt)

        return searchset(await self._audit.read(ctx, attempt, work), self._base_url)

    @staticmethod
    async def _patients(
        session: AsyncSession, query: SearchQuery, ctx: AccessContext, attempt: Attempt
    ) -> list[Resource]:
        """``Patient?identifier=[system|]value``: at most the one patient, if in the caller's care."""
        conditions = [IdentifierRow.resource_type == "Patient", IdentifierRow.value == query.identifier_value]
        if query.identifier_system:
            conditions.append(IdentifierRow.system == query.identifier_system)
        patient_ids = list(
            await session.scalars(select(IdentifierRow.resource_id).where(*conditions).limit(2))
        )
        resources = []
        for patient_id in patient_ids:
            await admit(session, ctx, attempt, patient_id)
            row = await session.get(ResourceRow, patient_id)
            if row is not None:
                resources.append(row.content)
        return resources

    @staticmethod
    async def _encounters(
        session: AsyncSession, query: SearchQuery, ctx: AccessContext, attempt: Attempt
    ) -> list[Resource]:
        """``Encounter?patient=&date=``: the patient's visits, newest first."""
        assert query.reference_id is not None
        patient_id = query.reference_id
        exists = await session.get(ResourceRow, patient_id)
        if exists is None or exists.resource_type != "Patient":
            return []
        await admit(session, ctx, attempt, patient_id)
        stmt = (
            select(ResourceRow.content)
            .where(
                ResourceRow.patient_id == patient_id,
                ResourceRow.resource_type == "Encounter",
                *(_date_clause(d) for d in query.dates),
            )
            .order_by(ResourceRow.date_start.desc())
            .limit(query.count)
        )
        return list(await session.scalars(stmt))

    @staticmethod
    async def _compositions(
        session: AsyncSession, query: SearchQuery, ctx: AccessContext, attempt: Attempt
    ) -> list[Resource]:
        """``Composition?encounter=``: the visit's notes and addenda, oldest first."""
        assert query.reference_id is not None
        encounter = await session.get(ResourceRow, query.reference_id)
        if encounter is None or encounter.resource_type != "Encounter" or encounter.patient_id is None:
            return []
        await admit(session, ctx, attempt, encounter.patient_id)
        stmt = (
            select(ResourceRow.content)
            .where(ResourceRow.encounter_id == query.reference_id, ResourceRow.resource_type == "Composition")
            .order_by(ResourceRow.date_start)
            .limit(query.count)
        )
        return list(await session.scalars(stmt))

    async def everything(self, patient_id: str, ctx: AccessContext) -> Resource:
        """``Patient/[id]/$everything``: the patient's compartment and the practitioners and units cited."""
        attempt = Attempt("operation", "R")

        async def work(session: AsyncSession) -> list[Resource]:
            check_resource_id("Patient", patient_id)
            require_staff(ctx)
            patient = await session.get(ResourceRow, patient_id)
            if patient is None or patient.resource_type != "Patient":
                raise NotFound(f"Patient/{patient_id}")
            await admit(session, ctx, attempt, patient_id)
            resources = await _compartment(session, patient_id, None)
            cited = references_to(resources, MASTER_TYPES)
            if cited:
                resources.extend(
                    await session.scalars(
                        select(ResourceRow.content).where(ResourceRow.id.in_(sorted(cited)))
                    )
                )
            attempt.entities.append(("Patient", {"reference": f"Patient/{patient_id}"}))
            return resources

        return searchset(await self._audit.read(ctx, attempt, work, desc="$everything"), self._base_url)

    async def patient_summary(self, ctx: AccessContext) -> Resource:
        """What a patient link may read: their own summary (notes, problems, plans, referrals) only."""
        attempt = Attempt("operation", "R")

        async def work(session: AsyncSession) -> list[Resource]:
            require_patient(ctx)
            patient_id = attempt.patient_id = await registered(session, ctx.subject_id)
            return await _compartment(session, patient_id, SUMMARY_TYPES)

        return searchset(await self._audit.read(ctx, attempt, work, desc="summary"), self._base_url)

    async def audit_trail(self, patient_id: str, ctx: AccessContext, limit: int = 200) -> list[Resource]:
        """The patient's ``AuditEvent``\\ s, newest first (reading them is audited too)."""
        attempt = Attempt("search-type", "E", query=f"AuditEvent?patient={patient_id[:64]}")

        async def work(session: AsyncSession) -> list[Resource]:
            check_resource_id("Patient", patient_id)
            require_staff(ctx)
            await admit(session, ctx, attempt, patient_id)
            return list(
                await session.scalars(
                    select(AuditRow.content)
                    .where(AuditRow.patient_id == patient_id)
                    .order_by(AuditRow.recorded.desc())
                    .limit(max(1, min(limit, 1000)))
                )
            )

        return await self._audit.read(ctx, attempt, work)
