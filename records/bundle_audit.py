"""``AuditEvent``\\ s: one per access to the record, the signing among them, and one per audited event of
the consult's session log."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence
from datetime import datetime

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, coding, derived_id
from records.identifiers import PARTICIPANT_SYSTEM
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent

_SESSION_AUDITED = frozenset(
    {
        EventKind.CHECKED_IN,
        EventKind.ADMITTED,
        EventKind.INVITED,
        EventKind.JOINED,
        EventKind.LEFT,
        EventKind.DROPPED,
        EventKind.RETURNED,
        EventKind.ENDED,
    }
)


def signing_audit(ctx: BundleContext, composition: Resource) -> None:
    ctx.add(
        audit_event(
            event_id=ctx.own_id("AuditEvent/sign"),
            recorded=ctx.signed_at,
            interaction="transaction",
            action="C",
            who=ctx.practitioner_ref,
            address=ctx.c.source_address,
            entities=[("Composition", composition), ("Patient", ctx.patient_ref)],
        )
    )


def session_audits(ctx: BundleContext) -> None:
    for audit in session_audit_events(ctx.note.consult_id, ctx.c.events, ctx.patient_ref, ctx.encounter_ref):
        ctx.add(audit)


def session_audit_events(
    consult_id: str, events: Sequence[SessionEvent], patient_ref: Resource, encounter_ref: Resource
) -> list[Resource]:
    """One ``AuditEvent`` per audited session event; ids are the event's place in the log, so the
    same log (or a longer one) gives the same ids and storing them again adds only the new ones."""
    scope = f"consult:{consult_id}"
    audits: list[Resource] = []
    for seq, event in enumerate(sorted(events, key=lambda e: e.at)):
        if event.kind not in _SESSION_AUDITED:
            continue
        who: Resource = (
            patient_ref
            if event.actor_role is Role.PATIENT
            else {
                "identifier": {"system": PARTICIPANT_SYSTEM, "value": event.actor_id},
                **({"display": event.actor_role.value} if event.actor_role else {}),
            }
        )
        audits.append(
            {
                "resourceType": "AuditEvent",
                "id": derived_id(scope, f"AuditEvent/session/{seq}"),
                "type": coding(codes.SESSION_EVENT, "teleconsult-session", "Teleconsultation session"),
                "subtype": [coding(codes.SESSION_EVENT, event.kind.value)],
                "action": "E",
                "recorded": event.at.isoformat(),
                "outcome": "0",
                "agent": [{"who": who, "requestor": True}],
                "source": _audit_source(),
                "entity": [{"what": encounter_ref}, {"what": patient_ref}],
            }
        )
    return audits


def _audit_source() -> Resource:
    return {
        "observer": {"display": "Teleconsulta"},
        "type": [
            coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")
        ],
    }


def _network_type(address: str) -> str:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return "1"  # machine name
    return "2"  # IP address


def audit_event(
    *,
    event_id: str,
    recorded: datetime,
    interaction: str,
    action: str,
    who: Resource,
    address: str,
    entities: Sequence[tuple[str, Resource]],
    outcome: str = "0",
    outcome_desc: str | None = None,
    query: str | None = None,
) -> Resource:
    """An ``AuditEvent`` for one access to the record: who, what, when, from where and how it ended.

    ``entities`` are ``(resource type, reference)`` pairs of what was touched; a Patient is tagged
    with the patient object role, so audit trails can be searched per patient.
    """
    entity_list: list[Resource] = []
    for resource_type, what in entities:
        is_patient = resource_type == "Patient"
        entity_list.append(
            {
                "what": what,
                "type": coding(
                    "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    *(("1", "Person") if is_patient else ("2", "System Object")),
                ),
                "role": coding(
                    "http://terminology.hl7.org/CodeSystem/object-role",
                    *(("1", "Patient") if is_patient else ("4", "Domain Resource")),
                ),
            }
        )
    if query is not None:
        entity_list.append(
            {
                "type": coding(
                    "http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"
                ),
                "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "24", "Query"),
                "query": base64.b64encode(query.encode()).decode(),
            }
        )
    resource: Resource = {
        "resourceType": "AuditEvent",
        "id": event_id,
        "type": coding(codes.AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
        "subtype": [coding(codes.RESTFUL_INTERACTION, interaction)],
        "action": action,
        "recorded": recorded.isoformat(),
        "outcome": outcome,
        "agent": [
            {
                "who": who,
                "requestor": True,
                "network": {"address": address[:100], "type": _network_type(address)},
            }
        ],
        "source": _audit_source(),
    }
    if outcome_desc:
        resource["outcomeDesc"] = outcome_desc
    if entity_list:
        resource["entity"] = entity_list
    return resource
