"""The note templates as data: sections with stable codes, titles in Spanish and English, field limits.

The nurse console draws its form from these values, the store validates drafts against them and the
FHIR builder turns each section into one ``Composition.section``. Codes are stable once published:
stored notes keep them, so a section is renamed by changing its titles, never its code. A section
has a LOINC code where a standard one exists; otherwise the builder uses our own CodeSystem.

Each section also lists the NOM-004-SSA3-2012 numerals it satisfies (see ``docs/records.md``), so
the mapping lives beside the fields that carry it and cannot silently drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LABEL_SEPARATOR = " \u203a "
"""Between a section's and a field's title where the nurse reads a field's name (U+203A)."""


class TemplateCode(StrEnum):
    FIRST_CONSULT = "first-consult"
    FOLLOW_UP = "follow-up"
    INTER_UNIT = "inter-unit"
    ADDENDUM = "addendum"


class FieldKind(StrEnum):
    TEXT = "text"
    TEXT_LIST = "text-list"
    NUMBER = "number"
    INTEGER = "integer"
    CHOICE = "choice"
    BOOLEAN = "boolean"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class Choice:
    code: str
    es: str
    en: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: str
    kind: FieldKind
    title_es: str
    title_en: str
    required: bool = False
    max_length: int = 2000
    """Characters for text; characters per item for lists."""
    max_items: int = 20
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    """UCUM unit of a number, e.g. ``kg``; the builder copies it into ``Quantity``."""
    choices: tuple[Choice, ...] = ()
    identifier: str | None = None
    """Text that the record stores as an identifier (``"clues"``) must be one, checked at every save:
    a draft that saves must sign."""

    def choice(self, code: str) -> Choice | None:
        return next((c for c in self.choices if c.code == code), None)


@dataclass(frozen=True, slots=True)
class SectionSpec:
    code: str
    title_es: str
    title_en: str
    fields: tuple[FieldSpec, ...]
    loinc: str | None = None
    loinc_display: str | None = None
    nom004: tuple[str, ...] = ()

    def field(self, key: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.key == key), None)

    def labels(self, key: str | None = None, index: int | None = None) -> tuple[str, str]:
        """What the nurse reads for a field (Spanish, English): section title, :data:`LABEL_SEPARATOR`,
        field title, and for a list item which line (``(línea 2)``).

        A field titled like its section is named once; ``index`` is 0-based, lines count from 1.
        """
        spec = self.field(key) if key is not None else None
        es, en = self.title_es, self.title_en
        if spec is not None and spec.title_es != self.title_es:
            es, en = f"{es}{LABEL_SEPARATOR}{spec.title_es}", f"{en}{LABEL_SEPARATOR}{spec.title_en}"
        elif spec is None and key is not None:
            es, en = f"{es}{LABEL_SEPARATOR}{key}", f"{en}{LABEL_SEPARATOR}{key}"
        if index is not None:
            es, en = f"{es} (línea {index + 1})", f"{en} (line {index + 1})"
        return es, en


@dataclass(frozen=True, slots=True)
class Template:
    code: TemplateCode
    title_es: str
    title_en: str
    loinc: str
    loinc_display: str
    nom004_document: str
    sections: tuple[SectionSpec, ...]

    def section(self, code: str) -> SectionSpec | None:
        return next((s for s in self.sections if s.code == code), None)


def _text(key: str, es: str, en: str, *, required: bool = False, max_length: int = 2000) -> FieldSpec:
    return FieldSpec(key, FieldKind.TEXT, es, en, required=required, max_length=max_length)


def _list(key: str, es: str, en: str, *, max_items: int = 20, max_length: int = 300) -> FieldSpec:
    return FieldSpec(key, FieldKind.TEXT_LIST, es, en, max_items=max_items, max_length=max_length)


RISK_LEVELS = (
    Choice("low", "Bajo", "Low"),
    Choice("moderate", "Moderado", "Moderate"),
    Choice("high", "Alto", "High"),
    Choice("very-high", "Muy alto", "Very high"),
)
TOBACCO = (
    Choice("never", "Nunca ha fumado", "Never smoked"),
    Choice("former", "Exfumador", "Former smoker"),
    Choice("current", "Fuma actualmente", "Current smoker"),
)
ALCOHOL = (
    Choice("none", "No consume", "No alcohol use"),
    Choice("low-risk", "Consumo de bajo riesgo", "Low-risk use"),
    Choice("risky", "Consumo de riesgo", "Risky use"),
)
URGENCY = (  # FHIR request-priority codes, so ServiceRequest.priority takes them as they are.
    Choice("routine", "Ordinaria", "Routine"),
    Choice("urgent", "Urgente", "Urgent"),
    Choice("asap", "Lo antes posible", "As soon as possible"),
    Choice("stat", "Inmediata", "Immediate"),
)
REFERRAL_KINDS = (
    Choice("in-person", "Consulta presencial en su unidad de medicina familiar", "In-person family medicine"),
    Choice("specialist", "Especialista (segundo nivel)", "Specialist (second level)"),
    Choice("high-specialty", "Alta especialidad (tercer nivel)", "High specialty (third level)"),
    Choice("emergency", "Urgencias", "Emergency department"),
)
FOLLOW_UP_MODALITY = (
    Choice("teleconsult", "Teleconsulta", "Teleconsultation"),
    Choice("in-person", "Presencial", "In person"),
)
SESSION_KINDS = (
    Choice("emergency-valuation", "Valoración de urgencia", "Emergency valuation"),
    Choice("surgical-planning", "Planeación quirúrgica", "Surgical planning"),
    Choice("case-presentation", "Presentación de caso", "Case presentation"),
    Choice("second-opinion", "Segunda opinión", "Second opinion"),
)

VITALS = SectionSpec(
    "vitals",
    "Signos vitales referidos por el paciente",
    "Vital signs reported by the patient",
    (
        FieldSpec("weight_kg", FieldKind.NUMBER, "Peso", "Weight", minimum=1, maximum=400, unit="kg"),
        FieldSpec("height_cm", FieldKind.NUMBER, "Talla", "Height", minimum=30, maximum=250, unit="cm"),
        FieldSpec(
            "systolic_mmhg",
            FieldKind.INTEGER,
            "Presión sistólica",
            "Systolic pressure",
            minimum=50,
            maximum=300,
            unit="mm[Hg]",
        ),
        FieldSpec(
            "diastolic_mmhg",
            FieldKind.INTEGER,
            "Presión diastólica",
            "Diastolic pressure",
            minimum=20,
            maximum=200,
            unit="mm[Hg]",
        ),
        FieldSpec(
            "glucose_mg_dl",
            FieldKind.INTEGER,
            "Glucosa capilar",
            "Capillary glucose",
            minimum=20,
            maximum=800,
            unit="mg/dL",
        ),
        FieldSpec("glucose_fasting", FieldKind.BOOLEAN, "Glucosa en ayuno", "Fasting glucose"),
        _text(
            "appearance",
            "Habitus exterior observado por video",
            "General appearance seen on video",
            max_length=1000,
        ),
    ),
    loinc="8716-3",
    loinc_display="Vital signs",
    nom004=("6.1.2", "6.2.2"),
)

RESULTS = SectionSpec(
    "results",
    "Resultados relevantes de estudios",
    "Relevant study results",
    (
        _text(
            "results",
            "Resultados de laboratorio, gabinete y otros",
            "Laboratory, imaging and other results",
            max_length=4000,
        ),
    ),
    loinc="30954-2",
    loinc_display="Relevant diagnostic tests/laboratory data Narrative",
    nom004=("6.1.3", "6.2.3"),
)

ASSESSMENT = SectionSpec(
    "assessment",
    "Diagnósticos o problemas clínicos y pronóstico",
    "Clinical problems and prognosis",
    (
        _list(
            "problems",
            "Problemas clínicos o diagnósticos de enfermería",
            "Clinical or nursing problems",
            max_items=15,
        ),
        _text("prognosis", "Pronóstico", "Prognosis", max_length=1000),
    ),
    loinc="51848-0",
    loinc_display="Evaluation note",
    nom004=("6.1.4", "6.1.5", "6.2.4", "6.2.5"),
)

RECOMMENDATIONS = SectionSpec(
    "recommendations",
    "Recomendaciones e indicaciones",
    "Recommendations and instructions",
    (_text("recommendations", "Recomendaciones", "Recommendations", required=True, max_length=4000),),
    loinc="69730-0",
    loinc_display="Instructions",
    nom004=("6.1.6", "6.2.6"),
)

FOLLOW_UP_PLAN = SectionSpec(
    "follow-up-plan",
    "Plan de seguimiento",
    "Follow-up plan",
    (
        _text("plan", "Plan", "Plan", required=True),
        FieldSpec("next_contact", FieldKind.DATE, "Próximo contacto", "Next contact"),
        FieldSpec("modality", FieldKind.CHOICE, "Modalidad", "Modality", choices=FOLLOW_UP_MODALITY),
    ),
    loinc="18776-5",
    loinc_display="Plan of care note",
    nom004=("6.1.6", "6.2.6"),
)

REFERRAL = SectionSpec(
    "referral",
    "Referencia a atención presencial o de especialidad",
    "Referral to in-person or specialist care",
    (
        FieldSpec("needed", FieldKind.BOOLEAN, "Requiere referencia", "Referral needed"),
        FieldSpec("kind", FieldKind.CHOICE, "Tipo de referencia", "Kind of referral", choices=REFERRAL_KINDS),
        FieldSpec("urgency", FieldKind.CHOICE, "Urgencia", "Urgency", choices=URGENCY),
        _text("specialty", "Especialidad", "Specialty", max_length=200),
        _text("destination", "Establecimiento receptor", "Receiving establishment", max_length=300),
        FieldSpec(
            "destination_clues",
            FieldKind.TEXT,
            "CLUES del establecimiento receptor",
            "CLUES of the receiving establishment",
            max_length=11,
            identifier="clues",
        ),
        _text("reason", "Motivo de envío", "Reason for referral"),
        _text("diagnostic_impression", "Impresión diagnóstica", "Diagnostic impression"),
        _text("treatment_given", "Terapéutica empleada", "Treatment given"),
    ),
    loinc="42349-1",
    loinc_display="Reason for referral (narrative)",
    nom004=("6.4.1", "6.4.2", "6.4.3.1", "6.4.3.2", "6.4.3.3"),
)

REFERRAL_REQUIRED_WHEN_NEEDED = ("kind", "urgency", "destination", "reason", "diagnostic_impression")
"""A referral that is needed must say where to, how urgently and why (NOM-004 6.4)."""

FIRST_CONSULT = Template(
    TemplateCode.FIRST_CONSULT,
    "Primera consulta (historia clínica)",
    "First consult (clinical history)",
    "34117-2",
    "History and physical note",
    "6.1 Historia clínica",
    (
        SectionSpec(
            "reason",
            "Motivo de consulta y padecimiento actual",
            "Reason for consult and present illness",
            (
                _text("reason", "Motivo de consulta", "Reason for consult", required=True, max_length=1000),
                _text("present_illness", "Padecimiento actual", "Present illness", max_length=4000),
            ),
            loinc="29299-5",
            loinc_display="Reason for visit Narrative",
            nom004=("6.1.1",),
        ),
        SectionSpec(
            "personal-history",
            "Antecedentes personales",
            "Personal history",
            (
                _text("pathological", "Personales patológicos", "Past illnesses", max_length=4000),
                _text(
                    "non_pathological",
                    "Personales no patológicos",
                    "Non-pathological history",
                    max_length=4000,
                ),
                _text(
                    "ethnic_group",
                    "Grupo étnico (si el paciente lo refiere)",
                    "Ethnic group (if stated)",
                    max_length=100,
                ),
            ),
            loinc="11348-0",
            loinc_display="History of Past illness Narrative",
            nom004=("6.1.1",),
        ),
        SectionSpec(
            "family-history",
            "Antecedentes heredofamiliares",
            "Family history",
            (_text("family_history", "Antecedentes heredofamiliares", "Family history", max_length=4000),),
            loinc="10157-6",
            loinc_display="History of family member diseases Narrative",
            nom004=("6.1.1",),
        ),
        SectionSpec(
            "chronic-conditions",
            "Enfermedades crónicas",
            "Chronic conditions",
            (
                _list(
                    "conditions", "Enfermedades crónicas", "Chronic conditions", max_items=20, max_length=200
                ),
            ),
            loinc="11450-4",
            loinc_display="Problem list - Reported",
            nom004=("6.1.1",),
        ),
        SectionSpec(
            "medications",
            "Medicamentos que toma",
            "Current medications",
            (
                _list(
                    "medications",
                    "Medicamento, dosis, vía y frecuencia",
                    "Drug, dose, route and frequency",
                    max_items=30,
                ),
            ),
            loinc="10160-0",
            loinc_display="History of Medication use Narrative",
            nom004=("6.1.1",),
        ),
        SectionSpec(
            "allergies",
            "Alergias",
            "Allergies",
            (
                FieldSpec("none_known", FieldKind.BOOLEAN, "Sin alergias conocidas", "No known allergies"),
                _list("allergies", "Alergias", "Allergies", max_items=20, max_length=200),
            ),
            loinc="48765-2",
            loinc_display="Allergies and adverse reactions Document",
            nom004=("6.1.1",),
        ),
        VITALS,
        SectionSpec(
            "risk-screening",
            "Detección de riesgos",
            "Risk screening",
            (
                FieldSpec(
                    "findrisc_score",
                    FieldKind.INTEGER,
                    "Puntaje FINDRISC",
                    "FINDRISC score",
                    minimum=0,
                    maximum=26,
                ),
                FieldSpec(
                    "diabetes_risk",
                    FieldKind.CHOICE,
                    "Riesgo de diabetes",
                    "Diabetes risk",
                    choices=RISK_LEVELS,
                ),
                FieldSpec(
                    "hypertension_risk",
                    FieldKind.CHOICE,
                    "Riesgo de hipertensión",
                    "Hypertension risk",
                    choices=RISK_LEVELS,
                ),
                FieldSpec("tobacco", FieldKind.CHOICE, "Tabaco", "Tobacco", choices=TOBACCO),
                FieldSpec("alcohol", FieldKind.CHOICE, "Alcohol", "Alcohol", choices=ALCOHOL),
                FieldSpec(
                    "phq2_interest",
                    FieldKind.INTEGER,
                    "PHQ-2: poco interés o placer",
                    "PHQ-2: little interest or pleasure",
                    minimum=0,
                    maximum=3,
                ),
                FieldSpec(
                    "phq2_mood",
                    FieldKind.INTEGER,
                    "PHQ-2: decaído, deprimido o sin esperanza",
                    "PHQ-2: feeling down, depressed or hopeless",
                    minimum=0,
                    maximum=3,
                ),
            ),
            nom004=("6.1.1",),
        ),
        SectionSpec(
            "prevention",
            "Promoción de la salud y acciones preventivas",
            "Health promotion and preventive actions",
            (_list("actions", "Acciones", "Actions", max_items=20),),
            nom004=("6.1.6",),
        ),
        RESULTS,
        ASSESSMENT,
        RECOMMENDATIONS,
        FOLLOW_UP_PLAN,
        REFERRAL,
    ),
)

FOLLOW_UP = Template(
    TemplateCode.FOLLOW_UP,
    "Seguimiento (nota de evolución)",
    "Follow-up (progress note)",
    "11506-3",
    "Progress note",
    "6.2 Nota de evolución",
    (
        SectionSpec(
            "evolution",
            "Evolución y actualización del cuadro clínico",
            "Course and update of the clinical picture",
            (
                _text("evolution", "Evolución", "Course", required=True, max_length=4000),
                _text(
                    "substance_use",
                    "Tabaco, alcohol y otras sustancias",
                    "Tobacco, alcohol and other substances",
                    max_length=1000,
                ),
            ),
            loinc="10164-2",
            loinc_display="History of Present illness Narrative",
            nom004=("6.2.1",),
        ),
        VITALS,
        RESULTS,
        ASSESSMENT,
        SectionSpec(
            "treatment",
            "Tratamiento e indicaciones",
            "Treatment and instructions",
            (
                _list(
                    "medications",
                    "Medicamento, dosis, vía y periodicidad",
                    "Drug, dose, route and frequency",
                    max_items=30,
                ),
                _text("indications", "Indicaciones", "Instructions", max_length=4000),
            ),
            nom004=("6.2.6",),
        ),
        RECOMMENDATIONS,
        FOLLOW_UP_PLAN,
        REFERRAL,
    ),
)

INTER_UNIT = Template(
    TemplateCode.INTER_UNIT,
    "Conclusiones de sesión interunidades (nota de interconsulta)",
    "Inter-unit session conclusions (consultation note)",
    "11488-4",
    "Consult note",
    "6.3 Nota de interconsulta",
    (
        SectionSpec(
            "participants",
            "Participantes",
            "Participants",
            (
                FieldSpec(
                    "session_kind",
                    FieldKind.CHOICE,
                    "Tipo de sesión",
                    "Kind of session",
                    required=True,
                    choices=SESSION_KINDS,
                ),
                FieldSpec(
                    "participants",
                    FieldKind.TEXT_LIST,
                    "Nombre, unidad y papel",
                    "Name, unit and role",
                    required=True,
                    max_items=8,
                    max_length=300,
                ),
            ),
        ),
        SectionSpec(
            "question",
            "Pregunta de la interconsulta",
            "Consultation question",
            (_text("question", "Pregunta", "Question", required=True, max_length=2000),),
            loinc="42349-1",
            loinc_display="Reason for referral (narrative)",
        ),
        SectionSpec(
            "opinion",
            "Opinión: criterios diagnósticos y sugerencias",
            "Opinion: diagnostic criteria and suggestions",
            (
                _text(
                    "diagnostic_criteria",
                    "Criterios diagnósticos",
                    "Diagnostic criteria",
                    required=True,
                    max_length=4000,
                ),
                _text(
                    "opinion",
                    "Sugerencias diagnósticas y de tratamiento",
                    "Diagnostic and treatment suggestions",
                    required=True,
                    max_length=4000,
                ),
            ),
            loinc="51848-0",
            loinc_display="Evaluation note",
            nom004=("6.3.1", "6.3.3"),
        ),
        SectionSpec(
            "plan",
            "Plan",
            "Plan",
            (
                _text("study_plan", "Plan de estudios", "Study plan", max_length=2000),
                _text("plan", "Plan acordado", "Agreed plan", required=True, max_length=4000),
            ),
            loinc="18776-5",
            loinc_display="Plan of care note",
            nom004=("6.3.2", "6.3.3"),
        ),
    ),
)

ADDENDUM = Template(
    TemplateCode.ADDENDUM,
    "Adenda (nota aclaratoria)",
    "Addendum",
    "34117-2",  # replaced by the amended note's document type when the Composition is built
    "History and physical note",
    "5.11 Sin enmendaduras: las correcciones se agregan",
    (
        SectionSpec(
            "addendum",
            "Adenda",
            "Addendum",
            (_text("text", "Texto de la adenda", "Addendum text", required=True, max_length=4000),),
            nom004=("5.10", "5.11"),
        ),
    ),
)

TEMPLATES: dict[TemplateCode, Template] = {
    t.code: t for t in (FIRST_CONSULT, FOLLOW_UP, INTER_UNIT, ADDENDUM)
}


def template(code: TemplateCode | str) -> Template:
    return TEMPLATES[TemplateCode(code)]
