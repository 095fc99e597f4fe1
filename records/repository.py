"""The record store: drafts, signing, addenda, FHIR read and search, and the audit of every access.

All methods are async and take an :class:`AccessContext` (who, from where). Each write is one
database transaction that also holds its ``AuditEvent``; each read is followed by the ``AuditEvent``
of that read. A refused request (bad input, no access, stale version, signed note) raises a
:class:`RecordError`, changes no clinical data, and still leaves an ``AuditEvent`` with a failure
outcome, because refused attempts are what an auditor looks for.

:class:`RecordRepository` is the one object the web layer is given; it holds no rules of its own
and hands each call to the part that owns the concept:

- :mod:`records.patients`: the patient register (a ``Patient`` per NSS);
- :mod:`records.care`: care relations, and the check every read and write of a patient makes;
- :mod:`records.drafts`: drafts, opened, read, listed and saved with a compare-and-set on the version;
- :mod:`records.signing`: signing (idempotent by request id) and addenda;
- :mod:`records.consult_end`: the Encounter finished once the consult's log is archived;
- :mod:`records.fhir_reads`: FHIR read and search, ``$everything``, the patient's summary, the audit trail;
- :mod:`records.signed_bundles`: a signed note's stored Bundle, and the check of its seal.

They share :class:`records.store.Store` (sessions, clock, ids) and go in through
:class:`records.audit.Audit`, which leaves the ``AuditEvent`` of every call, refused ones too.
Nothing here logs clinical content; the parts log ids and error codes only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from records.access import AccessContext
from records.audit import Audit, Work
from records.care import CareRelations
from records.consult_end import ConsultEnd
from records.drafts import Drafts
from records.facts import PatientFacts, StaffFacts
from records.fhir_reads import FhirReads
from records.identifiers import FHIR_BASE
from records.notes import Note
from records.patients import Patients
from records.seal import SealCheck, SealKeys
from records.signed_bundles import SignedBundles
from records.signing import Signing, SignRequest, SignResult
from records.store import Resource, Store
from records.templates import TemplateCode

__all__ = ["RecordRepository", "SignRequest", "SignResult"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RecordRepository:
    """The library the web layer calls; see the module docstring for its guarantees and its parts."""

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
        keys = SealKeys(signing_key, tuple(old_signing_keys))
        self.base_url = base_url.rstrip("/")
        store = Store(engine, clock=clock, new_id=new_id)
        audit = Audit(store)
        self._patients = Patients(store, audit)
        self._care = CareRelations(store, audit)
        self._drafts = Drafts(store, audit)
        self._signing = Signing(store, audit, keys)
        self._consult_end = ConsultEnd(store, audit)
        self._reads = FhirReads(audit, self.base_url)
        self._bundles = SignedBundles(audit, keys)

    # -- patients and care (records.patients, records.care) ------------------------------------------
    async def ensure_patient(
        self, facts: PatientFacts, ctx: AccessContext, then: Work[None] | None = None
    ) -> str:
        return await self._patients.ensure(facts, ctx, then)

    async def patient_id(self, nss: str) -> str | None:
        return await self._patients.find(nss)

    async def grant_care(self, nss: str, staff_id: str, consult_id: str | None, ctx: AccessContext) -> None:
        await self._care.grant(nss, staff_id, consult_id, ctx)

    # -- drafts (records.drafts) -----------------------------------------------------------------------
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

    # -- signing and addenda (records.signing) ---------------------------------------------------------
    async def sign(self, request: SignRequest, ctx: AccessContext) -> SignResult:
        return await self._signing.sign(request, ctx)

    async def add_addendum(
        self, original_note_id: str, *, text: str, request_id: str, author: StaffFacts, ctx: AccessContext
    ) -> SignResult:
        return await self._signing.add_addendum(
            original_note_id, text=text, request_id=request_id, author=author, ctx=ctx
        )

    # -- the consult ends (records.consult_end) --------------------------------------------------------
    async def follow_consult_end(self, consult_id: str) -> str | None:
        return await self._consult_end.follow(consult_id)

    # -- FHIR read and search (records.fhir_reads) -----------------------------------------------------
    async def read(self, resource_type: str, resource_id: str, ctx: AccessContext) -> Resource:
        return await self._reads.read(resource_type, resource_id, ctx)

    async def search(
        self, resource_type: str, params: Sequence[tuple[str, str]], ctx: AccessContext
    ) -> Resource:
        return await self._reads.search(resource_type, params, ctx)

    async def everything(self, patient_id: str, ctx: AccessContext) -> Resource:
        return await self._reads.everything(patient_id, ctx)

    async def patient_summary(self, ctx: AccessContext) -> Resource:
        return await self._reads.patient_summary(ctx)

    async def audit_trail(self, patient_id: str, ctx: AccessContext, limit: int = 200) -> list[Resource]:
        return await self._reads.audit_trail(patient_id, ctx, limit)

    # -- signed Bundles and seals (records.signed_bundles) ---------------------------------------------
    async def check_seal(self, note_id: str, ctx: AccessContext) -> SealCheck:
        return await self._bundles.check_seal(note_id, ctx)

    async def stored_bundle(self, note_id: str, ctx: AccessContext) -> Resource:
        return await self._bundles.stored(note_id, ctx)
