"""Is this Bundle fit to store? Structure by the ``fhir.resources`` R4B models, meaning by our rules.

The models check structure and data types (R4B equals R4 for every resource we produce) but not
codes or invariants: an Encounter with ``status: "zzz"`` or a period that ends before it starts parses
fine. So after parsing each entry we check what the record relies on: required codes come from
their value sets, the encounter class is ``VR``, periods run forward, references point at the right
resource types and resolve inside the Bundle, identifiers are well formed, narrative is inert XHTML,
and no string carries control characters.

Narrative is checked by parsing it, not by looking for suspicious words in it: the clinical text inside
is escaped, so ``&lt;img onerror=…&gt;`` or ``Ondansetrón = 4 mg`` are text, and only real elements
and attributes count. A ``div`` is inert when it is well-formed XML in the XHTML namespace, declares
no DTD or entities, uses only the basic formatting elements FHIR allows (no scripts, forms, objects or
images), no event-handler attributes and no script URLs, and holds some text (txt-1, txt-2).

Issues are short strings with a location and never the offending value, so they are safe to log.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from typing import Any
from xml.parsers import expat

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from records.errors import InvalidFacts
from records.identifiers import (
    CEDULA_SYSTEM,
    CLUES_SYSTEM,
    CURP_SYSTEM,
    NSS_SYSTEM,
    clean_cedula,
    clean_clues,
    clean_curp,
    clean_nss,
)

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_XHTML = "http://www.w3.org/1999/xhtml"
_DIV_START = f'<div xmlns="{_XHTML}">'
_NARRATIVE_ELEMENTS = frozenset(
    "div p br span b i em strong u sub sup small big tt code pre blockquote q cite abbr acronym dfn kbd "
    "samp var del ins hr h1 h2 h3 h4 h5 h6 ul ol li dl dt dd table caption colgroup col thead tbody "
    "tfoot tr th td a".split()
)
_NARRATIVE_ATTRIBUTES = frozenset(
    "class id lang title style dir colspan rowspan span scope abbr headers align valign width "
    "border cellpadding cellspacing summary name href".split()
)
_SCRIPT_URL = re.compile(r"\s*(javascript|vbscript|data)\s*:", re.I)
_ANY = frozenset({"*"})

_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Encounter", "status"): frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Composition", "status"): frozenset({"preliminary", "final", "amended", "entered-in-error"}),
    ("Composition", "confidentiality"): frozenset({"U", "L", "M", "N", "R", "V"}),
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("CarePlan", "status"): frozenset(
        {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
    ),
    ("CarePlan", "intent"): frozenset({"proposal", "plan", "order", "option"}),
    ("ServiceRequest", "status"): frozenset(
        {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
    ),
    ("ServiceRequest", "intent"): frozenset(
        {
            "proposal",
            "plan",
            "directive",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    ("ServiceRequest", "priority"): frozenset({"routine", "urgent", "asap", "stat"}),
    ("Consent", "status"): frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
    ("AuditEvent", "action"): frozenset({"C", "R", "U", "D", "E"}),
    ("AuditEvent", "outcome"): frozenset({"0", "4", "8", "12"}),
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
}
_CODED: dict[tuple[str, str], frozenset[str]] = {
    ("Condition", "clinicalStatus"): frozenset(
        {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
    ),
    ("Condition", "verificationStatus"): frozenset(
        {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
    ),
}
_OBSERVATION_CATEGORIES = frozenset(
    {
        "social-history",
        "vital-signs",
        "imaging",
        "laboratory",
        "procedure",
        "survey",
        "exam",
        "therapy",
        "activity",
    }
)
_ACTORS = frozenset(
    {"Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson", "Device", "CareTeam"}
)

_REFERENCES: dict[str, dict[str, frozenset[str]]] = {
    "PractitionerRole": {
        "practitioner": frozenset({"Practitioner"}),
        "organization": frozenset({"Organization"}),
    },
    "Encounter": {
        "subject": frozenset({"Patient", "Group"}),
        "participant.individual": frozenset({"Practitioner", "PractitionerRole", "RelatedPerson"}),
        "serviceProvider": frozenset({"Organization"}),
    },
    "Composition": {
        "subject": _ANY,
        "encounter": frozenset({"Encounter"}),
        "author": frozenset(
            {"Practitioner", "PractitionerRole", "Device", "Patient", "RelatedPerson", "Organization"}
        ),
        "attester.party": frozenset(
            {"Patient", "RelatedPerson", "Practitioner", "PractitionerRole", "Organization"}
        ),
        "custodian": frozenset({"Organization"}),
        "relatesTo.targetReference": frozenset({"Composition"}),
        "section.entry": _ANY,
    },
    "Observation": {
        "subject": frozenset({"Patient", "Group", "Device", "Location"}),
        "encounter": frozenset({"Encounter"}),
        "performer": _ACTORS,
        "derivedFrom": frozenset(
            {
                "DocumentReference",
                "ImagingStudy",
                "Media",
                "QuestionnaireResponse",
                "Observation",
                "MolecularSequence",
            }
        ),
    },
    "Condition": {
        "subject": frozenset({"Patient", "Group"}),
        "encounter": frozenset({"Encounter"}),
        "recorder": frozenset({"Practitioner", "PractitionerRole", "Patient", "RelatedPerson"}),
        "asserter": frozenset({"Practitioner", "PractitionerRole", "Patient", "RelatedPerson"}),
    },
    "CarePlan": {
        "subject": frozenset({"Patient", "Group"}),
        "encounter": frozenset({"Encounter"}),
        "author": _ACTORS,
        "addresses": frozenset({"Condition"}),
    },
    "ServiceRequest": {
        "subject": frozenset({"Patient", "Group", "Location", "Device"}),
        "encounter": frozenset({"Encounter"}),
        "requester": frozenset(
            {"Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson", "Device"}
        ),
        "performer": _ACTORS | frozenset({"HealthcareService"}),
        "reasonReference": frozenset({"Condition", "Observation", "DiagnosticReport", "DocumentReference"}),
    },
    "Consent": {"patient": frozenset({"Patient"}), "organization": frozenset({"Organization"})},
    "Provenance": {
        "target": _ANY,
        "agent.who": _ACTORS - {"CareTeam"},
        "agent.onBehalfOf": _ACTORS - {"CareTeam"},
        "signature.who": _ACTORS - {"CareTeam"},
        "entity.what": _ANY,
    },
    "AuditEvent": {"agent.who": _ACTORS - {"CareTeam"}, "entity.what": _ANY},
}


@cache
def _model(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def _walk(value: object, path: str) -> Iterator[tuple[str, object]]:
    yield path, value
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _walk(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, f"{path}[{index}]")


def _at_path(value: object, dotted: str) -> Iterator[object]:
    """Every value at ``a.b.c``, fanning out through lists."""
    items: list[object] = [value]
    for key in dotted.split("."):
        next_items: list[object] = []
        for item in items:
            child = item.get(key) if isinstance(item, Mapping) else None
            if isinstance(child, list):
                next_items.extend(child)
            elif child is not None:
                next_items.append(child)
        items = next_items
    return iter(items)


def _target_type(reference: Mapping[str, object], local_types: Mapping[str, str]) -> str | None:
    literal = reference.get("reference")
    if isinstance(literal, str):
        if literal.startswith("urn:uuid:"):
            return local_types.get(literal, "")
        parts = literal.split("/")
        return parts[-2] if len(parts) >= 2 else ""
    declared = reference.get("type")
    return declared if isinstance(declared, str) else None


def _structure(resource: Mapping[str, object], where: str) -> list[str]:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [f"{where}: resourceType missing"]
    try:
        model = _model(resource_type)
    except (KeyError, ValueError):
        return [f"{where}: unknown resourceType"]
    try:
        model.model_validate(resource)
    except ValidationError as error:
        return [
            f"{where}.{'.'.join(str(p) for p in e['loc'])}: {e['type']}"
            for e in error.errors(include_input=False)
        ][:20]
    return []


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _identifier_rules(resource: Mapping[str, object], where: str) -> list[str]:
    checks = {
        NSS_SYSTEM: clean_nss,
        CURP_SYSTEM: clean_curp,
        CEDULA_SYSTEM: clean_cedula,
        CLUES_SYSTEM: clean_clues,
    }
    issues = []
    systems = {i.get("system") for i in _at_path(resource, "identifier") if isinstance(i, Mapping)}
    # Every Identifier of ours, also inside references (a referral's receiving unit by its CLUES).
    for path, ident in _walk(resource, where):
        if not isinstance(ident, Mapping) or "code" in ident:  # a Coding has a system too
            continue
        system = ident.get("system")
        check = checks.get(system) if isinstance(system, str) else None
        if check is None:
            continue
        value = ident.get("value")
        try:
            if not isinstance(value, str) or check(value) != value:
                issues.append(f"{path}: not normalized for {system}")
        except InvalidFacts:
            issues.append(f"{path}: invalid value for {system}")
    required = {"Patient": NSS_SYSTEM, "Practitioner": CEDULA_SYSTEM, "Organization": CLUES_SYSTEM}
    need = required.get(str(resource.get("resourceType")))
    if need and need not in systems:
        issues.append(f"{where}.identifier: {need} is required")
    return issues


class _NotInert(Exception):
    pass


def _inert_xhtml(div: str) -> bool:
    """Is ``div`` a FHIR narrative that shows text and can run nothing? (See the module docstring.)"""
    if not div.startswith(_DIV_START) or not div.endswith("</div>"):
        return False
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0
    text = False

    def refuse(*_: object) -> None:
        raise _NotInert

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        namespace, _, element = name.rpartition(" ")
        if namespace != _XHTML or element not in _NARRATIVE_ELEMENTS or (depth == 0 and element != "div"):
            raise _NotInert
        for attribute, value in attributes.items():
            local = attribute.rpartition(" ")[2]
            if local not in _NARRATIVE_ATTRIBUTES or (local == "href" and _SCRIPT_URL.match(value)):
                raise _NotInert
        depth += 1

    def end(_: str) -> None:
        nonlocal depth
        depth -= 1

    def characters(data: str) -> None:
        nonlocal text
        text = text or not data.isspace()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ProcessingInstructionHandler = refuse
    parser.CommentHandler = refuse
    try:
        parser.Parse(div, True)
    except (_NotInert, expat.ExpatError):
        return False
    return text


def _rules(resource: Mapping[str, object], where: str, local_types: Mapping[str, str]) -> list[str]:
    rtype = str(resource.get("resourceType"))
    issues: list[str] = []
    rid = resource.get("id")
    if not isinstance(rid, str) or not _ID.fullmatch(rid):
        issues.append(f"{where}.id: missing or malformed")
    for path, value in _walk(resource, where):
        if isinstance(value, str) and _CONTROL.search(value):
            issues.append(f"{path}: control character")
        if path.endswith(".div") and isinstance(value, str) and not _inert_xhtml(value):
            issues.append(f"{path}: narrative must be inert XHTML")
    for (type_name, key), allowed in _CODES.items():
        if type_name == rtype and key in resource and resource[key] not in allowed:
            issues.append(f"{where}.{key}: code not in its value set")
    for (type_name, key), allowed in _CODED.items():
        if type_name == rtype:
            codes_found = [
                c.get("code") for c in _at_path(resource, f"{key}.coding") if isinstance(c, Mapping)
            ]
            if key in resource and not any(code in allowed for code in codes_found):
                issues.append(f"{where}.{key}: code not in its value set")
    for path, allowed in _REFERENCES.get(rtype, {}).items():
        for reference in _at_path(resource, path):
            if not isinstance(reference, Mapping):
                continue
            target = _target_type(reference, local_types)
            if target == "":
                issues.append(f"{where}.{path}: reference does not resolve")
            elif target is not None and allowed is not _ANY and target not in allowed:
                issues.append(f"{where}.{path}: must reference {'|'.join(sorted(allowed))}, not {target}")
    issues.extend(_identifier_rules(resource, where))
    issues.extend(_type_rules(rtype, resource, where))
    return issues


def _type_rules(rtype: str, resource: Mapping[str, Any], where: str) -> list[str]:
    issues: list[str] = []
    if rtype == "Encounter":
        klass = resource.get("class") or {}
        if (
            klass.get("system") != "http://terminology.hl7.org/CodeSystem/v3-ActCode"
            or klass.get("code") != "VR"
        ):
            issues.append(f"{where}.class: a teleconsultation is class VR (virtual)")
        period = resource.get("period") or {}
        start, end = _datetime(period.get("start")), _datetime(period.get("end"))
        if start is None:
            issues.append(f"{where}.period.start: required")
        if start and end and end < start:
            issues.append(f"{where}.period: end is before start")
        if resource.get("status") == "finished" and end is None:
            issues.append(f"{where}.period.end: a finished encounter has an end")
        for index, participant in enumerate(resource.get("participant") or []):
            p = participant.get("period") or {}
            ps, pe = _datetime(p.get("start")), _datetime(p.get("end"))
            if ps and pe and pe < ps:
                issues.append(f"{where}.participant[{index}].period: end is before start")
    elif rtype == "Composition":
        if resource.get("status") == "final" and not any(
            a.get("mode") == "legal" for a in resource.get("attester") or []
        ):
            issues.append(f"{where}.attester: a final note has a legal attester (its signer)")
        for index, section in enumerate(resource.get("section") or []):
            if not (section.get("text") or section.get("entry") or section.get("section")):
                issues.append(f"{where}.section[{index}]: needs text, entries or sections (cmp-1)")
    elif rtype == "Observation":
        for cat in _at_path(resource, "category.coding"):
            if isinstance(cat, Mapping) and cat.get("code") not in _OBSERVATION_CATEGORIES:
                issues.append(f"{where}.category: code not in its value set")
        if not any(k.startswith("value") for k in resource) and not resource.get("component"):
            issues.append(f"{where}: needs a value or components")
    elif rtype == "Consent":
        if not (resource.get("policy") or resource.get("policyRule")):
            issues.append(f"{where}: needs policy or policyRule (ppc-1)")
        scope = [c.get("code") for c in _at_path(resource, "scope.coding") if isinstance(c, Mapping)]
        if any(s in ("patient-privacy", "treatment") for s in scope) and not resource.get("patient"):
            issues.append(f"{where}.patient: required for privacy and treatment consents (ppc-2, ppc-5)")
    elif rtype == "Provenance":
        if not resource.get("target"):
            issues.append(f"{where}.target: required")
        for index, signature in enumerate(resource.get("signature") or []):
            try:
                base64.b64decode(str(signature.get("data", "")), validate=True)
            except (binascii.Error, ValueError):
                issues.append(f"{where}.signature[{index}].data: not base64")
    return issues


def validate_resource(
    resource: Mapping[str, object], local_types: Mapping[str, str] | None = None
) -> list[str]:
    where = str(resource.get("resourceType", "Resource"))
    issues = _structure(resource, where)
    if not issues:
        issues = _rules(resource, where, local_types or {})
    return issues


def validate_bundle(bundle: Mapping[str, object]) -> list[str]:
    """Every problem found in a transaction Bundle; empty when it may be stored."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        return ["Bundle: must be a transaction Bundle"]
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        return ["Bundle.entry: empty"]
    issues: list[str] = []
    local_types: dict[str, str] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        full_url = entry.get("fullUrl") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or not isinstance(full_url, str):
            issues.append(f"Bundle.entry[{index}]: needs fullUrl and resource")
            continue
        if full_url in local_types:
            issues.append(f"Bundle.entry[{index}].fullUrl: duplicate (bdl-7)")
        local_types[full_url] = str(resource.get("resourceType"))
        request = entry.get("request")
        expected = f"{resource.get('resourceType')}/{resource.get('id')}"
        if (
            not isinstance(request, Mapping)
            or request.get("method") != "PUT"
            or request.get("url") != expected
        ):
            issues.append(f"Bundle.entry[{index}].request: must be PUT {{type}}/{{id}}")
    issues.extend(_structure({k: v for k, v in bundle.items() if k != "entry"}, "Bundle"))
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping):
            where = f"Bundle.entry[{index}].{resource.get('resourceType')}"
            found = _structure(resource, where)
            issues.extend(found or _rules(resource, where, local_types))
    return issues
