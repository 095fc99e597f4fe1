"""The consult's ``Encounter``, which follows its session log: status, period, length and participants.

Its id is the consult's (not the note's), so every note of a consult, and the consult's end, update the
same Encounter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from records import codes
from records.bundle_context import BundleContext, visit_span
from records.bundle_refs import Resource, coding, concept, stamp
from records.identifiers import CONSULT_SYSTEM, PARTICIPANT_SYSTEM
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent

_PARTICIPATION = {
    Role.PHYSICIAN: ("CON", "consultant"),
    Role.INTERPRETER: ("TRANSL", "Translator"),
    Role.COMPANION: ("ESC", "escort"),
}


def add_encounter(ctx: BundleContext, reason: Resource | None) -> None:
    resource: Resource = {
        "resourceType": "Encounter",
        "id": ctx.encounter,
        "identifier": [{"system": CONSULT_SYSTEM, "value": ctx.note.consult_id}],
        "status": "in-progress",  # the status, participants and period follow the session log
        "class": coding(codes.V3_ACT_CODE, "VR", "virtual"),
        "type": [concept(codes.TEMPLATE, ctx.tpl.code.value, ctx.tpl.title_en, ctx.tpl.title_es)],
        "subject": ctx.patient_ref,
        "participant": [],
        "period": {},
        "serviceProvider": ctx.org_ref,
    }
    _follow_session(resource, ctx.c.events, ctx.c.author.staff_id, ctx.author_ref, ctx.signed_at)
    if reason:
        resource["reasonCode"] = [reason]
    ctx.add(resource)


def _participants(
    events: Sequence[SessionEvent],
    author_id: str,
    author_ref: Resource,
    start: datetime,
    end: datetime | None,
) -> list[Resource]:
    spans: dict[str, tuple[Role, datetime, datetime | None]] = {}
    for event in sorted(events, key=lambda e: e.at):
        if event.actor_role is None or event.actor_role is Role.PATIENT:
            continue
        role, first, last = spans.get(event.actor_id, (event.actor_role, event.at, None))
        if event.kind in (EventKind.LEFT, EventKind.DROPPED, EventKind.ENDED):
            last = event.at
        spans[event.actor_id] = (role, min(first, event.at), last)
    first, last = spans.pop(author_id, (Role.NURSE, start, end))[1:]
    result: list[Resource] = [
        {
            "type": [concept(codes.V3_PARTICIPATION, "PPRF", "primary performer")],
            "period": {"start": stamp(first), **({"end": stamp(last)} if last else {})},
            "individual": author_ref,
        }
    ]
    for actor_id, (role, first, last) in sorted(spans.items()):
        code, display = _PARTICIPATION.get(role, ("PART", "Participation"))
        result.append(
            {
                "type": [concept(codes.V3_PARTICIPATION, code, display)],
                "period": {"start": stamp(first), **({"end": stamp(last)} if last else {})},
                "individual": {
                    "type": "RelatedPerson" if role in (Role.COMPANION, Role.INTERPRETER) else "Practitioner",
                    "identifier": {"system": PARTICIPANT_SYSTEM, "value": actor_id},
                    "display": role.value,
                },
            }
        )
    return result


def _follow_session(
    encounter: Resource,
    events: Sequence[SessionEvent],
    author_id: str,
    author_ref: Resource,
    fallback: datetime,
) -> None:
    """Set what the session log decides in an Encounter: status, period, length and participants."""
    start, end = visit_span(events, fallback)
    encounter["status"] = "finished" if end else "in-progress"
    encounter["participant"] = _participants(events, author_id, author_ref, start, end)
    encounter["period"] = {"start": stamp(start), **({"end": stamp(end)} if end else {})}
    encounter.pop("length", None)
    if end:
        encounter["length"] = {
            "value": round((end - start).total_seconds() / 60, 1),
            "unit": "min",
            "system": codes.UCUM,
            "code": "min",
        }


def finished_encounter(
    encounter: Mapping[str, object], events: Sequence[SessionEvent], author_id: str
) -> Resource | None:
    """A stored in-progress Encounter (signed during the call) once its consult has ended.

    The record follows the consult: status ``finished``, ``period.end`` the consult's end, and the
    length and participants' periods from the whole session log. The signer stays the primary
    performer (their reference as stored). None when the log has no end or nothing would change.
    """
    start, end = visit_span(events, datetime.min)
    if end is None or encounter.get("status") == "finished":
        return None
    updated: Resource = {k: v for k, v in encounter.items() if k != "meta"}
    participants = updated.get("participant")
    first = participants[0] if isinstance(participants, list) and participants else {}
    author = first.get("individual") if isinstance(first, Mapping) else None
    _follow_session(updated, events, author_id, dict(author) if isinstance(author, Mapping) else {}, start)
    return updated
