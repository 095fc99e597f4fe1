"""A signed note, its consult's session log and the facts about who and where → one FHIR transaction Bundle.

Pure and deterministic: the ids of the resources a note produces are UUIDv5 of the note (or of the
consult, for what belongs to the consult as a whole: its ``Encounter``, ``Consent``\\ s and session
``AuditEvent``\\ s), so building the same signed note twice gives the same Bundle, which is what makes
signing idempotent all the way down. Patient, practitioner and unit ids are resolved by the store
(from NSS, cédula and CLUES) before building.

Every entry is a ``PUT {type}/{id}`` with ``fullUrl`` ``urn:uuid:{id}``; references between entries use
the ``urn:uuid`` form and the store rewrites them to ``{type}/{id}`` when it indexes the resources.
Resources outside the Bundle (the amended Composition of an addendum) are referenced as ``{type}/{id}``.

This module decides which resources a note makes and in which order; each kind is written by its own
module (records/bundle_*.py) on a shared :class:`~records.bundle_context.BundleContext`.
"""

from __future__ import annotations

from records import call_quality
from records.bundle_audit import session_audits, signing_audit
from records.bundle_call_quality import call_quality_section
from records.bundle_care import care_plan, conditions, referral
from records.bundle_chat import chat_section
from records.bundle_composition import composition
from records.bundle_consent import consents
from records.bundle_context import AmendedNote, BundleContext, ResourceIds, SignedConsult
from records.bundle_encounter import add_encounter
from records.bundle_media import photos_section
from records.bundle_observations import screening, vitals
from records.bundle_parties import add_patient, add_staff
from records.bundle_provenance import provenance
from records.bundle_refs import Resource, bundle_id, derived_id, stamp
from records.facts import StaffFacts
from records.notes import Note
from records.templates import TemplateCode

__all__ = ["AmendedNote", "ResourceIds", "SignedConsult", "build_bundle", "staff_ids"]


def _reason(note: Note) -> Resource | None:
    content = note.content
    match note.template:
        case TemplateCode.FIRST_CONSULT:
            text = content.get("reason", {}).get("reason")
        case TemplateCode.INTER_UNIT:
            text = content.get("question", {}).get("question")
        case TemplateCode.FOLLOW_UP:
            text = "Consulta de seguimiento / follow-up consult"
        case _:
            text = None
    return {"text": str(text)} if text else None


def _section_entries(b: BundleContext) -> dict[str, list[Resource]]:
    """The resources each section of a consult's note produces, by section code, in Bundle order."""
    content = b.note.content
    entries: dict[str, list[Resource]] = {}
    if "vitals" in content:
        entries["vitals"] = vitals(b, content["vitals"])
    if "risk-screening" in content:
        section = b.tpl.section("risk-screening")
        assert section is not None
        entries["risk-screening"] = screening(b, section, content["risk-screening"])
    chronic = content.get("chronic-conditions", {}).get("conditions")
    if isinstance(chronic, tuple):
        entries["chronic-conditions"] = conditions(b, "chronic", chronic)
    problems = content.get("assessment", {}).get("problems")
    problem_refs = conditions(b, "problem", problems) if isinstance(problems, tuple) else []
    if problem_refs:
        entries["assessment"] = problem_refs
    plan_section = b.tpl.section("follow-up-plan")
    if plan_section is not None and "follow-up-plan" in content:
        entries["follow-up-plan"] = [care_plan(b, plan_section, content["follow-up-plan"], problem_refs)]
    referral_section = b.tpl.section("referral")
    referral_fields = content.get("referral", {})
    if referral_section is not None and referral_fields.get("needed") is True:
        entries["referral"] = [referral(b, referral_section, referral_fields, problem_refs)]
    return entries


def build_bundle(consult: SignedConsult) -> Resource:
    """The transaction Bundle for one signed note (a consult's note or an addendum)."""
    b = BundleContext(consult)
    note = consult.note
    targets: list[Resource] = []
    section_entries: dict[str, list[Resource]] = {}
    extra_sections: list[Resource] = []
    add_staff(b)
    if consult.amended is None:
        add_patient(b)
        add_encounter(b, _reason(note))
        targets.append(b.encounter_ref)
        section_entries = _section_entries(b)
        for refs in section_entries.values():
            targets.extend(refs)
        if consult.consent is not None:
            targets.extend(consents(b, consult.consent))
        quality = call_quality.call_quality_report(consult.events)
        if quality is not None:  # the consult ended before signing: its call's quality
            quality_refs, quality_section = call_quality_section(b, quality)
            targets.extend(quality_refs)
            extra_sections.append(quality_section)
        # What the host kept of the call: the patient's photos, the chat transcript.
        kept = [photos_section(b, consult.photos)] if consult.photos else []
        kept += [chat_section(b, consult.chat)] if consult.chat else []
        for refs, section in kept:
            targets.extend(refs)
            extra_sections.append(section)
    note_ref = composition(b, section_entries, extra_sections)
    targets.insert(0, note_ref)
    provenance(b, targets)
    signing_audit(b, note_ref)
    if consult.amended is None:
        session_audits(b)
    return {
        "resourceType": "Bundle",
        "id": bundle_id(note.note_id),
        "type": "transaction",
        "timestamp": stamp(b.signed_at),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{resource['id']}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource_type}/{resource['id']}"},
            }
            for resource_type, resource in b.entries
        ],
    }


def staff_ids(author: StaffFacts, patient_id: str) -> ResourceIds:
    """Deterministic ids from cédula and CLUES: two signs by a new nurse at once create one Practitioner."""
    practitioner = derived_id(f"cedula:{author.licence}", "Practitioner")
    organization = derived_id(f"clues:{author.unit.clues}", "Organization")
    role = derived_id(
        f"cedula:{author.licence}/clues:{author.unit.clues}/{author.role.value}", "PractitionerRole"
    )
    return ResourceIds(patient_id, practitioner, role, organization)
