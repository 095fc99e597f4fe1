"""Pure helpers for the FHIR REST face: CapabilityStatement, OperationOutcome, search parameters.

No HTTP here (the web layer wires routes); these turn requests into checked values and results or
errors into FHIR resources, so every route answers the same way.

Search parameters supported (anything else is refused with an ``OperationOutcome`` rather than
silently ignored, because an ignored filter returns more patients' data than was asked for):

* ``Patient?identifier=[system|]value``
* ``Encounter?patient=[Patient/]id[&date=[prefix]value]...`` with prefixes ``eq ne gt lt ge le``;
  dates without a time zone are read in America/Mexico_City, the program's zone.
* ``Composition?encounter=[Encounter/]id``
* ``_count`` (1-200, default 50) on all of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from records.errors import InvalidSearch, RecordError

FHIR_VERSION = "4.0.1"
SERVER_ZONE = ZoneInfo("America/Mexico_City")
MAX_COUNT = 200
DEFAULT_COUNT = 50
READABLE_TYPES = (
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Encounter",
    "Composition",
    "Observation",
    "Condition",
    "CarePlan",
    "ServiceRequest",
    "Consent",
    "Media",
    "Communication",
    "Provenance",
    "AuditEvent",
)
SEARCHES: dict[str, tuple[str, ...]] = {
    "Patient": ("identifier",),
    "Encounter": ("patient", "date"),
    "Composition": ("encounter",),
}
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")
_DATE = re.compile(r"(\d{4})(-(\d{2})(-(\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def capability_statement(base_url: str, software_version: str, now: datetime) -> dict[str, object]:
    def resource(rtype: str) -> dict[str, object]:
        entry: dict[str, object] = {"type": rtype, "interaction": [{"code": "read"}]}
        params = SEARCHES.get(rtype, ())
        if params:
            entry["interaction"] = [{"code": "read"}, {"code": "search-type"}]
            types = {"identifier": "token", "patient": "reference", "date": "date", "encounter": "reference"}
            entry["searchParam"] = [{"name": p, "type": types[p]} for p in params]
        if rtype == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        return entry

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.isoformat(timespec="seconds"),
        "publisher": "Teleconsulta",
        "kind": "instance",
        "software": {"name": "Teleconsulta", "version": software_version},
        "implementation": {"description": "Teleconsulta clinical record store", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Staff session or patient link; every access is audited (AuditEvent)."
                },
                "resource": [resource(t) for t in READABLE_TYPES],
            }
        ],
    }


def operation_outcome(error: RecordError | Exception, language: str = "es") -> dict[str, object]:
    """The ``OperationOutcome`` for an error; unexpected exceptions say nothing about their cause."""
    if isinstance(error, RecordError):
        issue: dict[str, object] = {
            "severity": "error",
            "code": error.fhir_code,
            "details": {
                "coding": [
                    {"system": "https://teleconsulta.example/fhir/CodeSystem/error", "code": error.code}
                ],
                "text": error.message(language),
            },
            "diagnostics": error.message_en,
        }
    else:
        issue = {"severity": "fatal", "code": "exception", "details": {"text": "Internal error"}}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def check_resource_id(resource_type: str, resource_id: str) -> None:
    if resource_type not in READABLE_TYPES:
        raise InvalidSearch("tipo de recurso no disponible", "resource type not supported")
    if not _ID.fullmatch(resource_id):
        raise InvalidSearch("identificador mal formado", "malformed id")


@dataclass(frozen=True, slots=True)
class DateFilter:
    """One ``date=`` parameter as a prefix and the half-open range ``[lower, upper)`` its value covers."""

    prefix: str
    lower: datetime
    upper: datetime


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    identifier_system: str | None = None
    identifier_value: str | None = None
    reference_id: str | None = None
    """The patient (Encounter search) or encounter (Composition search) id."""
    dates: tuple[DateFilter, ...] = ()
    count: int = DEFAULT_COUNT


def parse_date(raw: str) -> DateFilter:
    prefix = raw[:2] if raw[:2] in _PREFIXES else "eq"
    value = raw[2:] if raw[:2] in _PREFIXES else raw
    match = _DATE.fullmatch(value)
    if match is None:
        raise InvalidSearch("fecha no válida", "invalid date")
    try:
        if match.group(6):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            lower = moment if moment.tzinfo else moment.replace(tzinfo=SERVER_ZONE)
            upper = lower + timedelta(seconds=1)
        else:
            year = int(match.group(1))
            month = int(match.group(3) or 1)
            day = int(match.group(5) or 1)
            lower = datetime(year, month, day, tzinfo=SERVER_ZONE)
            if match.group(5):
                nxt = lower + timedelta(days=1)
                upper = datetime(nxt.year, nxt.month, nxt.day, tzinfo=SERVER_ZONE)
            elif match.group(3):
                upper = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SERVER_ZONE)
            else:
                upper = datetime(year + 1, 1, 1, tzinfo=SERVER_ZONE)
    except ValueError:
        raise InvalidSearch("fecha no válida", "invalid date") from None
    return DateFilter(prefix, lower.astimezone(UTC), upper.astimezone(UTC))


def _reference(value: str, expected: str) -> str:
    target = value.removeprefix(f"{expected}/")
    if not _ID.fullmatch(target):
        raise InvalidSearch(f"referencia a {expected} mal formada", f"malformed {expected} reference")
    return target


def parse_search(resource_type: str, params: Sequence[tuple[str, str]]) -> SearchQuery:
    """Check a search's parameters (as ``(name, value)`` pairs, repeated names allowed)."""
    allowed = SEARCHES.get(resource_type)
    if allowed is None:
        raise InvalidSearch(
            f"no se puede buscar {resource_type[:40]}", f"{resource_type[:40]} is not searchable"
        )
    count = DEFAULT_COUNT
    seen: dict[str, list[str]] = {}
    for name, value in params:
        if len(value) > 200:
            raise InvalidSearch("valor demasiado largo", "value too long")
        if name == "_count":
            if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
                raise InvalidSearch(f"_count va de 1 a {MAX_COUNT}", f"_count must be 1 to {MAX_COUNT}")
            count = int(value)
        elif name in allowed:
            seen.setdefault(name, []).append(value)
        else:
            raise InvalidSearch(f"parámetro no soportado: {name[:40]}", f"unsupported parameter: {name[:40]}")
    for name, values in seen.items():
        if name != "date" and len(values) > 1:
            raise InvalidSearch(f"{name} solo una vez", f"{name} only once")
    if resource_type == "Patient":
        if "identifier" not in seen:
            raise InvalidSearch("indique identifier=sistema|valor", "give identifier=system|value")
        token = seen["identifier"][0]
        system, _, value = token.rpartition("|")
        if not value:
            raise InvalidSearch("identificador vacío", "empty identifier")
        return SearchQuery("Patient", identifier_system=system or None, identifier_value=value, count=count)
    if resource_type == "Encounter":
        if "patient" not in seen:
            raise InvalidSearch("indique patient=", "give patient=")
        dates = tuple(parse_date(v) for v in seen.get("date", []))
        return SearchQuery(
            "Encounter", reference_id=_reference(seen["patient"][0], "Patient"), dates=dates, count=count
        )
    if "encounter" not in seen:
        raise InvalidSearch("indique encounter=", "give encounter=")
    return SearchQuery("Composition", reference_id=_reference(seen["encounter"][0], "Encounter"), count=count)


def searchset(
    resources: Sequence[dict[str, object]], base_url: str, total: int | None = None
) -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources) if total is None else total,
        "entry": [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
