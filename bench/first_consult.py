"""A complete first-consult note: every section of the template filled, as a nurse would.

The record benchmark signs it against a full store (its row sizes and the ~30 resources it
becomes are what ``bench.records`` measures), and the record tests use it as their typical note;
it lives here because a benchmark must not import the test suite.
"""

from __future__ import annotations

from typing import Any

FIRST_CONSULT_CONTENT: dict[str, Any] = {
    "reason": {
        "reason": "Control de glucosa; refiere cifras < 200",
        "present_illness": "Sed y poliuria\n2 semanas",
    },
    "personal-history": {"pathological": "Apendicectomía 1990", "non_pathological": "Camina 30 min diarios"},
    "family-history": {"family_history": "Madre con diabetes tipo 2"},
    "chronic-conditions": {"conditions": ["Diabetes tipo 2", "Hipertensión arterial"]},
    "medications": {"medications": ["Metformina 850 mg vía oral cada 12 h"]},
    "allergies": {"none_known": True},
    "vitals": {
        "weight_kg": 82.5,
        "height_cm": 165,
        "systolic_mmhg": 135,
        "diastolic_mmhg": 85,
        "glucose_mg_dl": 160,
        "glucose_fasting": True,
        "appearance": "Consciente, orientado, buen color",
    },
    "risk-screening": {
        "findrisc_score": 15,
        "diabetes_risk": "high",
        "hypertension_risk": "moderate",
        "tobacco": "former",
        "alcohol": "low-risk",
        "phq2_interest": 1,
        "phq2_mood": 2,
    },
    "prevention": {"actions": ["Vacuna contra influenza", "Detección de cáncer de próstata"]},
    "results": {"results": "HbA1c 8.1 % (enero)"},
    "assessment": {"problems": ["Descontrol glucémico"], "prognosis": "Bueno para la función"},
    "recommendations": {"recommendations": "Plan de alimentación y actividad física"},
    "follow-up-plan": {
        "plan": "Revisar glucosas en 2 semanas",
        "next_contact": "2026-03-16",
        "modality": "teleconsult",
    },
    "referral": {
        "needed": True,
        "kind": "specialist",
        "urgency": "routine",
        "specialty": "Endocrinología",
        "destination": "HGZ 1A Los Venados",
        "destination_clues": "DFIMS000034",
        "reason": "Descontrol glucémico",
        "diagnostic_impression": "Diabetes tipo 2 descontrolada",
        "treatment_given": "Metformina",
    },
}
