"""The after-visit summary a patient reads with their own join link: ``GET /api/summary``.

The page (``/resumen#t=<token>``) sends the token in the ``Authorization: Bearer`` header, never in a
URL, so it reaches neither access logs nor referrers. The token's participant must be its consult's
patient (``patient_id``, an opaque participant id); the consult's NSS (``Consult.record_nss``, never in
the token) names them to the repository, whose ``patient_summary`` (audited, patient-only) returns their
signed record, of which this visit's Encounter, notes, follow-up plan and referral are reshaped into
plain, bilingual JSON for the page. Nothing here logs clinical content or tokens.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from records import codes
from records.access import AccessContext
from records.errors import RecordError
from records.fhir_bundle import encounter_id
from records.repository import RecordRepository
from records.templates import FieldKind, SectionSpec, Template, TemplateCode, template
from rooms import tokens
from rooms.consult import Consult
from rooms.roles import Role
from rooms.store.base import Stores
from web.errors import ApiError
from web.notes_api import api_error

PATIENT_SECTIONS = (
    "reason",
    "evolution",
    "assessment",
    "treatment",
    "recommendations",
    "prevention",
    "opinion",
    "plan",
    "addendum",
)
"""What an after-visit summary shows of a note; vitals, screening and history stay in the record."""
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.DOTALL)


def _not_ready() -> ApiError:
    return ApiError(
        404,
        "summary_not_ready",
        "Aún no hay un resumen firmado de esta consulta. / There is no signed summary of this consult yet.",
    )


def _paragraphs(div: str) -> list[str]:
    """The paragraphs of a narrative :func:`records.safe_text.xhtml_div` made (``<p>``, ``<br/>``)."""
    return [html.unescape(p.replace("<br/>", "\n")) for p in _PARAGRAPH.findall(div)]


def _items(section: SectionSpec, div: str) -> list[dict[str, str]]:
    """Narrative lines ``Título: valor`` back to labelled values in Spanish and English."""
    items = []
    for line in _paragraphs(div):
        spec = next((f for f in section.fields if line.startswith(f"{f.title_es}: ")), None)
        if spec is None:
            continue
        value = line[len(spec.title_es) + 2 :]
        value_en = value
        if spec.kind is FieldKind.BOOLEAN:
            value_en = {"Sí": "Yes", "No": "No"}.get(value, value)
        elif spec.kind is FieldKind.CHOICE:
            choice = next((c for c in spec.choices if c.es == value), None)
            value_en = choice.en if choice else value
        items.append(
            {
                "key": spec.key,
                "label_es": spec.title_es,
                "label_en": spec.title_en,
                "value_es": value,
                "value_en": value_en,
            }
        )
    return items


def _template_of(composition: Mapping[str, Any]) -> Template | None:
    for category in composition.get("category", []):
        for coding in category.get("coding", []):
            if coding.get("system") == codes.TEMPLATE:
                try:
                    return template(str(coding.get("code")))
                except ValueError:
                    return None
    return None


def _note(composition: Mapping[str, Any]) -> dict[str, Any] | None:
    tpl = _template_of(composition)
    if tpl is None:
        return None
    sections = []
    for entry in composition.get("section", []):
        spec = next((s for s in tpl.sections if s.title_es == entry.get("title")), None)
        if spec is None or spec.code not in PATIENT_SECTIONS:
            continue
        items = _items(spec, str(entry.get("text", {}).get("div", "")))
        if items:
            sections.append(
                {"code": spec.code, "title_es": spec.title_es, "title_en": spec.title_en, "items": items}
            )
    authors = composition.get("author") or [{}]
    return {
        "template": tpl.code.value,
        "title_es": tpl.title_es,
        "title_en": tpl.title_en,
        "addendum": tpl.code is TemplateCode.ADDENDUM,
        "date": composition.get("date"),
        "author": authors[0].get("display"),
        "sections": sections,
    }


def _choice(section: str, key: str, code: str) -> tuple[str, str]:
    spec = template(TemplateCode.FIRST_CONSULT).section(section)
    field = spec.field(key) if spec else None
    choice = field.choice(code) if field else None
    return (choice.es, choice.en) if choice else (code, code)


def _follow_up(plan: Mapping[str, Any]) -> dict[str, Any]:
    detail = (plan.get("activity") or [{}])[0].get("detail", {})
    modality = str(detail.get("code", {}).get("text", ""))
    spec = template(TemplateCode.FIRST_CONSULT).section("follow-up-plan")
    field = spec.field("modality") if spec else None
    choice = next((c for c in field.choices if c.es == modality), None) if field else None
    return {
        "plan": plan.get("description"),
        "date": detail.get("scheduledString"),
        "modality_es": choice.es if choice else None,
        "modality_en": choice.en if choice else None,
    }


def _referral(request: Mapping[str, Any]) -> dict[str, Any]:
    kind = next(
        (
            c.get("code")
            for c in request.get("code", {}).get("coding", [])
            if c.get("system") == codes.REFERRAL_KIND
        ),
        "",
    )
    kind_es, kind_en = _choice("referral", "kind", str(kind))
    urgency_es, urgency_en = _choice("referral", "urgency", str(request.get("priority", "")))
    performer = (request.get("performer") or [{}])[0]
    return {
        "kind_es": kind_es,
        "kind_en": kind_en,
        "urgency_es": urgency_es,
        "urgency_en": urgency_en,
        "destination": performer.get("display"),
        "specialty": request.get("performerType", {}).get("text"),
        "reason": (request.get("reasonCode") or [{}])[0].get("text"),
    }


def after_visit_summary(bundle: Mapping[str, Any], consult_id: str) -> dict[str, Any] | None:
    """This consult's visit from the patient's summary Bundle, or None when nothing is signed yet."""
    resources = [e["resource"] for e in bundle.get("entry", [])]
    visit_id = encounter_id(consult_id)
    encounter = next((r for r in resources if r["resourceType"] == "Encounter" and r["id"] == visit_id), None)
    if encounter is None:
        return None
    reference = f"Encounter/{visit_id}"

    def of_visit(rtype: str) -> list[dict[str, Any]]:
        return [
            r
            for r in resources
            if r["resourceType"] == rtype and r.get("encounter", {}).get("reference") == reference
        ]

    compositions = sorted(of_visit("Composition"), key=lambda c: str(c.get("date", "")))
    notes = [n for n in (_note(c) for c in compositions) if n is not None]
    patient: dict[str, Any] = next((r for r in resources if r["resourceType"] == "Patient"), {})
    names = patient.get("name") or [{}]
    period = encounter.get("period", {})
    return {
        "patient": {"name": names[0].get("text")},
        "visit": {
            "start": period.get("start"),
            "end": period.get("end"),
            "status": encounter.get("status"),
        },
        "notes": notes,
        "follow_up": [_follow_up(p) for p in of_visit("CarePlan")],
        "referrals": [_referral(r) for r in of_visit("ServiceRequest")],
    }


class SummaryApi:
    def __init__(
        self,
        *,
        records: RecordRepository,
        stores: Stores,
        token_key: bytes,
        clock: Callable[[], datetime],
    ) -> None:
        self._records = records
        self._stores = stores
        self._key = token_key
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/summary", self.summary)]

    async def _patient(self, request: web.Request) -> tuple[Consult, AccessContext]:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "auth_required", "Abra el enlace de su cita. / Open your appointment link.")
        try:
            claims = tokens.verify(self._key, token.strip(), self._clock().timestamp())
        except tokens.TokenError as error:
            raise ApiError(
                401, error.code.value, "El enlace no es válido. / The link is not valid."
            ) from None
        if await self._stores.consults.is_token_revoked(claims.token_id):
            raise ApiError(401, "auth_revoked", "El enlace fue cancelado. / The link was revoked.")
        if claims.role is not Role.PATIENT:
            raise ApiError(403, "forbidden", "Solo el paciente ve su resumen. / Only the patient sees it.")
        consult = await self._stores.consults.get(claims.consult_id)
        if consult is None or consult.patient_id != claims.participant_id:
            raise ApiError(401, "auth_invalid", "El enlace no es válido. / The link is not valid.")
        return consult, AccessContext.patient(consult.record_nss, request.remote or "unknown")

    async def summary(self, request: web.Request) -> web.Response:
        consult, ctx = await self._patient(request)
        if not consult.record_nss:
            raise _not_ready()  # no registered patient: nothing in the record to summarize
        try:
            bundle = await self._records.patient_summary(ctx)
        except RecordError as error:
            if error.code in ("unknown_patient", "invalid_identifier"):
                raise _not_ready() from None
            raise api_error(error) from None
        view = after_visit_summary(bundle, consult.consult_id)
        if view is None or not view["notes"]:
            raise _not_ready()
        return web.json_response(view)


OPENAPI_PATHS: dict[str, object] = {
    "/api/summary": {
        "get": {
            "summary": "The patient's after-visit summary of their consult (join token as a bearer token)",
            "tags": ["summary"],
            "security": [{"joinToken": []}],
            "responses": {
                "200": {
                    "description": "{patient, visit, notes, follow_up, referrals}",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **{
                    status: {
                        "description": codes_,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    }
                    for status, codes_ in (
                        ("401", "auth_required, auth_invalid, auth_expired, auth_revoked"),
                        ("403", "forbidden: not a patient link"),
                        ("404", "summary_not_ready"),
                    )
                },
            },
        }
    }
}
