"""The note's own ``Observation``\\ s: the vitals the patient reports and the risk screening's answers."""

from __future__ import annotations

from collections.abc import Mapping

from records import codes
from records.bundle_context import BundleContext
from records.bundle_refs import Resource, concept, stamp
from records.notes import FieldValue
from records.templates import SectionSpec

_BODY_MEASURES = (("weight", "weight_kg", codes.WEIGHT, "kg"), ("height", "height_cm", codes.HEIGHT, "cm"))
"""The measures a note's vitals report as they are: (Observation name, field, LOINC code, UCUM unit)."""


def observation(ctx: BundleContext, name: str, category: str, code: Resource, **values: object) -> Resource:
    resource: Resource = {
        "resourceType": "Observation",
        "id": ctx.own_id(f"Observation/{name}"),
        "status": "final",
        "category": [concept(codes.OBSERVATION_CATEGORY, category)],
        "code": code,
        "subject": ctx.patient_ref,
        "encounter": ctx.encounter_ref,
        "effectiveDateTime": stamp(ctx.start),
        "issued": stamp(ctx.signed_at),
        "performer": [ctx.author_ref],
    }
    resource.update(values)
    return ctx.add(resource)


def vitals(ctx: BundleContext, fields: Mapping[str, FieldValue]) -> list[Resource]:
    refs: list[Resource] = []
    reported = {
        "performer": [ctx.patient_ref],
        "note": [{"text": "Referido por el paciente / patient-reported"}],
    }

    def quantity(value: float, unit: str) -> Resource:
        return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}

    for name, key, loinc, unit in _BODY_MEASURES:
        value = fields.get(key)
        if isinstance(value, int | float):
            refs.append(
                observation(
                    ctx,
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
            observation(
                ctx,
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
            observation(
                ctx,
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
            observation(
                ctx,
                "glucose",
                "laboratory",
                concept(codes.LOINC, *codes.GLUCOSE),
                valueQuantity=quantity(glucose, "mg/dL"),
                **extra,
            )
        )
    return refs


def screening(ctx: BundleContext, section: SectionSpec, fields: Mapping[str, FieldValue]) -> list[Resource]:
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
            observation(
                ctx,
                "diabetes-risk",
                "survey",
                concept(codes.SCREENING, "diabetes-risk", "Diabetes risk"),
                **values,
            )
        )
    if "hypertension_risk" in fields:
        refs.append(
            observation(
                ctx,
                "hypertension-risk",
                "survey",
                concept(codes.SCREENING, "hypertension-risk", "Hypertension risk"),
                valueCodeableConcept=choice_concept("hypertension_risk", codes.RISK_LEVEL),
            )
        )
    if "tobacco" in fields:
        answer = codes.TOBACCO_ANSWERS[str(fields["tobacco"])]
        refs.append(
            observation(
                ctx,
                "tobacco",
                "social-history",
                concept(codes.LOINC, *codes.TOBACCO_STATUS),
                valueCodeableConcept=concept(codes.SNOMED, *answer),
            )
        )
    if "alcohol" in fields:
        refs.append(
            observation(
                ctx,
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
            observation(
                ctx,
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
