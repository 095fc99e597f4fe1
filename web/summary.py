"""The after-visit summary a patient reads with their join link or summary link: ``GET /api/summary``.

The page (``/resumen#t=<token>``) sends the token in the ``Authorization: Bearer`` header, never in a
URL, so it reaches neither access logs nor referrers. A join token's participant must be its consult's
patient (``patient_id``, an opaque participant id); the consult's NSS (``Consult.record_nss``, never in
the token) names them to the repository, whose ``patient_summary`` (audited, patient-only) returns their
signed record, of which this visit's Encounter, notes, reported vital signs, follow-up plan and referral
are reshaped into plain, bilingual JSON for the page, with the patient's next appointment, if any.

The join link dies soon after its slot, so once a note is signed the answer carries a summary link
(:mod:`rooms.summary_links`: another token kind, which reads this summary and nothing else) that lasts
``TC_SUMMARY_LINK_DAYS`` from the signing. The consult's host or its unit's staff can revoke it
(``DELETE /api/consults/{id}/summary-link``). Nothing here logs clinical content or tokens.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from aiohttp import web

from records import codes
from records.access import AccessContext
from records.bundle_refs import encounter_id
from records.errors import RecordError
from records.repository import RecordRepository
from records.templates import FieldKind, SectionSpec, Template, TemplateCode, template
from rooms import summary_links, tokens
from rooms.appointments import AppointmentStatus
from rooms.consult import Consult
from rooms.roles import Role
from rooms.store.appointments import AppointmentStore
from rooms.store.base import Stores
from web.auth import Authenticator
from web.errors import ApiError
from web.notes_api import api_error
from web.payloads import answer
from web.schemas.summary import AfterVisitSummary, NextAppointment, SummaryLink, SummaryLinkRevoked
from web.security import link_base

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
"""What an after-visit summary shows of a note; vitals come from the Observations (:func:`_vitals`),
screening and history stay in the record."""
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


_VITAL_LABELS = {  # LOINC code → (key, Spanish label, English label)
    codes.BLOOD_PRESSURE[0]: ("blood_pressure", "Presión arterial", "Blood pressure"),
    codes.WEIGHT[0]: ("weight", "Peso", "Weight"),
    codes.HEIGHT[0]: ("height", "Talla", "Height"),
    codes.BMI[0]: ("bmi", "Índice de masa corporal (IMC)", "Body mass index (BMI)"),
    codes.GLUCOSE[0]: ("glucose", "Glucosa capilar", "Capillary glucose"),
}
_VITAL_UNITS = {"mm[Hg]": "mm Hg", "kg/m2": "kg/m²"}
"""UCUM codes as a reader writes them."""
_BMI_READING = {"L": ("bajo", "low"), "N": ("adecuado", "healthy"), "H": ("alto", "high")}
_GLUCOSE_WHEN = {
    "En ayuno / fasting": ("en ayuno", "fasting"),
    "Casual / random": ("sin ayuno", "not fasting"),
}
"""The notes :func:`records.bundle_observations.vitals` writes on a glucose reading."""


def _loinc(concept: Mapping[str, Any]) -> str:
    return next((str(c.get("code")) for c in concept.get("coding", []) if c.get("system") == codes.LOINC), "")


def _vital(observation: Mapping[str, Any]) -> dict[str, Any] | None:
    """One reported vital sign as a labelled reading, or None for any other Observation (screening)."""
    known = _VITAL_LABELS.get(_loinc(observation.get("code", {})))
    if known is None:
        return None
    key, label_es, label_en = known
    if key == "blood_pressure":
        parts = {
            _loinc(c.get("code", {})): c.get("valueQuantity", {}) for c in observation.get("component", [])
        }
        quantities = [parts.get(codes.SYSTOLIC[0], {}), parts.get(codes.DIASTOLIC[0], {})]
    else:
        quantities = [observation.get("valueQuantity", {})]
    values = [q.get("value") for q in quantities]
    if not all(isinstance(v, int | float) for v in values):
        return None
    unit = str(quantities[0].get("code") or quantities[0].get("unit") or "")
    reading: tuple[str, str] | None = None
    if key == "bmi":
        flags = [c.get("code") for i in observation.get("interpretation", []) for c in i.get("coding", [])]
        reading = _BMI_READING.get(str(flags[0])) if flags else None
    elif key == "glucose":
        reading = next(
            (_GLUCOSE_WHEN[n["text"]] for n in observation.get("note", []) if n.get("text") in _GLUCOSE_WHEN),
            None,
        )
    return {
        "key": key,
        "label_es": label_es,
        "label_en": label_en,
        "values": values,
        "unit": _VITAL_UNITS.get(unit, unit),
        "note_es": reading[0] if reading else None,
        "note_en": reading[1] if reading else None,
    }


def _vitals(observations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The vital signs the patient reported in this visit, in a fixed order, with when they were taken."""
    readings = {v["key"]: (v, o) for o in observations if (v := _vital(o)) is not None}
    if not readings:
        return None
    order = [key for key, _, _ in _VITAL_LABELS.values() if key in readings]
    return {
        "date": readings[order[0]][1].get("effectiveDateTime"),
        "items": [readings[key][0] for key in order],
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
        "vitals": _vitals(of_visit("Observation")),
        "follow_up": [_follow_up(p) for p in of_visit("CarePlan")],
        "referrals": [_referral(r) for r in of_visit("ServiceRequest")],
    }


def _refused(status: int, code: str, es: str, en: str) -> ApiError:
    return ApiError(status, code, f"{es} / {en}")


class Reader(NamedTuple):
    """Who reads a summary: the consult, and the record access on the patient's behalf."""

    consult: Consult
    ctx: AccessContext


class SummaryApi:
    def __init__(
        self,
        *,
        records: RecordRepository,
        stores: Stores,
        appointments: AppointmentStore,
        auth: Authenticator,
        token_key: bytes,
        link_key: bytes,
        link_days: int,
        base_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._records = records
        self._stores = stores
        self._appointments = appointments
        self._auth = auth
        self._key = token_key
        self._link_key = link_key
        self._link_days = link_days
        self._base_url = base_url
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/summary", self.summary),
            web.delete("/api/consults/{consult_id}/summary-link", self.revoke_link),
        ]

    async def _reader(self, request: web.Request) -> Reader:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "auth_required", "Abra el enlace de su cita. / Open your appointment link.")
        if summary_links.is_summary_token(token):
            consult = await self._by_summary_link(token)
        else:
            consult = await self._by_join_token(token)
        return Reader(consult, AccessContext.patient(consult.record_nss, request.remote or "unknown"))

    async def _by_summary_link(self, token: str) -> Consult:
        try:
            claims = summary_links.verify(self._link_key, token, self._clock().timestamp())
        except tokens.TokenError as error:
            if error.token_code is tokens.TokenErrorCode.EXPIRED:
                raise _refused(
                    401,
                    "summary_link_expired",
                    "El enlace a su resumen ya venció. Pida una copia a su unidad.",
                    "The link to your summary has expired. Ask your clinic for a copy.",
                ) from None
            raise ApiError(401, "auth_invalid", "El enlace no es válido. / The link is not valid.") from None
        if await self._stores.consults.is_token_revoked(claims.link_id):
            raise _refused(
                401,
                "summary_link_revoked",
                "El enlace a su resumen fue cancelado. Pida una copia a su unidad.",
                "The link to your summary was cancelled. Ask your clinic for a copy.",
            )
        consult = await self._stores.consults.get(claims.consult_id)
        if consult is None:
            raise ApiError(401, "auth_invalid", "El enlace no es válido. / The link is not valid.")
        return consult

    async def _by_join_token(self, token: str) -> Consult:
        try:
            claims = tokens.verify(self._key, token, self._clock().timestamp())
        except tokens.TokenError as error:
            raise ApiError(401, error.code, "El enlace no es válido. / The link is not valid.") from None
        if await self._stores.consults.is_token_revoked(claims.token_id):
            raise ApiError(401, "auth_revoked", "El enlace fue cancelado. / The link was revoked.")
        if claims.role is not Role.PATIENT:
            raise ApiError(403, "forbidden", "Solo el paciente ve su resumen. / Only the patient sees it.")
        consult = await self._stores.consults.get(claims.consult_id)
        if consult is None or consult.patient_id != claims.participant_id:
            raise ApiError(401, "auth_invalid", "El enlace no es válido. / The link is not valid.")
        return consult

    async def summary(self, request: web.Request) -> web.Response:
        consult, ctx = await self._reader(request)
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
        view["summary_link"] = await self._summary_link(request, consult, str(view["notes"][0]["date"]))
        view["next_appointment"] = await self._next_appointment(consult)
        return answer(AfterVisitSummary.model_validate(view))

    async def _summary_link(self, request: web.Request, consult: Consult, signed: str) -> SummaryLink | None:
        """The consult's lasting link, counted from its first signed note; None once revoked or expired."""
        link_id = summary_links.link_id(consult.consult_id)
        since = datetime.fromisoformat(signed)
        expires_at = summary_links.expiry(since, self._link_days)
        if self._clock().timestamp() >= expires_at or await self._stores.consults.is_token_revoked(link_id):
            return None
        claims = summary_links.SummaryClaims(consult.consult_id, link_id, int(since.timestamp()), expires_at)
        token = summary_links.issue(self._link_key, claims)
        return SummaryLink(
            url=f"{link_base(self._base_url, request)}/resumen#t={token}",
            expires_at=datetime.fromtimestamp(expires_at, since.tzinfo).isoformat(),
        )

    async def _next_appointment(self, consult: Consult) -> NextAppointment | None:
        """The patient's next booked appointment (any unit, e.g. the follow-up booked from this note)."""
        now = self._clock()
        upcoming = [
            a
            for a in await self._appointments.for_patient(consult.record_nss)
            if a.appointment_id != consult.consult_id
            and a.status in (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN)
            and a.end > now
        ]
        if not upcoming:
            return None
        first = min(upcoming, key=lambda a: a.start)
        return NextAppointment(
            start=first.start.isoformat(),
            end=first.end.isoformat(),
            service_zone=first.service_zone,
            kind=first.kind.value,
        )

    async def revoke_link(self, request: web.Request) -> web.Response:
        """The consult's host, or staff of its unit, cancel its summary link (again: no change)."""
        member = await self._auth.require_staff(request)
        consult = await self._stores.consults.get(request.match_info["consult_id"][:128])
        if consult is None:
            raise ApiError(404, "not_found", "Consulta no encontrada. / Consult not found.")
        if consult.host_id != member.staff_id and not (consult.unit and consult.unit == member.unit):
            raise ApiError(403, "forbidden", "No es su consulta. / Not your consult.")
        await self._stores.consults.revoke_token(summary_links.link_id(consult.consult_id))
        return answer(SummaryLinkRevoked(consult_id=consult.consult_id, summary_link_revoked=True))
