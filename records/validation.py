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
from collections.abc import Callable, Iterable, Iterator, Mapping
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
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

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
    ("Media", "status"): frozenset(
        {
            "preparation",
            "in-progress",
            "not-done",
            "on-hold",
            "stopped",
            "completed",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Communication", "status"): frozenset(
        {
            "preparation",
            "in-progress",
            "not-done",
            "on-hold",
            "stopped",
            "completed",
            "entered-in-error",
            "unknown",
        }
    ),
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
    "Media": {
        "subject": frozenset(
            {"Patient", "Practitioner", "PractitionerRole", "Group", "Device", "Specimen", "Location"}
        ),
        "encounter": frozenset({"Encounter"}),
        "operator": _ACTORS,
        "note.authorReference": frozenset(
            {"Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Organization"}
        ),
    },
    "Communication": {
        "subject": frozenset({"Patient", "Group"}),
        "encounter": frozenset({"Encounter"}),
        "sender": _ACTORS - {"CareTeam"} | frozenset({"HealthcareService"}),
    },
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
    """Every rule for one resource: first those every resource obeys, then its type's own."""
    rtype = str(resource.get("resourceType"))
    return [
        *_id_rules(resource, where),
        *_string_rules(resource, where),
        *_code_rules(rtype, resource, where),
        *_coded_rules(rtype, resource, where),
        *_reference_rules(rtype, resource, where, local_types),
        *_identifier_rules(resource, where),
        *(issue for rule in _TYPE_RULES.get(rtype, ()) for issue in rule(resource, where)),
    ]


def _id_rules(resource: Mapping[str, object], where: str) -> list[str]:
    rid = resource.get("id")
    return [] if isinstance(rid, str) and _ID.fullmatch(rid) else [f"{where}.id: missing or malformed"]


def _string_rules(resource: Mapping[str, object], where: str) -> Iterator[str]:
    """Strings anywhere in the resource: no control characters, and every narrative ``div`` inert."""
    for path, value in _walk(resource, where):
        if not isinstance(value, str):
            continue
        if _CONTROL.search(value):
            yield f"{path}: control character"
        if path.endswith(".div") and not _inert_xhtml(value):
            yield f"{path}: narrative must be inert XHTML"


def _code_rules(rtype: str, resource: Mapping[str, object], where: str) -> Iterator[str]:
    """Required ``code`` elements come from their value sets."""
    for (type_name, key), allowed in _CODES.items():
        if type_name == rtype and key in resource and resource[key] not in allowed:
            yield f"{where}.{key}: code not in its value set"


def _coded_rules(rtype: str, resource: Mapping[str, object], where: str) -> Iterator[str]:
    """Required ``CodeableConcept``\\ s carry at least one coding from their value sets."""
    for (type_name, key), allowed in _CODED.items():
        if type_name != rtype or key not in resource:
            continue
        found = [c.get("code") for c in _at_path(resource, f"{key}.coding") if isinstance(c, Mapping)]
        if not any(code in allowed for code in found):
            yield f"{where}.{key}: code not in its value set"


def _reference_rules(
    rtype: str, resource: Mapping[str, object], where: str, local_types: Mapping[str, str]
) -> Iterator[str]:
    """References resolve inside the Bundle and point at the resource types FHIR allows there."""
    for path, allowed in _REFERENCES.get(rtype, {}).items():
        for reference in _at_path(resource, path):
            target = _target_type(reference, local_types) if isinstance(reference, Mapping) else None
            if target == "":
                yield f"{where}.{path}: reference does not resolve"
            elif target is not None and allowed is not _ANY and target not in allowed:
                yield f"{where}.{path}: must reference {'|'.join(sorted(allowed))}, not {target}"


def _backwards(period: object) -> bool:
    """Does a FHIR ``Period`` end before it starts (per-1)?"""
    if not isinstance(period, Mapping):
        return False
    start, end = _datetime(period.get("start")), _datetime(period.get("end"))
    return bool(start and end and end < start)


def _encounter_class(resource: Mapping[str, Any], where: str) -> list[str]:
    klass = resource.get("class") or {}
    if klass.get("system") == _ACT_CODE and klass.get("code") == "VR":
        return []
    return [f"{where}.class: a teleconsultation is class VR (virtual)"]


def _encounter_period(resource: Mapping[str, Any], where: str) -> Iterator[str]:
    period = resource.get("period") or {}
    if _datetime(period.get("start")) is None:
        yield f"{where}.period.start: required"
    if _backwards(period):
        yield f"{where}.period: end is before start"
    if resource.get("status") == "finished" and _datetime(period.get("end")) is None:
        yield f"{where}.period.end: a finished encounter has an end"
    for index, participant in enumerate(resource.get("participant") or []):
        if _backwards(participant.get("period")):
            yield f"{where}.participant[{index}].period: end is before start"


def _composition_attester(resource: Mapping[str, Any], where: str) -> list[str]:
    legal = any(a.get("mode") == "legal" for a in resource.get("attester") or [])
    if resource.get("status") != "final" or legal:
        return []
    return [f"{where}.attester: a final note has a legal attester (its signer)"]


def _composition_sections(resource: Mapping[str, Any], where: str) -> Iterator[str]:
    for index, section in enumerate(resource.get("section") or []):
        if not (section.get("text") or section.get("entry") or section.get("section")):
            yield f"{where}.section[{index}]: needs text, entries or sections (cmp-1)"


def _observation_category(resource: Mapping[str, Any], where: str) -> Iterator[str]:
    for cat in _at_path(resource, "category.coding"):
        if isinstance(cat, Mapping) and cat.get("code") not in _OBSERVATION_CATEGORIES:
            yield f"{where}.category: code not in its value set"


def _observation_value(resource: Mapping[str, Any], where: str) -> list[str]:
    if any(k.startswith("value") for k in resource) or resource.get("component"):
        return []
    return [f"{where}: needs a value or components"]


def _consent_policy(resource: Mapping[str, Any], where: str) -> list[str]:
    if resource.get("policy") or resource.get("policyRule"):
        return []
    return [f"{where}: needs policy or policyRule (ppc-1)"]


def _consent_patient(resource: Mapping[str, Any], where: str) -> list[str]:
    scope = [c.get("code") for c in _at_path(resource, "scope.coding") if isinstance(c, Mapping)]
    if resource.get("patient") or not any(s in ("patient-privacy", "treatment") for s in scope):
        return []
    return [f"{where}.patient: required for privacy and treatment consents (ppc-2, ppc-5)"]


def _provenance_target(resource: Mapping[str, Any], where: str) -> list[str]:
    return [] if resource.get("target") else [f"{where}.target: required"]


def _provenance_signatures(resource: Mapping[str, Any], where: str) -> Iterator[str]:
    for index, signature in enumerate(resource.get("signature") or []):
        try:
            base64.b64decode(str(signature.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            yield f"{where}.signature[{index}].data: not base64"


_TypeRule = Callable[[Mapping[str, Any], str], Iterable[str]]
_TYPE_RULES: dict[str, tuple[_TypeRule, ...]] = {
    "Encounter": (_encounter_class, _encounter_period),
    "Composition": (_composition_attester, _composition_sections),
    "Observation": (_observation_category, _observation_value),
    "Consent": (_consent_policy, _consent_patient),
    "Provenance": (_provenance_target, _provenance_signatures),
}
"""The invariants of each resource type beyond its model and the rules above, in the order reported."""


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
    local_types: dict[str, str] = {}
    issues = [issue for index, entry in enumerate(entries) for issue in _entry(index, entry, local_types)]
    issues.extend(_structure({k: v for k, v in bundle.items() if k != "entry"}, "Bundle"))
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping):
            where = f"Bundle.entry[{index}].{resource.get('resourceType')}"
            found = _structure(resource, where)
            issues.extend(found or _rules(resource, where, local_types))
    return issues


def _entry(index: int, entry: object, local_types: dict[str, str]) -> Iterator[str]:
    """One entry's envelope (bdl-7, a PUT of its own resource), noting its ``fullUrl``'s type.

    Every entry is noted before any resource is checked, so references may point forward.
    """
    resource = entry.get("resource") if isinstance(entry, Mapping) else None
    full_url = entry.get("fullUrl") if isinstance(entry, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(resource, Mapping) or not isinstance(full_url, str):
        yield f"Bundle.entry[{index}]: needs fullUrl and resource"
        return
    if full_url in local_types:
        yield f"Bundle.entry[{index}].fullUrl: duplicate (bdl-7)"
    local_types[full_url] = str(resource.get("resourceType"))
    request = entry.get("request")
    expected = f"{resource.get('resourceType')}/{resource.get('id')}"
    if not isinstance(request, Mapping) or request.get("method") != "PUT" or request.get("url") != expected:
        yield f"Bundle.entry[{index}].request: must be PUT {{type}}/{{id}}"
