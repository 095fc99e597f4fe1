"""The call's quality in a Bundle: one ``Observation`` per measure of records/call_quality.py and the
Composition section that cites them. They belong to the consult, like its Encounter."""

from __future__ import annotations

from records import call_quality, codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, concept, derived_id, stamp
from records.safe_text import xhtml_div


def call_quality_section(
    ctx: BundleContext, report: call_quality.CallQualityReport
) -> tuple[list[Resource], Resource]:
    """One Observation per measure, and the Composition section that cites them and says how much
    of the consult had video. The Observations belong to the consult, like its Encounter."""
    scope = f"consult:{ctx.note.consult_id}"
    period = {"start": stamp(report.summary.started_at), "end": stamp(report.summary.ended_at)}
    refs = [
        ctx.add(
            {
                "resourceType": "Observation",
                "id": derived_id(scope, f"Observation/{call_quality.SECTION_CODE}/{measure.code}"),
                "status": "final",
                "code": concept(codes.CALL_QUALITY, measure.code, measure.display_en, measure.display_es),
                "subject": ctx.patient_ref,
                "encounter": ctx.encounter_ref,
                "effectivePeriod": period,
                "issued": stamp(ctx.signed_at),
                "device": {"display": call_quality.MEASURED_BY},
                **({"method": {"text": measure.method}} if measure.method else {}),
                **measure.value,
            }
        )
        for measure in report.measures
    ]
    section: Resource = {
        "title": call_quality.SECTION_TITLE_ES,
        "code": concept(
            codes.SECTION,
            call_quality.SECTION_CODE,
            call_quality.SECTION_TITLE_EN,
            call_quality.SECTION_TITLE_EN,
        ),
        "text": {"status": "generated", "div": xhtml_div(list(report.lines))},
        "entry": refs,
    }
    return refs, section
