"""The patient's after-visit summary (``GET /api/summary``) and revoking its link.

Its values come from the patient's signed FHIR record, reshaped into plain bilingual text; a value
the record does not hold is null.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from web.schemas.base import DateTimeText, View


class SummaryItem(View):
    key: str
    label_es: str
    label_en: str
    value_es: str
    value_en: str


class SummarySection(View):
    code: str
    title_es: str
    title_en: str
    items: list[SummaryItem]


class SummaryNote(View):
    template: str
    title_es: str
    title_en: str
    addendum: bool
    date: str | None
    author: str | None
    sections: list[SummarySection]


class Vital(View):
    key: str = Field(description="blood_pressure, weight, height, bmi or glucose")
    label_es: str
    label_en: str
    values: list[int | float] = Field(description="systolic and diastolic for blood pressure, else one")
    unit: str
    note_es: str | None
    note_en: str | None


class Vitals(View):
    date: str | None
    items: list[Vital]


class FollowUpPlan(View):
    plan: str | None
    date: str | None
    modality_es: str | None
    modality_en: str | None


class Referral(View):
    kind_es: str
    kind_en: str
    urgency_es: str
    urgency_en: str
    destination: str | None
    specialty: str | None
    reason: str | None


class SummaryPatient(View):
    name: str | None


class SummaryVisit(View):
    start: str | None
    end: str | None
    status: str | None


class SummaryLink(View):
    url: str = Field(description="<origin>/resumen#t=<summary token>: reads this summary and nothing else")
    expires_at: DateTimeText


class NextAppointment(View):
    start: DateTimeText
    end: DateTimeText
    service_zone: str
    kind: str


class AfterVisitSummary(View):
    patient: SummaryPatient
    visit: SummaryVisit
    notes: list[SummaryNote]
    vitals: Vitals | None
    follow_up: list[FollowUpPlan]
    referrals: list[Referral]
    summary_link: SummaryLink | None = Field(description="null once revoked or expired")
    next_appointment: NextAppointment | None


class SummaryLinkRevoked(View):
    consult_id: str
    summary_link_revoked: Literal[True]
