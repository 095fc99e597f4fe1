"""Terminology used in the resources: standard code systems where they fit, ours where none does.

Standard: LOINC (documents, sections, vital signs, PHQ-2, tobacco), SNOMED CT (tobacco answers,
referral), HL7 terminology (encounter class ``VR``, participation types, consent scope, audit types).
Ours live under ``https://teleconsulta.example/fhir/CodeSystem/`` (see :mod:`records.identifiers`)
and are listed in ``docs/records.md``.
"""

from __future__ import annotations

from records.identifiers import CODE_SYSTEM

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3_DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
AUDIT_AGENT_NETWORK = "http://hl7.org/fhir/network-type"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
AUTHOR_SIGNATURE = "1.2.840.10065.1.12.1.1"

SECTION = f"{CODE_SYSTEM}/note-section"
TEMPLATE = f"{CODE_SYSTEM}/note-template"
SCREENING = f"{CODE_SYSTEM}/screening"
RISK_LEVEL = f"{CODE_SYSTEM}/risk-level"
ALCOHOL_USE = f"{CODE_SYSTEM}/alcohol-use"
REFERRAL_KIND = f"{CODE_SYSTEM}/referral-kind"
CONSENT_CATEGORY = f"{CODE_SYSTEM}/consent-category"
SESSION_EVENT = f"{CODE_SYSTEM}/session-event"
PRACTITIONER_ROLE = f"{CODE_SYSTEM}/staff-role"
RECORD_ACCESS = f"{CODE_SYSTEM}/record-access"
CALL_QUALITY = f"{CODE_SYSTEM}/call-quality"
"""What was measured of a teleconsultation's call (LOINC has no codes for it): records/call_quality.py."""
MEDIA_PATH = f"{CODE_SYSTEM}/media-path"

VITAL_SIGNS_PANEL = "85353-1"
WEIGHT = ("29463-7", "Body weight")
HEIGHT = ("8302-2", "Body height")
BMI = ("39156-5", "Body mass index (BMI) [Ratio]")
BLOOD_PRESSURE = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
GLUCOSE = ("2339-0", "Glucose [Mass/volume] in Blood")
PHQ2_TOTAL = ("55758-7", "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]")
PHQ2_INTEREST = ("44250-9", "Little interest or pleasure in doing things")
PHQ2_MOOD = ("44255-8", "Feeling down, depressed, or hopeless")
TOBACCO_STATUS = ("72166-2", "Tobacco smoking status")
ALCOHOL_HISTORY = ("11331-6", "History of Alcohol use")
TOBACCO_ANSWERS = {
    "never": ("266919005", "Never smoked tobacco"),
    "former": ("8517006", "Ex-smoker"),
    "current": ("77176002", "Smoker"),
}
PATIENT_REFERRAL = ("3457005", "Patient referral")
CONSENT_LOINC = ("59284-0", "Patient Consent")
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
COMMUNICATION_CATEGORY = f"{CODE_SYSTEM}/communication-category"
"""``teleconsult-chat``: a message of the consult's chat that the host kept in the record."""
