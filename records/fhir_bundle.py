"""A signed note, its consult's session log and the facts about who and where → one FHIR transaction Bundle.

Pure and deterministic: the ids of the resources a note produces are UUIDv5 of the note (or of the
consult, for what belongs to the consult as a whole: its ``Encounter``, ``Consent``\\ s and session
``AuditEvent``\\ s), so building the same signed note twice gives the same Bundle, which is what makes
signing idempotent all the way down. Patient, practitioner and unit ids are resolved by the store
(from NSS, cédula and CLUES) before building.

Every entry is a ``PUT {type}/{id}`` with ``fullUrl`` ``urn:uuid:{id}``; references between entries use
the ``urn:uuid`` form and the store rewrites them to ``{type}/{id}`` when it indexes the resources.
Resources outside the Bundle (the amended Composition of an addendum) are referenced as ``{type}/{id}``.
"""

from __future__ import annotations

import base64
import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from records import call_quality, codes
from records.facts import ConsentFacts, PatientFacts, Sex, StaffFacts
from records.identifiers import (
    CEDULA_SYSTEM,
    CLUES_SYSTEM,
    CONSULT_SYSTEM,
    CURP_SYSTEM,
    NOTE_SYSTEM,
    NSS_SYSTEM,
    PARTICIPANT_SYSTEM,
    STAFF_SYSTEM,
    identifier,
)
from records.notes import FieldValue, Note
from records.safe_text import xhtml_div
from records.templates import FieldKind, SectionSpec, Template, TemplateCode, template
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent

Resource = dict[str, object]
_NAMESPACE = uuid.UUID("6f1c9a52-3f0e-4c5e-9a57-2b8f3f1d7c10")
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
_PARTICIPATION = {
    Role.PHYSICIAN: ("CON", "consultant"),
    Role.INTERPRETER: ("TRANSL", "Translator"),
    Role.COMPANION: ("ESC", "escort"),
}
_BODY_MEASURES = (("weight", "weight_kg", codes.WEIGHT, "kg"), ("height", "height_cm", codes.HEIGHT, "cm"))
"""The measures a note's vitals report as they are: (Observation name, field, LOINC code, UCUM unit)."""


def derived_id(scope: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{scope}/{name}"))


def encounter_id(consult_id: str) -> str:
    return derived_id(f"consult:{consult_id}", "Encounter")


def composition_id(note_id: str) -> str:
    return derived_id(f"note:{note_id}", "Composition")


def bundle_id(note_id: str) -> str:
    return derived_id(f"note:{note_id}", "Bundle")


@dataclass(frozen=True, slots=True)
class ResourceIds:
    """Ids of the master-data resources, resolved by the store from their identifiers."""

    patient: str
    practitioner: str
    practitioner_role: str
    organization: str


@dataclass(frozen=True, slots=True)
class AmendedNote:
    """What an addendum needs of the signed note it amends."""

    composition_id: str
    encounter_id: str
    template: TemplateCode


@dataclass(frozen=True, slots=True)
class SignedConsult:
    note: Note
    events: Sequence[SessionEvent]
    patient: PatientFacts
    author: StaffFacts
    ids: ResourceIds
    seal: str
    source_address: str
    consent: ConsentFacts | None = None
    amended: AmendedNote | None = None


def ref(resource_type: str, resource_id: str, display: str | None = None, *, local: bool = True) -> Resource:
    result: Resource = {"reference": f"urn:uuid:{resource_id}" if local else f"{resource_type}/{resource_id}"}
    if display:
        result["display"] = display
    return result


def coding(system: str, code: str, display: str | None = None) -> Resource:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> Resource:
    return {"coding": [coding(system, code, display)], **({"text": text} if text else {})}


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class _Builder:
    def __init__(self, consult: SignedConsult) -> None:
        self.c = consult
        self.note = consult.note
        if self.note.signed_at is None:
            raise ValueError("only signed notes become FHIR resources")
        self.signed_at: datetime = self.note.signed_at
        self.tpl = template(self.note.template)
        self.entries: list[tuple[str, Resource]] = []
        self.ids = consult.ids
        self.scope = f"note:{self.note.note_id}"
        self.encounter = (
            consult.amended.encounter_id if consult.amended else encounter_id(self.note.consult_id)
        )
        local_encounter = consult.amended is None
        local_patient = consult.amended is None
        self.patient_ref = ref("Patient", self.ids.patient, consult.patient.full_name, local=local_patient)
        self.encounter_ref = ref("Encounter", self.encounter, local=local_encounter)
        self.author_ref = ref("PractitionerRole", self.ids.practitioner_role, consult.author.full_name)
        self.practitioner_ref = ref("Practitioner", self.ids.practitioner, consult.author.full_name)
        self.org_ref = ref("Organization", self.ids.organization, consult.author.unit.name)
        self.start = visit_span(consult.events, self.signed_at)[0]

    def add(self, resource: Resource) -> Resource:
        self.entries.append((str(resource["resourceType"]), resource))
        return ref(str(resource["resourceType"]), str(resource["id"]))

    def own_id(self, name: str) -> str:
        return derived_id(self.scope, name)

    # master data -------------------------------------------------------------------------------
    def patient(self) -> None:
        self.add(patient_resource(self.c.patient, self.ids.patient))

    def staff(self) -> None:
        a = self.c.author
        cedula = identifier(CEDULA_SYSTEM, a.licence, "LN", "Cédula profesional")
        self.add(
            {
                "resourceType": "Organization",
                "id": self.ids.organization,
                "identifier": [identifier(CLUES_SYSTEM, a.unit.clues, "FI", "CLUES")],
                "active": True,
                "name": a.unit.name,
            }
        )
        self.add(
            {
                "resourceType": "Practitioner",
                "id": self.ids.practitioner,
                "identifier": [cedula, {"use": "secondary", "system": STAFF_SYSTEM, "value": a.staff_id}],
                "active": True,
                "name": [{"use": "official", "text": a.full_name}],
                "qualification": [{"identifier": [cedula], "code": {"text": a.profession}}],
            }
        )
        self.add(
            {
                "resourceType": "PractitionerRole",
                "id": self.ids.practitioner_role,
                "active": True,
                "practitioner": self.practitioner_ref,
                "organization": self.org_ref,
                "code": [concept(codes.PRACTITIONER_ROLE, a.role.value)],
            }
        )

    # the encounter from the session log ------------------------------------------------------------
    def encounter_resource(self, reason: Resource | None) -> None:
        resource: Resource = {
            "resourceType": "Encounter",
            "id": self.encounter,
            "identifier": [{"system": CONSULT_SYSTEM, "value": self.note.consult_id}],
            "status": "in-progress",  # the status, participants and period follow the session log
            "class": coding(codes.V3_ACT_CODE, "VR", "virtual"),
            "type": [concept(codes.TEMPLATE, self.tpl.code.value, self.tpl.title_en, self.tpl.title_es)],
            "subject": self.patient_ref,
            "participant": [],
            "period": {},
            "serviceProvider": self.org_ref,
        }
        _follow_session(resource, self.c.events, self.c.author.staff_id, self.author_ref, self.signed_at)
        if reason:
            resource["reasonCode"] = [reason]
        self.add(resource)

    # observations --------------------------------------------------------------------------------
    def observation(self, name: str, category: str, code: Resource, **values: object) -> Resource:
        resource: Resource = {
            "resourceType": "Observation",
            "id": self.own_id(f"Observation/{name}"),
            "status": "final",
            "category": [concept(codes.OBSERVATION_CATEGORY, category)],
            "code": code,
            "subject": self.patient_ref,
            "encounter": self.encounter_ref,
            "effectiveDateTime": _at(self.start),
            "issued": _at(self.signed_at),
            "performer": [self.author_ref],
        }
        resource.update(values)
        return self.add(resource)

    def vitals(self, fields: Mapping[str, FieldValue]) -> list[Resource]:
        refs: list[Resource] = []
        reported = {
            "performer": [self.patient_ref],
            "note": [{"text": "Referido por el paciente / patient-reported"}],
        }

        def quantity(value: float, unit: str) -> Resource:
            return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}

        for name, key, loinc, unit in _BODY_MEASURES:
            value = fields.get(key)
            if isinstance(value, int | float):
                refs.append(
                    self.observation(
                        name,
                        "vital-signs",
                        concept(codes.LOINC, *loinc),
                        valueQuantity=quantity(float(value), unit),
                        **reported,
                    )
                )
        weight, height = fields.get("weight_kg"), fields.get("height_cm")
        if isinstance(weight, int | float) and isinstance(height, int | float):
            bmi = round(weight / (height / 100) ** 2, 1)
            flag = ("L", "Low") if bmi < 18.5 else ("H", "High") if bmi >= 25 else ("N", "Normal")
            refs.append(
                self.observation(
                    "bmi",
                    "vital-signs",
                    concept(codes.LOINC, *codes.BMI),
                    valueQuantity=quantity(bmi, "kg/m2"),
                    interpretation=[concept(codes.V3_INTERPRETATION, *flag)],
                    derivedFrom=[refs[-2], refs[-1]],
                )
            )
        systolic, diastolic = fields.get("systolic_mmhg"), fields.get("diastolic_mmhg")
        if isinstance(systolic, int) and isinstance(diastolic, int):
            refs.append(
                self.observation(
                    "blood-pressure",
                    "vital-signs",
                    concept(codes.LOINC, *codes.BLOOD_PRESSURE),
                    component=[
                        {
                            "code": concept(codes.LOINC, *codes.SYSTOLIC),
                            "valueQuantity": quantity(systolic, "mm[Hg]"),
                        },
                        {
                            "code": concept(codes.LOINC, *codes.DIASTOLIC),
                            "valueQuantity": quantity(diastolic, "mm[Hg]"),
                        },
                    ],
                    **reported,
                )
            )
        glucose = fields.get("glucose_mg_dl")
        if isinstance(glucose, int):
            fasting = fields.get("glucose_fasting")
            when = (
                {True: "En ayuno / fasting", False: "Casual / random"}.get(fasting)
                if isinstance(fasting, bool)
                else None
            )
            patient_note: Resource = {"text": "Referido por el paciente / patient-reported"}
            extra = {**reported, "note": [patient_note, *([{"text": when}] if when else [])]}
            refs.append(
                self.observation(
                    "glucose",
                    "laboratory",
                    concept(codes.LOINC, *codes.GLUCOSE),
                    valueQuantity=quantity(glucose, "mg/dL"),
                    **extra,
                )
            )
        return refs

    def screening(self, section: SectionSpec, fields: Mapping[str, FieldValue]) -> list[Resource]:
        refs: list[Resource] = []

        def choice_concept(key: str, system: str) -> Resource:
            spec = section.field(key)
            value = str(fields[key])
            choice = spec.choice(value) if spec else None
            return concept(system, value, choice.en if choice else None, choice.es if choice else None)

        score = fields.get("findrisc_score")
        if "diabetes_risk" in fields or isinstance(score, int):
            values: dict[str, object] = {}
            if "diabetes_risk" in fields:
                values["valueCodeableConcept"] = choice_concept("diabetes_risk", codes.RISK_LEVEL)
            if isinstance(score, int):
                values["component"] = [
                    {
                        "code": concept(codes.SCREENING, "findrisc-score", "FINDRISC score"),
                        "valueInteger": score,
                    }
                ]
            refs.append(
                self.observation(
                    "diabetes-risk",
                    "survey",
                    concept(codes.SCREENING, "diabetes-risk", "Diabetes risk"),
                    **values,
                )
            )
        if "hypertension_risk" in fields:
            refs.append(
                self.observation(
                    "hypertension-risk",
                    "survey",
                    concept(codes.SCREENING, "hypertension-risk", "Hypertension risk"),
                    valueCodeableConcept=choice_concept("hypertension_risk", codes.RISK_LEVEL),
                )
            )
        if "tobacco" in fields:
            answer = codes.TOBACCO_ANSWERS[str(fields["tobacco"])]
            refs.append(
                self.observation(
                    "tobacco",
                    "social-history",
                    concept(codes.LOINC, *codes.TOBACCO_STATUS),
                    valueCodeableConcept=concept(codes.SNOMED, *answer),
                )
            )
        if "alcohol" in fields:
            refs.append(
                self.observation(
                    "alcohol",
                    "social-history",
                    concept(codes.LOINC, *codes.ALCOHOL_HISTORY),
                    valueCodeableConcept=choice_concept("alcohol", codes.ALCOHOL_USE),
                )
            )
        interest, mood = fields.get("phq2_interest"), fields.get("phq2_mood")
        if isinstance(interest, int) and isinstance(mood, int):
            total = interest + mood
            flag = ("POS", "Positive") if total >= 3 else ("NEG", "Negative")
            refs.append(
                self.observation(
                    "phq-2",
                    "survey",
                    concept(codes.LOINC, *codes.PHQ2_TOTAL),
                    valueInteger=total,
                    interpretation=[concept(codes.V3_INTERPRETATION, *flag)],
                    component=[
                        {"code": concept(codes.LOINC, *codes.PHQ2_INTEREST), "valueInteger": interest},
                        {"code": concept(codes.LOINC, *codes.PHQ2_MOOD), "valueInteger": mood},
                    ],
                )
            )
        return refs

    # the call's quality (records/call_quality.py) -----------------------------------------------
    def call_quality(self, report: call_quality.CallQualityReport) -> tuple[list[Resource], Resource]:
        """One Observation per measure, and the Composition section that cites them and says how much
        of the consult had video. The Observations belong to the consult, like its Encounter."""
        scope = f"consult:{self.note.consult_id}"
        period = {"start": _at(report.summary.started_at), "end": _at(report.summary.ended_at)}
        refs = [
            self.add(
                {
                    "resourceType": "Observation",
                    "id": derived_id(scope, f"Observation/{call_quality.SECTION_CODE}/{measure.code}"),
                    "status": "final",
                    "code": concept(codes.CALL_QUALITY, measure.code, measure.display_en, measure.display_es),
                    "subject": self.patient_ref,
                    "encounter": self.encounter_ref,
                    "effectivePeriod": period,
                    "issued": _at(self.signed_at),
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

    # conditions, plan, referral -------------------------------------------------------------------
    def conditions(self, kind: str, texts: Sequence[str]) -> list[Resource]:
        category, status = (
            ("problem-list-item", "unconfirmed")
            if kind == "chronic"
            else ("encounter-diagnosis", "provisional")
        )
        return [
            self.add(
                {
                    "resourceType": "Condition",
                    "id": self.own_id(f"Condition/{kind}/{index}"),
                    "clinicalStatus": concept(codes.CONDITION_CLINICAL, "active"),
                    "verificationStatus": concept(codes.CONDITION_VERIFICATION, status),
                    "category": [concept(codes.CONDITION_CATEGORY, category)],
                    "code": {"text": text},
                    "subject": self.patient_ref,
                    "encounter": self.encounter_ref,
                    "recordedDate": _at(self.signed_at),
                    "recorder": self.author_ref,
                    "asserter": self.patient_ref if kind == "chronic" else self.author_ref,
                }
            )
            for index, text in enumerate(texts)
        ]

    def care_plan(
        self, section: SectionSpec, fields: Mapping[str, FieldValue], addresses: list[Resource]
    ) -> Resource:
        resource: Resource = {
            "resourceType": "CarePlan",
            "id": self.own_id("CarePlan"),
            "status": "active",
            "intent": "plan",
            "title": section.title_es,
            "description": str(fields.get("plan", "")),
            "subject": self.patient_ref,
            "encounter": self.encounter_ref,
            "created": _at(self.signed_at),
            "author": self.author_ref,
            "period": {"start": _at(self.signed_at)},
        }
        if addresses:
            resource["addresses"] = addresses
        next_contact = fields.get("next_contact")
        if isinstance(next_contact, str):
            modality = section.field("modality")
            choice = modality.choice(str(fields.get("modality"))) if modality else None
            resource["activity"] = [
                {
                    "detail": {
                        "kind": "Appointment",
                        "code": {"text": choice.es if choice else "Seguimiento"},
                        "status": "scheduled",
                        "scheduledString": next_contact,
                        "description": choice.es if choice else "Próximo contacto",
                    }
                }
            ]
        return self.add(resource)

    def referral(
        self, section: SectionSpec, fields: Mapping[str, FieldValue], reasons: list[Resource]
    ) -> Resource:
        kind_spec = section.field("kind")
        kind = str(fields["kind"])
        choice = kind_spec.choice(kind) if kind_spec else None
        performer: Resource = {"type": "Organization", "display": str(fields["destination"])}
        if "destination_clues" in fields:
            performer["identifier"] = {"system": CLUES_SYSTEM, "value": str(fields["destination_clues"])}
        notes = [
            {"text": f"{label}: {fields[key]}"}
            for key, label in (
                ("diagnostic_impression", "Impresión diagnóstica"),
                ("treatment_given", "Terapéutica empleada"),
            )
            if key in fields
        ]
        resource: Resource = {
            "resourceType": "ServiceRequest",
            "id": self.own_id("ServiceRequest"),
            "status": "active",
            "intent": "order",
            "category": [concept(codes.SNOMED, *codes.PATIENT_REFERRAL)],
            "code": concept(
                codes.REFERRAL_KIND, kind, choice.en if choice else None, choice.es if choice else None
            ),
            "priority": str(fields["urgency"]),
            "subject": self.patient_ref,
            "encounter": self.encounter_ref,
            "authoredOn": _at(self.signed_at),
            "requester": self.author_ref,
            "performer": [performer],
            "reasonCode": [{"text": str(fields["reason"])}],
        }
        if "specialty" in fields:
            resource["performerType"] = {"text": str(fields["specialty"])}
        if reasons:
            resource["reasonReference"] = reasons
        if notes:
            resource["note"] = notes
        return self.add(resource)

    def consents(self, consent: ConsentFacts) -> list[Resource]:
        refs = [
            self._consent(
                "teleconsult",
                concept(codes.CONSENT_SCOPE, "treatment", "Treatment"),
                concept(codes.CONSENT_CATEGORY, "teleconsultation", "Teleconsultation"),
                consent.teleconsult_at,
                ("collect", "use"),
            )
        ]
        if consent.recording_at is not None:
            refs.append(
                self._consent(
                    "recording",
                    concept(codes.CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
                    concept(codes.CONSENT_CATEGORY, "recording", "Recording of the teleconsultation"),
                    consent.recording_at,
                    ("collect",),
                )
            )
        return refs

    def _consent(
        self, name: str, scope: Resource, category: Resource, given_at: datetime, actions: Sequence[str]
    ) -> Resource:
        """A consent the patient gave the unit (opt-in, from ``given_at``) to ``actions`` on their data."""
        return self.add(
            {
                "resourceType": "Consent",
                "id": derived_id(f"consult:{self.note.consult_id}", f"Consent/{name}"),
                "status": "active",
                "scope": scope,
                "category": [concept(codes.LOINC, *codes.CONSENT_LOINC), category],
                "patient": self.patient_ref,
                "dateTime": _at(given_at),
                "organization": [self.org_ref],
                "policyRule": concept(codes.V3_ACT_CODE, "OPTIN", "opt-in"),
                "provision": {
                    "type": "permit",
                    "period": {"start": _at(given_at)},
                    "action": [concept(codes.CONSENT_ACTION, action) for action in actions],
                },
            }
        )

    # the note ---------------------------------------------------------------------------------------
    def composition(
        self, section_entries: Mapping[str, list[Resource]], extra_sections: Sequence[Resource] = ()
    ) -> Resource:
        doc: Template = template(self.c.amended.template) if self.c.amended else self.tpl
        sections: list[Resource] = []
        for section in self.tpl.sections:
            fields = self.note.content.get(section.code)
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
        title = f"{self.tpl.title_es} — {doc.title_es}" if self.c.amended else self.tpl.title_es
        resource: Resource = {
            "resourceType": "Composition",
            "id": composition_id(self.note.note_id),
            "identifier": {"system": NOTE_SYSTEM, "value": self.note.note_id},
            "status": "final",
            "type": concept(codes.LOINC, doc.loinc, doc.loinc_display),
            "category": [concept(codes.TEMPLATE, self.tpl.code.value, self.tpl.title_en, self.tpl.title_es)],
            "subject": self.patient_ref,
            "encounter": self.encounter_ref,
            "date": _at(self.signed_at),
            "author": [self.author_ref],
            "title": title,
            "confidentiality": "N",
            "attester": [{"mode": "legal", "time": _at(self.signed_at), "party": self.author_ref}],
            "custodian": self.org_ref,
            "section": sections,
        }
        if self.c.amended:
            resource["relatesTo"] = [
                {
                    "code": "appends",
                    "targetReference": ref("Composition", self.c.amended.composition_id, local=False),
                }
            ]
        return self.add(resource)

    def provenance(self, targets: list[Resource]) -> None:
        amended = self.c.amended
        resource: Resource = {
            "resourceType": "Provenance",
            "id": self.own_id("Provenance"),
            "target": targets,
            "occurredDateTime": _at(self.signed_at),
            "recorded": _at(self.signed_at),
            "activity": concept(
                codes.V3_DATA_OPERATION, *(("APPEND", "append") if amended else ("CREATE", "create"))
            ),
            "agent": [
                {
                    "type": concept(codes.PROVENANCE_AGENT, "author", "Author"),
                    "who": self.practitioner_ref,
                    "onBehalfOf": self.org_ref,
                }
            ],
            "signature": [
                {
                    "type": [coding(codes.SIGNATURE_TYPE, codes.AUTHOR_SIGNATURE, "Author's Signature")],
                    "when": _at(self.signed_at),
                    "who": self.practitioner_ref,
                    "targetFormat": "application/fhir+json",
                    "data": self.c.seal,
                }
            ],
        }
        if amended:
            resource["entity"] = [
                {"role": "revision", "what": ref("Composition", amended.composition_id, local=False)}
            ]
        self.add(resource)

    def signing_audit(self, composition: Resource) -> None:
        self.add(
            audit_event(
                event_id=self.own_id("AuditEvent/sign"),
                recorded=self.signed_at,
                interaction="transaction",
                action="C",
                who=self.practitioner_ref,
                address=self.c.source_address,
                entities=[("Composition", composition), ("Patient", self.patient_ref)],
            )
        )

    def session_audits(self) -> None:
        for audit in session_audit_events(
            self.note.consult_id, self.c.events, self.patient_ref, self.encounter_ref
        ):
            self.add(audit)


def visit_span(events: Sequence[SessionEvent], fallback: datetime) -> tuple[datetime, datetime | None]:
    """When the visit ran by its session log: from the admission (else the first join, else the first
    event, else ``fallback``) to the consult's end, or None while it goes on."""
    ordered = sorted(events, key=lambda e: e.at)
    start = next((e.at for e in ordered if e.kind is EventKind.ADMITTED), None)
    start = start or next((e.at for e in ordered if e.kind is EventKind.JOINED), None)
    end = next((e.at for e in reversed(ordered) if e.kind is EventKind.ENDED), None)
    return start or (ordered[0].at if ordered else fallback), end


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
            "period": {"start": _at(first), **({"end": _at(last)} if last else {})},
            "individual": author_ref,
        }
    ]
    for actor_id, (role, first, last) in sorted(spans.items()):
        code, display = _PARTICIPATION.get(role, ("PART", "Participation"))
        result.append(
            {
                "type": [concept(codes.V3_PARTICIPATION, code, display)],
                "period": {"start": _at(first), **({"end": _at(last)} if last else {})},
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
    encounter["period"] = {"start": _at(start), **({"end": _at(end)} if end else {})}
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


def patient_resource(p: PatientFacts, patient_id: str) -> Resource:
    """The ``Patient``: NSS (v2-0203 ``SS``) and, when known, CURP (``NI``) as identifiers."""
    identifiers = [identifier(NSS_SYSTEM, p.nss, "SS", "NSS")]
    if p.curp:
        identifiers.append(identifier(CURP_SYSTEM, p.curp, "NI", "CURP"))
    resource: Resource = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": identifiers,
        "active": True,
        "name": [{"use": "official", "text": p.full_name}],
        "gender": p.sex.value,
        "birthDate": p.birth_date.isoformat(),
    }
    if p.phone:
        resource["telecom"] = [{"system": "phone", "value": p.phone, "use": "mobile"}]
    return resource


def patient_facts(resource: Mapping[str, object]) -> PatientFacts:
    """The facts back from a stored ``Patient`` (the inverse of :func:`patient_resource`)."""
    values = {
        str(i.get("system")): str(i.get("value"))
        for i in resource.get("identifier", []) or []  # type: ignore[attr-defined]
        if isinstance(i, Mapping)
    }
    names = resource.get("name") or [{}]
    phones = resource.get("telecom") or []
    return PatientFacts(
        nss=values[NSS_SYSTEM],
        full_name=str(names[0].get("text", "")),  # type: ignore[index]
        birth_date=date.fromisoformat(str(resource["birthDate"])),
        curp=values.get(CURP_SYSTEM),
        sex=Sex(str(resource.get("gender", "unknown"))),
        phone=str(phones[0]["value"]) if phones else None,  # type: ignore[index]
    )


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


def _reason(note: Note) -> Resource | None:
    content = note.content
    match note.template:
        case TemplateCode.FIRST_CONSULT:
            text = content.get("reason", {}).get("reason")
        case TemplateCode.INTER_UNIT:
            text = content.get("question", {}).get("question")
        case TemplateCode.FOLLOW_UP:
            text = "Consulta de seguimiento / follow-up consult"
        case _:
            text = None
    return {"text": str(text)} if text else None


def build_bundle(consult: SignedConsult) -> Resource:
    """The transaction Bundle for one signed note (a consult's note or an addendum)."""
    b = _Builder(consult)
    note = consult.note
    targets: list[Resource] = []
    section_entries: dict[str, list[Resource]] = {}
    extra_sections: list[Resource] = []
    b.staff()
    if consult.amended is None:
        b.patient()
        b.encounter_resource(_reason(note))
        targets.append(b.encounter_ref)
        content = note.content
        tpl = b.tpl
        if "vitals" in content:
            section_entries["vitals"] = b.vitals(content["vitals"])
        if "risk-screening" in content:
            section = tpl.section("risk-screening")
            assert section is not None
            section_entries["risk-screening"] = b.screening(section, content["risk-screening"])
        chronic = content.get("chronic-conditions", {}).get("conditions")
        if isinstance(chronic, tuple):
            section_entries["chronic-conditions"] = b.conditions("chronic", chronic)
        problems = content.get("assessment", {}).get("problems")
        problem_refs = b.conditions("problem", problems) if isinstance(problems, tuple) else []
        if problem_refs:
            section_entries["assessment"] = problem_refs
        plan_section = tpl.section("follow-up-plan")
        if plan_section is not None and "follow-up-plan" in content:
            section_entries["follow-up-plan"] = [
                b.care_plan(plan_section, content["follow-up-plan"], problem_refs)
            ]
        referral_section = tpl.section("referral")
        referral = content.get("referral", {})
        if referral_section is not None and referral.get("needed") is True:
            section_entries["referral"] = [b.referral(referral_section, referral, problem_refs)]
        for refs in section_entries.values():
            targets.extend(refs)
        if consult.consent is not None:
            targets.extend(b.consents(consult.consent))
        quality = call_quality.call_quality_report(consult.events)
        if quality is not None:  # the consult ended before signing: its call's quality
            quality_refs, quality_section = b.call_quality(quality)
            targets.extend(quality_refs)
            extra_sections.append(quality_section)
    composition = b.composition(section_entries, extra_sections)
    targets.insert(0, composition)
    b.provenance(targets)
    b.signing_audit(composition)
    if consult.amended is None:
        b.session_audits()
    return {
        "resourceType": "Bundle",
        "id": bundle_id(note.note_id),
        "type": "transaction",
        "timestamp": _at(b.signed_at),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{resource['id']}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{resource_type}/{resource['id']}"},
            }
            for resource_type, resource in b.entries
        ],
    }


def staff_ids(author: StaffFacts, patient_id: str) -> ResourceIds:
    """Deterministic ids from cédula and CLUES: two signs by a new nurse at once create one Practitioner."""
    practitioner = derived_id(f"cedula:{author.licence}", "Practitioner")
    organization = derived_id(f"clues:{author.unit.clues}", "Organization")
    role = derived_id(
        f"cedula:{author.licence}/clues:{author.unit.clues}/{author.role.value}", "PractitionerRole"
    )
    return ResourceIds(patient_id, practitioner, role, organization)
