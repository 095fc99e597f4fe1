"""Who a note is about and who signed it, where: the ``Patient``, ``Organization``, ``Practitioner`` and
``PractitionerRole`` of a Bundle (master data, their ids resolved by the store from NSS, cédula, CLUES)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, concept
from records.facts import PatientFacts, Sex
from records.identifiers import CEDULA_SYSTEM, CLUES_SYSTEM, CURP_SYSTEM, NSS_SYSTEM, STAFF_SYSTEM, identifier


def add_patient(ctx: BundleContext) -> None:
    ctx.add(patient_resource(ctx.c.patient, ctx.ids.patient))


def add_staff(ctx: BundleContext) -> None:
    a = ctx.c.author
    cedula = identifier(CEDULA_SYSTEM, a.licence, "LN", "Cédula profesional")
    ctx.add(
        {
            "resourceType": "Organization",
            "id": ctx.ids.organization,
            "identifier": [identifier(CLUES_SYSTEM, a.unit.clues, "FI", "CLUES")],
            "active": True,
            "name": a.unit.name,
        }
    )
    ctx.add(
        {
            "resourceType": "Practitioner",
            "id": ctx.ids.practitioner,
            "identifier": [cedula, {"use": "secondary", "system": STAFF_SYSTEM, "value": a.staff_id}],
            "active": True,
            "name": [{"use": "official", "text": a.full_name}],
            "qualification": [{"identifier": [cedula], "code": {"text": a.profession}}],
        }
    )
    ctx.add(
        {
            "resourceType": "PractitionerRole",
            "id": ctx.ids.practitioner_role,
            "active": True,
            "practitioner": ctx.practitioner_ref,
            "organization": ctx.org_ref,
            "code": [concept(codes.PRACTITIONER_ROLE, a.role.value)],
        }
    )


def patient_resource(p: PatientFacts, patient_id: str) -> Resource:
    """The ``Patient``: NSS (v2-0203 ``SS``) and, when known, CURP (``NI``) as identifiers."""
    identifiers = [identifier(NSS_SYSTEM, p.nss, "SS", "NSS")]
    if p.curp:
        identifiers.append(identifier(CURP_SYSTEM, p.curp, "NI", "CURP"))
    resource: Resource = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": identifiers,
        "active": True,
        "name": [{"use": "official", "text": p.full_name}],
        "gender": p.sex.value,
        "birthDate": p.birth_date.isoformat(),
    }
    if p.phone:
        resource["telecom"] = [{"system": "phone", "value": p.phone, "use": "mobile"}]
    return resource


def patient_facts(resource: Mapping[str, object]) -> PatientFacts:
    """The facts back from a stored ``Patient`` (the inverse of :func:`patient_resource`)."""
    values = {
        str(i.get("system")): str(i.get("value"))
        for i in resource.get("identifier", []) or []  # type: ignore[attr-defined]
        if isinstance(i, Mapping)
    }
    names = resource.get("name") or [{}]
    phones = resource.get("telecom") or []
    return PatientFacts(
        nss=values[NSS_SYSTEM],
        full_name=str(names[0].get("text", "")),  # type: ignore[index]
        birth_date=date.fromisoformat(str(resource["birthDate"])),
        curp=values.get(CURP_SYSTEM),
        sex=Sex(str(resource.get("gender", "unknown"))),
        phone=str(phones[0]["value"]) if phones else None,  # type: ignore[index]
    )
