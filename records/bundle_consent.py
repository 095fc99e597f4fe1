"""The patient's ``Consent``\\ s to the teleconsultation and, when given, to its recording.

They belong to the consult (ids from the consult, not the note), so every note of it writes the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, concept, derived_id, stamp
from records.facts import ConsentFacts


def consents(ctx: BundleContext, consent: ConsentFacts) -> list[Resource]:
    refs = [
        _consent(
            ctx,
            "teleconsult",
            concept(codes.CONSENT_SCOPE, "treatment", "Treatment"),
            concept(codes.CONSENT_CATEGORY, "teleconsultation", "Teleconsultation"),
            consent.teleconsult_at,
            ("collect", "use"),
        )
    ]
    if consent.recording_at is not None:
        refs.append(
            _consent(
                ctx,
                "recording",
                concept(codes.CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
                concept(codes.CONSENT_CATEGORY, "recording", "Recording of the teleconsultation"),
                consent.recording_at,
                ("collect",),
            )
        )
    return refs


def _consent(
    ctx: BundleContext,
    name: str,
    scope: Resource,
    category: Resource,
    given_at: datetime,
    actions: Sequence[str],
) -> Resource:
    """A consent the patient gave the unit (opt-in, from ``given_at``) to ``actions`` on their data."""
    return ctx.add(
        {
            "resourceType": "Consent",
            "id": derived_id(f"consult:{ctx.note.consult_id}", f"Consent/{name}"),
            "status": "active",
            "scope": scope,
            "category": [concept(codes.LOINC, *codes.CONSENT_LOINC), category],
            "patient": ctx.patient_ref,
            "dateTime": stamp(given_at),
            "organization": [ctx.org_ref],
            "policyRule": concept(codes.V3_ACT_CODE, "OPTIN", "opt-in"),
            "provision": {
                "type": "permit",
                "period": {"start": stamp(given_at)},
                "action": [concept(codes.CONSENT_ACTION, action) for action in actions],
            },
        }
    )
