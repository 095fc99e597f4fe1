"""The record store: drafts, signing, addenda, FHIR read and search, and the audit of every access.

All methods are async and take an :class:`AccessContext` (who, from where). Each write is one
database transaction that also holds its ``AuditEvent``; each read is followed by the ``AuditEvent``
of that read. A refused request (bad input, no access, stale version, signed note) raises a
:class:`RecordError`, changes no clinical data, and still leaves an ``AuditEvent`` with a failure
outcome, because refused attempts are what an auditor looks for.

Signing is idempotent by ``request_id``: the note row is claimed first with a compare-and-set on
(version, draft), so of two identical requests racing, one signs and the other finds the signed
note with its own request id and returns the stored result.

Nothing here logs clinical content; the module logs ids and error codes only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, func, not_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from records.access import AccessContext
from records.audit import Audit
from records.care import CareRelations
from records.consult_end import ConsultEnd
from records.db import writer
from records.drafts import Drafts
from records.errors import (
    AccessDenied,
    InvalidRecord,
    NotFound,
    RecordError,
    UnknownPatient,
)
from records.facts import PatientFacts, StaffFacts
from records.fhir_api import DateFilter, SearchQuery, check_resource_id, parse_search, searchset
from records.fhir_bundle import (
    audit_event,
)
from records.identifiers import (
    CEDULA_SYSTEM,
    CLUES_SYSTEM,
    CONSULT_SYSTEM,
    CURP_SYSTEM,
    FHIR_BASE,
    NOTE_SYSTEM,
    NSS_SYSTEM,
    clean_nss,
)
from records.note_rows import note_entity, to_note
from records.notes import Note
from records.patients import Patients
from records.seal import SealCheck, SealKeys, check
from records.signing import Signing, SignRequest, SignResult
from records.store import Store
from records.tables import AuditRow, BundleRow, CareRelationRow, IdentifierRow, NoteRow, ResourceRow
from records.templates import TemplateCode

__all__ = ["RecordRepository", "SignRequest", "SignResult"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Resource = dict[str, Any]

INDEXED_SYSTEMS = frozenset(
    {NSS_SYSTEM, CURP_SYSTEM, CEDULA_SYSTEM, CLUES_SYSTEM, CONSULT_SYSTEM, NOTE_SYSTEM}
)
MASTER_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization"})
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
_DATE_FIELDS = {
    "Composition": "date",
    "Observation": "effectiveDateTime",
    "Condition": "recordedDate",
    "CarePlan": "created",
    "ServiceRequest": "authoredOn",
    "Consent": "dateTime",
    "Provenance": "recorded",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Attempt:
    """What a call touched so far: the audit of a refused call names as much as was known."""

    interaction: str
    action: str
    patient_id: str | None = None
    entities: list[tuple[str, Resource]] = field(default_factory=list)
    query: str | None = None


def _provenance_seal(bundle: Mapping[str, Any]) -> str:
    """The seal a stored Bundle carries (``Provenance.signature[0].data``); empty if it has none."""
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Provenance":
            signatures = resource.get("signature") or [{}]
            return str(signatures[0].get("data", ""))
    return ""


def _resolve(value: Any, local_types: Mapping[str, str]) -> Any:
    """A deep copy with ``urn:uuid:{id}`` references rewritten to ``{type}/{id}``."""
    if isinstance(value, dict):
        out = {k: _resolve(v, local_types) for k, v in value.items()}
        reference = out.get("reference")
        if isinstance(reference, str) and reference in local_types:
            out["reference"] = f"{local_types[reference]}/{reference.removeprefix('urn:uuid:')}"
        return out
    if isinstance(value, list):
        return [_resolve(v, local_types) for v in value]
    return value


def _ref_id(reference: object, resource_type: str) -> str | None:
    if isinstance(reference, Mapping):
        literal = reference.get("reference")
        if isinstance(literal, str) and literal.startswith(f"{resource_type}/"):
            return literal.removeprefix(f"{resource_type}/")
    return None


def _parse_dt(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _strip_meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def _identifiers(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = resource.get("identifier")
    items = value if isinstance(value, list) else [value]
    return [i for i in items if isinstance(i, Mapping)]


def _outcome(error: RecordError) -> str:
    return "8" if error.http_status in (401, 403) else "4"


def _references_to(resources: Iterable[Mapping[str, Any]], types: frozenset[str]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            reference = value.get("reference")
            if isinstance(reference, str) and reference.split("/", 1)[0] in types:
                found.add(reference.split("/", 1)[1])
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for resource in resources:
        walk(resource)
    return found


class RecordRepository:
    """The library the web layer calls; see the module docstring for its guarantees."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        signing_key: bytes,
        old_signing_keys: Sequence[bytes] = (),
        clock: Callable[[], datetime] = utc_now,
        base_url: str = FHIR_BASE,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        """``signing_key`` seals new notes; ``old_signing_keys`` only verify notes they sealed."""
        self._keys = SealKeys(signing_key, tuple(old_signing_keys))
        self._engine = engine
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer(engine), expire_on_commit=False)
        self._clock = clock
        self._new_id = new_id
        self.base_url = base_url.rstrip("/")
        store = Store(engine, clock=clock, new_id=new_id)
        audit = Audit(store)
        self._patients = Patients(store, audit)
        self._care = CareRelations(store, audit)
        self._drafts = Drafts(store, audit)
        self._signing = Signing(store, audit, self._keys)
        self._consult_end = ConsultEnd(store, audit)

    # -- patients and care -------------------------------------------------------------------------
    async def ensure_patient(self, facts: PatientFacts, ctx: AccessContext) -> str:
        return await self._patients.ensure(facts, ctx)

    async def patient_id(self, nss: str) -> str | None:
        return await self._patients.find(nss)

    async def grant_care(self, nss: str, staff_id: str, consult_id: str | None, ctx: AccessContext) -> None:
        await self._care.grant(nss, staff_id, consult_id, ctx)

    # -- audit -------------------------------------------------------------------------------------
    def _audit_row(
        self, ctx: AccessContext, attempt: _Attempt, *, outcome: str = "0", desc: str | None = None
    ) -> AuditRow:
        now = self._clock()
        patient_ref = {"reference": f"Patient/{attempt.patient_id}"} if attempt.patient_id else None
        entities = list(attempt.entities)
        if patient_ref and not any(t == "Patient" for t, _ in entities):
            entities.append(("Patient", patient_ref))
        patient_self = attempt.patient_id if not ctx.is_staff else None
        content = audit_event(
            event_id=self._new_id(),
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

    async def _audit_alone(
        self, ctx: AccessContext, attempt: _Attempt, outcome: str = "0", desc: str | None = None
    ) -> None:
        async with self._write.begin() as session:
            session.add(self._audit_row(ctx, attempt, outcome=outcome, desc=desc))

    async def _guard(self, ctx: AccessContext, attempt: _Attempt, body: Callable[[], Awaitable[T]]) -> T:
        try:
            return await body()
        except RecordError as error:
            log.info("record request refused: %s %s (%s)", attempt.interaction, error.code, ctx.kind.value)
            await self._audit_alone(ctx, attempt, outcome=_outcome(error), desc=error.code)
            raise

    # -- access ------------------------------------------------------------------------------------
    async def _patient_by_nss(self, session: AsyncSession, nss: str) -> str | None:
        return await session.scalar(
            select(IdentifierRow.resource_id).where(
                IdentifierRow.resource_type == "Patient",
                IdentifierRow.system == NSS_SYSTEM,
                IdentifierRow.value == nss,
            )
        )

    async def _require_care(self, session: AsyncSession, ctx: AccessContext, patient_id: str) -> None:
        if not ctx.is_staff:
            raise AccessDenied()
        found = await session.scalar(
            select(CareRelationRow.staff_id).where(
                CareRelationRow.patient_id == patient_id, CareRelationRow.staff_id == ctx.subject_id
            )
        )
        if found is None:
            raise AccessDenied()

    @staticmethod
    def _require_staff(ctx: AccessContext) -> None:
        if not ctx.is_staff:
            raise AccessDenied()

    # -- storing resources -------------------------------------------------------------------------
    async def _insert_ignore(self, session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        await session.execute(dialect.insert(table).on_conflict_do_nothing(), rows)

    async def _put_resources(
        self,
        session: AsyncSession,
        resources: Sequence[Resource],
        *,
        patient_id: str | None,
        bundle_id: str | None,
        now: datetime,
    ) -> None:
        """Create or update resources (references already resolved) and their identifier index rows."""
        ids = [str(r["id"]) for r in resources]
        existing = {
            row.id: row for row in await session.scalars(select(ResourceRow).where(ResourceRow.id.in_(ids)))
        }
        new_rows: list[dict[str, Any]] = []
        identifier_rows: list[dict[str, Any]] = []
        for resource in resources:
            rtype, rid = str(resource["resourceType"]), str(resource["id"])
            row = existing.get(rid)
            if row is not None and row.resource_type != rtype:
                raise InvalidRecord([f"{rtype}/{rid}: id already used by another resource type"])
            for ident in _identifiers(resource):
                if ident.get("system") in INDEXED_SYSTEMS:
                    identifier_rows.append(
                        {
                            "resource_type": rtype,
                            "system": ident["system"],
                            "value": str(ident["value"]),
                            "resource_id": rid,
                        }
                    )
            if row is not None and _strip_meta(row.content) == _strip_meta(resource):
                continue
            version = row.version_id + 1 if row is not None else 1
            stored = {**resource, "meta": {"versionId": str(version), "lastUpdated": now.isoformat()}}
            columns = self._index_columns(stored, patient_id)
            if row is None:
                new_rows.append(
                    {
                        "id": rid,
                        "resource_type": rtype,
                        "version_id": version,
                        "last_updated": now,
                        "bundle_id": bundle_id,
                        "content": stored,
                        **columns,
                    }
                )
            else:
                row.version_id, row.last_updated, row.content, row.bundle_id = version, now, stored, bundle_id
                for key, value in columns.items():
                    setattr(row, key, value)
        if new_rows:
            await self._insert_ignore(session, ResourceRow.__table__, new_rows)
        await session.flush()
        await self._insert_ignore(session, IdentifierRow.__table__, identifier_rows)

    @staticmethod
    def _index_columns(resource: Mapping[str, Any], patient_id: str | None) -> dict[str, Any]:
        rtype = resource["resourceType"]
        owner = resource["id"] if rtype == "Patient" else (None if rtype in MASTER_TYPES else patient_id)
        start = end = None
        if rtype == "Encounter":
            period = resource.get("period") or {}
            start, end = _parse_dt(period.get("start")), _parse_dt(period.get("end"))
        elif rtype in _DATE_FIELDS:
            start = _parse_dt(resource.get(_DATE_FIELDS[rtype]))
        return {
            "patient_id": owner,
            "encounter_id": _ref_id(resource.get("encounter"), "Encounter"),
            "date_start": start,
            "date_end": end,
        }

    # -- drafts ------------------------------------------------------------------------------------
    async def open_draft(
        self, *, consult_id: str, patient_nss: str, template: TemplateCode | str, ctx: AccessContext
    ) -> Note:
        return await self._drafts.open(
            consult_id=consult_id, patient_nss=patient_nss, template=template, ctx=ctx
        )

    async def get_note(self, note_id: str, ctx: AccessContext) -> Note:
        return await self._drafts.get(note_id, ctx)

    async def consult_notes(self, consult_id: str, ctx: AccessContext) -> list[Note]:
        return await self._drafts.of_consult(consult_id, ctx)

    async def save_draft(
        self, note_id: str, *, base_version: int, content: object, ctx: AccessContext
    ) -> Note:
        return await self._drafts.save(note_id, base_version=base_version, content=content, ctx=ctx)

    # -- signing ---------------------------------------------------------------------------------
    async def sign(self, request: SignRequest, ctx: AccessContext) -> SignResult:
        return await self._signing.sign(request, ctx)

    async def add_addendum(
        self, original_note_id: str, *, text: str, request_id: str, author: StaffFacts, ctx: AccessContext
    ) -> SignResult:
        return await self._signing.add_addendum(
            original_note_id, text=text, request_id=request_id, author=author, ctx=ctx
        )

    # -- the consult ends --------------------------------------------------------------------------
    async def follow_consult_end(self, consult_id: str) -> str | None:
        return await self._consult_end.follow(consult_id)

    # -- FHIR read -----------------------------------------------------------------------------------
    async def read(self, resource_type: str, resource_id: str, ctx: AccessContext) -> Resource:
        """``GET [type]/[id]``: the current version, for staff with a role in the patient's care."""
        attempt = _Attempt("read", "R")

        async def body() -> Resource:
            check_resource_id(resource_type, resource_id)
            attempt.entities.append((resource_type, {"reference": f"{resource_type}/{resource_id}"}))
            self._require_staff(ctx)
            async with self._read() as session:
                row: AuditRow | ResourceRow | None
                if resource_type == "AuditEvent":
                    row = await session.get(AuditRow, resource_id)
                    owner = row.patient_id if row else None
                else:
                    row = await session.get(ResourceRow, resource_id)
                    if row is not None and row.resource_type != resource_type:
                        row = None
                    owner = row.patient_id if row else None
                if row is None:
                    raise NotFound(f"{resource_type}/{resource_id}")
                if owner is not None:
                    attempt.patient_id = owner
                    await self._require_care(session, ctx, owner)
                elif resource_type == "AuditEvent":
                    raise AccessDenied()
                content = dict(row.content)
            await self._audit_alone(ctx, attempt)
            return content

        return await self._guard(ctx, attempt, body)

    async def search(
        self, resource_type: str, params: Sequence[tuple[str, str]], ctx: AccessContext
    ) -> Resource:
        """``GET [type]?params``: a searchset Bundle (see :mod:`records.fhir_api` for the parameters)."""
        query_text = "&".join(f"{k}={v}" for k, v in params)[:1000]
        attempt = _Attempt("search-type", "E", query=f"{resource_type}?{query_text}")

        async def body() -> Resource:
            query = parse_search(resource_type, params)
            self._require_staff(ctx)
            async with self._read() as session:
                resources = await self._search(session, query, ctx, attempt)
            await self._audit_alone(ctx, attempt)
            return searchset(resources, self.base_url)

        return await self._guard(ctx, attempt, body)

    async def _search(
        self, session: AsyncSession, query: SearchQuery, ctx: AccessContext, attempt: _Attempt
    ) -> list[Resource]:
        if query.resource_type == "Patient":
            conditions = [
                IdentifierRow.resource_type == "Patient",
                IdentifierRow.value == query.identifier_value,
            ]
            if query.identifier_system:
                conditions.append(IdentifierRow.system == query.identifier_system)
            patient_ids = list(
                await session.scalars(select(IdentifierRow.resource_id).where(*conditions).limit(2))
            )
            resources = []
            for patient_id in patient_ids:
                attempt.patient_id = patient_id
                await self._require_care(session, ctx, patient_id)
                row = await session.get(ResourceRow, patient_id)
                if row is not None:
                    resources.append(row.content)
            return resources
        assert query.reference_id is not None
        if query.resource_type == "Encounter":
            patient_id = query.reference_id
            exists = await session.get(ResourceRow, patient_id)
            if exists is None or exists.resource_type != "Patient":
                return []
            attempt.patient_id = patient_id
            await self._require_care(session, ctx, patient_id)
            stmt = (
                select(ResourceRow.content)
                .where(
                    ResourceRow.patient_id == patient_id,
                    ResourceRow.resource_type == "Encounter",
                    *(self._date_clause(d) for d in query.dates),
                )
                .order_by(ResourceRow.date_start.desc())
                .limit(query.count)
            )
            return list(await session.scalars(stmt))
        encounter = await session.get(ResourceRow, query.reference_id)
        if encounter is None or encounter.resource_type != "Encounter" or encounter.patient_id is None:
            return []
        attempt.patient_id = encounter.patient_id
        await self._require_care(session, ctx, encounter.patient_id)
        stmt = (
            select(ResourceRow.content)
            .where(ResourceRow.encounter_id == query.reference_id, ResourceRow.resource_type == "Composition")
            .order_by(ResourceRow.date_start)
            .limit(query.count)
        )
        return list(await session.scalars(stmt))

    @staticmethod
    def _date_clause(d: DateFilter) -> Any:
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

    async def _compartment(
        self, session: AsyncSession, patient_id: str, types: Sequence[str] | None
    ) -> list[Resource]:
        stmt = select(ResourceRow.content).where(ResourceRow.patient_id == patient_id)
        if types is not None:
            stmt = stmt.where(ResourceRow.resource_type.in_(types))
        stmt = stmt.order_by(ResourceRow.resource_type, ResourceRow.date_start)
        return list(await session.scalars(stmt))

    async def everything(self, patient_id: str, ctx: AccessContext) -> Resource:
        """``Patient/[id]/$everything``: the patient's compartment and the practitioners and units cited."""
        attempt = _Attempt("operation", "R")

        async def body() -> Resource:
            check_resource_id("Patient", patient_id)
            self._require_staff(ctx)
            async with self._read() as session:
                patient = await session.get(ResourceRow, patient_id)
                if patient is None or patient.resource_type != "Patient":
                    raise NotFound(f"Patient/{patient_id}")
                attempt.patient_id = patient_id
                await self._require_care(session, ctx, patient_id)
                resources = await self._compartment(session, patient_id, None)
                cited = _references_to(resources, MASTER_TYPES)
                if cited:
                    resources.extend(
                        await session.scalars(
                            select(ResourceRow.content).where(ResourceRow.id.in_(sorted(cited)))
                        )
                    )
            attempt.entities.append(("Patient", {"reference": f"Patient/{patient_id}"}))
            await self._audit_alone(ctx, attempt, desc="$everything")
            return searchset(resources, self.base_url)

        return await self._guard(ctx, attempt, body)

    async def patient_summary(self, ctx: AccessContext) -> Resource:
        """What a patient link may read: their own summary (notes, problems, plans, referrals) only."""
        attempt = _Attempt("operation", "R")

        async def body() -> Resource:
            if ctx.is_staff:
                raise AccessDenied()
            async with self._read() as session:
                patient_id = await self._patient_by_nss(session, clean_nss(ctx.subject_id))
                if patient_id is None:
                    raise UnknownPatient()
                attempt.patient_id = patient_id
                resources = await self._compartment(session, patient_id, SUMMARY_TYPES)
            await self._audit_alone(ctx, attempt, desc="summary")
            return searchset(resources, self.base_url)

        return await self._guard(ctx, attempt, body)

    async def audit_trail(self, patient_id: str, ctx: AccessContext, limit: int = 200) -> list[Resource]:
        """The patient's ``AuditEvent``\\ s, newest first (reading them is audited too)."""
        attempt = _Attempt("search-type", "E", query=f"AuditEvent?patient={patient_id[:64]}")

        async def body() -> list[Resource]:
            check_resource_id("Patient", patient_id)
            self._require_staff(ctx)
            async with self._read() as session:
                attempt.patient_id = patient_id
                await self._require_care(session, ctx, patient_id)
                rows = list(
                    await session.scalars(
                        select(AuditRow.content)
                        .where(AuditRow.patient_id == patient_id)
                        .order_by(AuditRow.recorded.desc())
                        .limit(max(1, min(limit, 1000)))
                    )
                )
            await self._audit_alone(ctx, attempt)
            return rows

        return await self._guard(ctx, attempt, body)

    async def check_seal(self, note_id: str, ctx: AccessContext) -> SealCheck:
        """Whether a signed note is still exactly what was sealed, with the keys this server holds.

        Reads the note and the seal in its stored Bundle's ``Provenance`` (a note without a Bundle, a
        draft, is not found); like any read of the record, it is audited.
        """
        attempt = _Attempt("read", "R", entities=[note_entity(note_id[:64])])

        async def body() -> SealCheck:
            self._require_staff(ctx)
            async with self._read() as session:
                row = await session.get(NoteRow, note_id)
                if row is None:
                    raise NotFound("nota / note")
                attempt.patient_id = row.patient_id
                await self._require_care(session, ctx, row.patient_id)
                bundle = await session.scalar(select(BundleRow).where(BundleRow.note_id == note_id))
                if bundle is None:
                    raise NotFound("nota firmada / signed note")
                note, sealed = to_note(row), _provenance_seal(bundle.content)
            await self._audit_alone(ctx, attempt)
            return check(note, self._keys, sealed)

        return await self._guard(ctx, attempt, body)

    async def stored_bundle(self, note_id: str, ctx: AccessContext) -> Resource:
        """The transaction Bundle exactly as it was validated and stored when the note was signed."""
        attempt = _Attempt("read", "R", entities=[note_entity(note_id[:64])])

        async def body() -> Resource:
            self._require_staff(ctx)
            async with self._read() as session:
                row = await session.scalar(select(BundleRow).where(BundleRow.note_id == note_id))
                if row is None:
                    raise NotFound("Bundle")
                attempt.patient_id = row.patient_id
                await self._require_care(session, ctx, row.patient_id)
                content = dict(row.content)
            await self._audit_alone(ctx, attempt)
            return content

        return await self._guard(ctx, attempt, body)
