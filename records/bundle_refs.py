"""The small vocabulary every part of a note's Bundle is written in: derived ids, references, codings.

Ids are UUIDv5 of a scope (``note:{id}``, ``consult:{id}``, ``cedula:{n}``…) and a name, so building the
same signed note twice gives the same ids. References between a Bundle's entries use the ``urn:uuid``
form; resources outside it are referenced as ``{type}/{id}``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

Resource = dict[str, object]
_NAMESPACE = uuid.UUID("6f1c9a52-3f0e-4c5e-9a57-2b8f3f1d7c10")


def derived_id(scope: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{scope}/{name}"))


def encounter_id(consult_id: str) -> str:
    return derived_id(f"consult:{consult_id}", "Encounter")


def composition_id(note_id: str) -> str:
    return derived_id(f"note:{note_id}", "Composition")


def bundle_id(note_id: str) -> str:
    return derived_id(f"note:{note_id}", "Bundle")


def ref(resource_type: str, resource_id: str, display: str | None = None, *, local: bool = True) -> Resource:
    result: Resource = {"reference": f"urn:uuid:{resource_id}" if local else f"{resource_type}/{resource_id}"}
    if display:
        result["display"] = display
    return result


def coding(system: str, code: str, display: str | None = None) -> Resource:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> Resource:
    return {"coding": [coding(system, code, display)], **({"text": text} if text else {})}


def stamp(moment: datetime) -> str:
    """A FHIR dateTime to the second, as every resource of the Bundle writes its instants."""
    return moment.isoformat(timespec="seconds")
