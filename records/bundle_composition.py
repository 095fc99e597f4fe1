"""The note itself as a ``Composition``: one section per filled template section, in Spanish, citing the
resources the section produced; an addendum appends to the Composition it amends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, composition_id, concept, ref, stamp
from records.identifiers import NOTE_SYSTEM
from records.notes import FieldValue
from records.safe_text import xhtml_div
from records.templates import FieldKind, SectionSpec, Template, template


def composition(
    ctx: BundleContext, section_entries: Mapping[str, list[Resource]], extra_sections: Sequence[Resource] = ()
) -> Resource:
    doc: Template = template(ctx.c.amended.template) if ctx.c.amended else ctx.tpl
    sections: list[Resource] = []
    for section in ctx.tpl.sections:
        fields = ctx.note.content.get(section.code)
        if not fields:
            continue
        code = (
            concept(codes.LOINC, section.loinc, section.loinc_display, section.title_en)
            if section.loinc
            else concept(codes.SECTION, section.code, section.title_en, section.title_en)
        )
        entry: Resource = {
            "title": section.title_es,
            "code": code,
            "text": {"status": "generated", "div": xhtml_div(_section_lines(section, fields))},
        }
        if section_entries.get(section.code):
            entry["entry"] = section_entries[section.code]
        sections.append(entry)
    sections.extend(extra_sections)  # the call's quality, after the note's own sections
    title = f"{ctx.tpl.title_es} — {doc.title_es}" if ctx.c.amended else ctx.tpl.title_es
    resource: Resource = {
        "resourceType": "Composition",
        "id": composition_id(ctx.note.note_id),
        "identifier": {"system": NOTE_SYSTEM, "value": ctx.note.note_id},
        "status": "final",
        "type": concept(codes.LOINC, doc.loinc, doc.loinc_display),
        "category": [concept(codes.TEMPLATE, ctx.tpl.code.value, ctx.tpl.title_en, ctx.tpl.title_es)],
        "subject": ctx.patient_ref,
        "encounter": ctx.encounter_ref,
        "date": stamp(ctx.signed_at),
        "author": [ctx.author_ref],
        "title": title,
        "confidentiality": "N",
        "attester": [{"mode": "legal", "time": stamp(ctx.signed_at), "party": ctx.author_ref}],
        "custodian": ctx.org_ref,
        "section": sections,
    }
    if ctx.c.amended:
        resource["relatesTo"] = [
            {
                "code": "appends",
                "targetReference": ref("Composition", ctx.c.amended.composition_id, local=False),
            }
        ]
    return ctx.add(resource)


def _section_lines(section: SectionSpec, fields: Mapping[str, FieldValue]) -> list[str]:
    lines = []
    for spec in section.fields:
        if spec.key not in fields:
            continue
        value = fields[spec.key]
        if spec.kind is FieldKind.TEXT_LIST and isinstance(value, tuple):
            shown = "; ".join(value)
        elif spec.kind is FieldKind.BOOLEAN:
            shown = "Sí" if value else "No"
        elif spec.kind is FieldKind.CHOICE:
            choice = spec.choice(str(value))
            shown = choice.es if choice else str(value)
        elif spec.unit:
            shown = f"{value} {spec.unit}"
        else:
            shown = str(value)
        lines.append(f"{spec.title_es}: {shown}")
    return lines
