"""What the note decides for the patient's care: ``Condition``\\ s, the follow-up ``CarePlan`` and the
referral's ``ServiceRequest``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, concept, stamp
from records.identifiers import CLUES_SYSTEM
from records.notes import FieldValue
from records.templates import SectionSpec


def conditions(ctx: BundleContext, kind: str, texts: Sequence[str]) -> list[Resource]:
    category, status = (
        ("problem-list-item", "unconfirmed") if kind == "chronic" else ("encounter-diagnosis", "provisional")
    )
    return [
        ctx.add(
            {
                "resourceType": "Condition",
                "id": ctx.own_id(f"Condition/{kind}/{index}"),
                "clinicalStatus": concept(codes.CONDITION_CLINICAL, "active"),
                "verificationStatus": concept(codes.CONDITION_VERIFICATION, status),
                "category": [concept(codes.CONDITION_CATEGORY, category)],
                "code": {"text": text},
                "subject": ctx.patient_ref,
                "encounter": ctx.encounter_ref,
                "recordedDate": stamp(ctx.signed_at),
                "recorder": ctx.author_ref,
                "asserter": ctx.patient_ref if kind == "chronic" else ctx.author_ref,
            }
        )
        for index, text in enumerate(texts)
    ]


def care_plan(
    ctx: BundleContext, section: SectionSpec, fields: Mapping[str, FieldValue], addresses: list[Resource]
) -> Resource:
    resource: Resource = {
        "resourceType": "CarePlan",
        "id": ctx.own_id("CarePlan"),
        "status": "active",
        "intent": "plan",
        "title": section.title_es,
        "description": str(fields.get("plan", "")),
        "subject": ctx.patient_ref,
        "encounter": ctx.encounter_ref,
        "created": stamp(ctx.signed_at),
        "author": ctx.author_ref,
        "period": {"start": stamp(ctx.signed_at)},
    }
    if addresses:
        resource["addresses"] = addresses
    next_contact = fields.get("next_contact")
    if isinstance(next_contact, str):
        modality = section.field("modality")
        choice = modality.choice(str(fields.get("modality"))) if modality else None
        resource["activity"] = [
            {
                "detail": {
                    "kind": "Appointment",
                    "code": {"text": choice.es if choice else "Seguimiento"},
                    "status": "scheduled",
                    "scheduledString": next_contact,
                    "description": choice.es if choice else "Próximo contacto",
                }
            }
        ]
    return ctx.add(resource)


def referral(
    ctx: BundleContext, section: SectionSpec, fields: Mapping[str, FieldValue], reasons: list[Resource]
) -> Resource:
    kind_spec = section.field("kind")
    kind = str(fields["kind"])
    choice = kind_spec.choice(kind) if kind_spec else None
    performer: Resource = {"type": "Organization", "display": str(fields["destination"])}
    if "destination_clues" in fields:
        performer["identifier"] = {"system": CLUES_SYSTEM, "value": str(fields["destination_clues"])}
    notes = [
        {"text": f"{label}: {fields[key]}"}
        for key, label in (
            ("diagnostic_impression", "Impresión diagnóstica"),
            ("treatment_given", "Terapéutica empleada"),
        )
        if key in fields
    ]
    resource: Resource = {
        "resourceType": "ServiceRequest",
        "id": ctx.own_id("ServiceRequest"),
        "status": "active",
        "intent": "order",
        "category": [concept(codes.SNOMED, *codes.PATIENT_REFERRAL)],
        "code": concept(
            codes.REFERRAL_KIND, kind, choice.en if choice else None, choice.es if choice else None
        ),
        "priority": str(fields["urgency"]),
        "subject": ctx.patient_ref,
        "encounter": ctx.encounter_ref,
        "authoredOn": stamp(ctx.signed_at),
        "requester": ctx.author_ref,
        "performer": [performer],
        "reasonCode": [{"text": str(fields["reason"])}],
    }
    if "specialty" in fields:
        resource["performerType"] = {"text": str(fields["specialty"])}
    if reasons:
        resource["reasonReference"] = reasons
    if notes:
        resource["note"] = notes
    return ctx.add(resource)
