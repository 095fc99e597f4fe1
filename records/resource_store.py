"""The current version of every stored FHIR resource, with the columns and identifiers searches use.

A resource is stored with references already resolved to ``Type/id``. Storing one that did not
change keeps its version; a changed one gets the next ``meta.versionId``. Each row carries the
columns the searches need: its patient compartment (none for practitioners and units, which many
patients share), its Encounter and its date range, and its identifiers of our systems are indexed
so a patient, practitioner or unit is found again by NSS, CURP, cédula or CLUES.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from records.errors import InvalidRecord
from records.identifiers import (
    CEDULA_SYSTEM,
    CLUES_SYSTEM,
    CONSULT_SYSTEM,
    CURP_SYSTEM,
    NOTE_SYSTEM,
    NSS_SYSTEM,
)
from records.store import Resource, Store
from records.tables import IdentifierRow, ResourceRow

INDEXED_SYSTEMS = frozenset(
    {NSS_SYSTEM, CURP_SYSTEM, CEDULA_SYSTEM, CLUES_SYSTEM, CONSULT_SYSTEM, NOTE_SYSTEM}
)
MASTER_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization"})
"""Shared by many patients, so in no patient's compartment."""
_DATE_FIELDS = {
    "Composition": "date",
    "Observation": "effectiveDateTime",
    "Condition": "recordedDate",
    "CarePlan": "created",
    "ServiceRequest": "authoredOn",
    "Consent": "dateTime",
    "Media": "createdDateTime",
    "Communication": "sent",
    "Provenance": "recorded",
}


def parse_dt(value: object) -> datetime | None:
    """A FHIR ``dateTime`` with at least a full date, as an aware datetime (UTC when it has no zone)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def resolve(value: Any, local_types: Mapping[str, str]) -> Any:
    """A deep copy with ``urn:uuid:{id}`` references rewritten to ``{type}/{id}``."""
    if isinstance(value, dict):
        out = {k: resolve(v, local_types) for k, v in value.items()}
        reference = out.get("reference")
        if isinstance(reference, str) and reference in local_types:
            out["reference"] = f"{local_types[reference]}/{reference.removeprefix('urn:uuid:')}"
        return out
    if isinstance(value, list):
        return [resolve(v, local_types) for v in value]
    return value


def references_to(resources: Iterable[Mapping[str, Any]], types: frozenset[str]) -> set[str]:
    """The ids of every resource of ``types`` that ``resources`` reference, at any depth."""
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


def _ref_id(reference: object, resource_type: str) -> str | None:
    if isinstance(reference, Mapping):
        literal = reference.get("reference")
        if isinstance(literal, str) and literal.startswith(f"{resource_type}/"):
            return literal.removeprefix(f"{resource_type}/")
    return None


def _strip_meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def _identifier_rows(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The index rows of the resource's identifiers in our systems (others are not searched)."""
    value = resource.get("identifier")
    items = value if isinstance(value, list) else [value]
    return [
        {
            "resource_type": str(resource["resourceType"]),
            "system": ident["system"],
            "value": str(ident["value"]),
            "resource_id": str(resource["id"]),
        }
        for ident in items
        if isinstance(ident, Mapping) and ident.get("system") in INDEXED_SYSTEMS
    ]


def _index_columns(resource: Mapping[str, Any], patient_id: str | None) -> dict[str, Any]:
    rtype = resource["resourceType"]
    owner = resource["id"] if rtype == "Patient" else (None if rtype in MASTER_TYPES else patient_id)
    start = end = None
    if rtype == "Encounter":
        period = resource.get("period") or {}
        start, end = parse_dt(period.get("start")), parse_dt(period.get("end"))
    elif rtype in _DATE_FIELDS:
        start = parse_dt(resource.get(_DATE_FIELDS[rtype]))
    return {
        "patient_id": owner,
        "encounter_id": _ref_id(resource.get("encounter"), "Encounter"),
        "date_start": start,
        "date_end": end,
    }


async def put_resources(
    store: Store,
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
        identifier_rows.extend(_identifier_rows(resource))
        if row is not None and _strip_meta(row.content) == _strip_meta(resource):
            continue
        version = row.version_id + 1 if row is not None else 1
        stored = {**resource, "meta": {"versionId": str(version), "lastUpdated": now.isoformat()}}
        columns = _index_columns(stored, patient_id)
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
    await store.insert_ignore(session, ResourceRow.__table__, new_rows)
    await session.flush()
    await store.insert_ignore(session, IdentifierRow.__table__, identifier_rows)
