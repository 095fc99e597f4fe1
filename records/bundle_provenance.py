"""The note's signature: the ``Provenance`` that signs every resource the note created (or, for an
addendum, the revision of the Composition it amends) with the seal."""

from __future__ import annotations

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, coding, concept, ref, stamp


def provenance(ctx: BundleContext, targets: list[Resource]) -> None:
    amended = ctx.c.amended
    resource: Resource = {
        "resourceType": "Provenance",
        "id": ctx.own_id("Provenance"),
        "target": targets,
        "occurredDateTime": stamp(ctx.signed_at),
        "recorded": stamp(ctx.signed_at),
        "activity": concept(
            codes.V3_DATA_OPERATION, *(("APPEND", "append") if amended else ("CREATE", "create"))
        ),
        "agent": [
            {
                "type": concept(codes.PROVENANCE_AGENT, "author", "Author"),
                "who": ctx.practitioner_ref,
                "onBehalfOf": ctx.org_ref,
            }
        ],
        "signature": [
            {
                "type": [coding(codes.SIGNATURE_TYPE, codes.AUTHOR_SIGNATURE, "Author's Signature")],
                "when": stamp(ctx.signed_at),
                "who": ctx.practitioner_ref,
                "targetFormat": "application/fhir+json",
                "data": ctx.c.seal,
            }
        ],
    }
    if amended:
        resource["entity"] = [
            {"role": "revision", "what": ref("Composition", amended.composition_id, local=False)}
        ]
    ctx.add(resource)
