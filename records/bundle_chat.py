"""The chat transcript the host chose to keep, in a Bundle: one FHIR ``Communication`` per message
(sender, time, the text as written) and the Composition section that cites them, its narrative the
transcript escaped as text. They belong to the consult, like its Encounter."""

from __future__ import annotations

from collections.abc import Sequence

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, concept, derived_id, stamp
from records.safe_text import xhtml_div
from rooms.chat import ChatMessage

SECTION_CODE = "chat-transcript"
SECTION_TITLE_ES = "Conversación por chat"
SECTION_TITLE_EN = "Chat transcript"


def chat_section(ctx: BundleContext, messages: Sequence[ChatMessage]) -> tuple[list[Resource], Resource]:
    scope = f"consult:{ctx.note.consult_id}"
    refs = [ctx.add(_communication(ctx, scope, message)) for message in messages]
    lines = [f"{stamp(m.at)} {m.sender_name} ({m.sender_role}): {m.text}" for m in messages]
    section: Resource = {
        "title": SECTION_TITLE_ES,
        "code": concept(codes.SECTION, SECTION_CODE, SECTION_TITLE_EN, SECTION_TITLE_EN),
        "text": {"status": "generated", "div": xhtml_div(lines)},
        "entry": refs,
    }
    return refs, section


def _sender(ctx: BundleContext, message: ChatMessage) -> Resource:
    """The patient and the signing host by reference; anyone else (a companion, an interpreter, an
    invited physician) by name and role, as the chat knew them."""
    if message.sender_role == "patient":
        return ctx.patient_ref
    if message.sender_id == ctx.c.author.staff_id:
        return ctx.author_ref
    return {"display": f"{message.sender_name} ({message.sender_role})"}


def _communication(ctx: BundleContext, scope: str, message: ChatMessage) -> Resource:
    return {
        "resourceType": "Communication",
        "id": derived_id(scope, f"Communication/chat/{message.seq}"),
        "status": "completed",
        "category": [concept(codes.COMMUNICATION_CATEGORY, "teleconsult-chat", "Teleconsultation chat")],
        "subject": ctx.patient_ref,
        "encounter": ctx.encounter_ref,
        "sent": stamp(message.at),
        "sender": _sender(ctx, message),
        "payload": [{"contentString": message.text}],
    }
