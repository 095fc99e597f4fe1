"""The photos the host kept, in a Bundle: one FHIR ``Media`` each (the image inline, re-encoded
and without metadata by records/photo_images.py), linked to the Encounter and the Patient, and the
Composition section that cites them. They belong to the consult, like its Encounter.

The patient's consent to keep each photo is the Media's ``note``: its words as agreed, its time
when the host noted it, its author that host (the signer's PractitionerRole, or for another staff
member their login id), so a reader of the record sees who attests the consent and when."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, concept, derived_id, stamp
from records.identifiers import STAFF_SYSTEM
from records.safe_text import xhtml_div
from rooms.photos import Photo

SECTION_CODE = "shared-photos"
SECTION_TITLE_ES = "Fotos compartidas por el paciente"
SECTION_TITLE_EN = "Photos shared by the patient"
KEPT_NOTE = (
    "Guardada en el expediente con el consentimiento del paciente. / "
    "Kept in the record with the patient's consent."
)


def photos_section(
    ctx: BundleContext, photos: Sequence[tuple[Photo, bytes]]
) -> tuple[list[Resource], Resource]:
    scope = f"consult:{ctx.note.consult_id}"
    refs = [ctx.add(_media(ctx, scope, photo, data)) for photo, data in photos]
    lines = [
        f"{stamp(photo.uploaded_at)}: {photo.content_type}, {photo.width} x {photo.height} px"
        for photo, _ in photos
    ]
    section: Resource = {
        "title": SECTION_TITLE_ES,
        "code": concept(codes.SECTION, SECTION_CODE, SECTION_TITLE_EN, SECTION_TITLE_EN),
        "text": {"status": "generated", "div": xhtml_div([KEPT_NOTE, *lines])},
        "entry": refs,
    }
    return refs, section


def _media(ctx: BundleContext, scope: str, photo: Photo, data: bytes) -> Resource:
    kept_at = photo.kept_at or ctx.signed_at
    return {
        "resourceType": "Media",
        "id": derived_id(scope, f"Media/{photo.photo_id}"),
        "status": "completed",
        "type": concept(codes.MEDIA_TYPE, "image", "Image"),
        "subject": ctx.patient_ref,
        "encounter": ctx.encounter_ref,
        "createdDateTime": stamp(photo.uploaded_at),
        "issued": stamp(kept_at),
        "operator": ctx.patient_ref,
        "width": photo.width,
        "height": photo.height,
        "content": {
            "contentType": photo.content_type,
            "data": base64.b64encode(data).decode("ascii"),
            "size": len(data),
            "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii"),
            "title": SECTION_TITLE_ES,
            "creation": stamp(photo.uploaded_at),
        },
        "note": [_consent_note(ctx, photo)],
    }


def _consent_note(ctx: BundleContext, photo: Photo) -> Resource:
    consent = photo.consent
    if consent is None:  # keeping a photo stores its consent: a kept photo without one is a fault
        raise ValueError(f"kept photo {photo.photo_id} has no consent")
    noted_by: Resource = (
        ctx.author_ref
        if consent.noted_by == ctx.c.author.staff_id
        else {"type": "Practitioner", "identifier": {"system": STAFF_SYSTEM, "value": consent.noted_by}}
    )
    return {"authorReference": noted_by, "time": stamp(consent.noted_at), "text": consent.statement}
