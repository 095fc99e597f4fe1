"""Pure rules: templates, drafts and signing, the FHIR builder and our validation of its output."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from records import notes
from records.errors import (
    IncompleteNote,
    InvalidNote,
    NoteAlreadySigned,
    NotNoteAuthor,
    RecordError,
    StaleVersion,
)
from records.fhir_api import capability_statement, operation_outcome, parse_date, parse_search
from records.fhir_bundle import ResourceIds, SignedConsult, build_bundle
from records.notes import content_digest, new_draft, revise, sign
from records.templates import TEMPLATES, FieldKind, TemplateCode
from records.validation import validate_bundle
from tests.records.helpers import CONSENT, FIRST_CONSULT_CONTENT, NURSE, PATIENT, START, session_log


def test_templates_have_stable_unique_codes_and_both_languages() -> None:
    for tpl in TEMPLATES.values():
        codes = [s.code for s in tpl.sections]
        assert len(codes) == len(set(codes))
        for section in tpl.sections:
            assert section.title_es and section.title_en
            keys = [f.key for f in section.fields]
            assert len(keys) == len(set(keys))
            for spec in section.fields:
                assert spec.title_es and spec.title_en
                if spec.kind is FieldKind.CHOICE:
                    assert spec.choices
    first = TEMPLATES[TemplateCode.FIRST_CONSULT]
    nom = {n for s in first.sections for n in s.nom004}
    assert {"6.1.1", "6.1.2", "6.1.3", "6.1.4", "6.1.5", "6.1.6", "6.4.1", "6.4.3.1"} <= nom


def test_every_field_kind_has_its_check() -> None:
    """A kind of field missing from the table of checks would only fail when a note used it."""
    assert set(notes._CLEANERS) == set(FieldKind)


def _draft() -> Any:
    return new_draft(
        note_id="n1",
        consult_id="c1",
        patient_id="p1",
        template_code=TemplateCode.FIRST_CONSULT,
        author_id=NURSE.staff_id,
        author_name=NURSE.full_name,
        at=START,
    )


def _signed() -> Any:
    note = revise(
        _draft(),
        editor_id=NURSE.staff_id,
        base_version=1,
        content=FIRST_CONSULT_CONTENT,
        at=START + timedelta(minutes=1),
    )
    return sign(note, signer_id=NURSE.staff_id, version=2, request_id="r1", at=START + timedelta(minutes=25))


def test_draft_rules() -> None:
    draft = _draft()
    saved = revise(
        draft, editor_id=NURSE.staff_id, base_version=1, content={"reason": {"reason": " Tos \r\n"}}, at=START
    )
    assert saved.version == 2 and saved.content["reason"]["reason"] == "Tos"
    with pytest.raises(StaleVersion):
        revise(saved, editor_id=NURSE.staff_id, base_version=1, content={}, at=START)
    with pytest.raises(NotNoteAuthor):
        revise(saved, editor_id="someone", base_version=2, content={}, at=START)
    with pytest.raises(IncompleteNote):
        sign(saved, signer_id=NURSE.staff_id, version=2, request_id="r", at=START)
    with pytest.raises(InvalidNote):
        new_draft(
            note_id="n2",
            consult_id="c1",
            patient_id="p1",
            template_code=TemplateCode.ADDENDUM,
            author_id="a",
            author_name="A B",
            at=START,
        )
    signed = _signed()
    with pytest.raises(NoteAlreadySigned):
        revise(signed, editor_id=NURSE.staff_id, base_version=signed.version, content={}, at=START)
    assert content_digest(signed) == content_digest(_signed())


def test_a_half_filled_phq2_or_blood_pressure_does_not_sign() -> None:
    note = revise(
        _draft(),
        editor_id=NURSE.staff_id,
        base_version=1,
        content={
            **FIRST_CONSULT_CONTENT,
            "vitals": {"systolic_mmhg": 120},
            "risk-screening": {"phq2_mood": 1},
        },
        at=START,
    )
    with pytest.raises(IncompleteNote) as error:
        sign(note, signer_id=NURSE.staff_id, version=2, request_id="r", at=START)
    assert {"vitals.diastolic_mmhg", "risk-screening.phq2_interest"} <= set(error.value.missing)


def _bundle() -> dict[str, Any]:
    consult = SignedConsult(
        _signed(),
        session_log("c1"),
        PATIENT,
        NURSE,
        ResourceIds("p1", "pr1", "prr1", "o1"),
        "c2VhbA==",
        "10.0.0.7",
        CONSENT,
    )
    return build_bundle(consult)


def _resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def test_the_builder_is_deterministic_and_valid() -> None:
    bundle = _bundle()
    assert bundle == _bundle()
    assert validate_bundle(bundle) == []
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    codes = {o["code"]["coding"][0]["code"] for o in observations}
    assert {"29463-7", "8302-2", "39156-5", "85354-9", "2339-0", "55758-7", "72166-2"} <= codes
    bmi = next(o for o in observations if o["code"]["coding"][0]["code"] == "39156-5")
    assert bmi["valueQuantity"]["value"] == 30.3 and bmi["interpretation"][0]["coding"][0]["code"] == "H"
    phq2 = next(o for o in observations if o["code"]["coding"][0]["code"] == "55758-7")
    assert phq2["valueInteger"] == 3 and phq2["interpretation"][0]["coding"][0]["code"] == "POS"
    referral = _resource(bundle, "ServiceRequest")
    assert referral["priority"] == "routine" and referral["performer"][0]["display"] == "HGZ 1A Los Venados"
    patient = _resource(bundle, "Patient")
    assert {i["system"].rsplit("/", 1)[1] for i in patient["identifier"]} == {"nss", "curp"}
    participants = _resource(bundle, "Encounter")["participant"]
    assert [p["type"][0]["coding"][0]["code"] for p in participants] == ["PPRF", "TRANSL"]


def _tampered(change: Any) -> list[str]:
    bundle = copy.deepcopy(_bundle())
    change(bundle)
    return validate_bundle(bundle)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: _resource(b, "Encounter")["class"].update(code="AMB"), "class VR"),
        (lambda b: _resource(b, "Encounter").update(status="done"), "Encounter.status"),
        (
            lambda b: _resource(b, "Encounter")["period"].update(end="2026-03-02T14:00:00+00:00"),
            "end is before start",
        ),
        (
            lambda b: _resource(b, "Encounter").update(subject={"reference": "Practitioner/x"}),
            "Encounter.subject",
        ),
        (
            lambda b: _resource(b, "Composition").update(encounter={"reference": "urn:uuid:nowhere"}),
            "does not resolve",
        ),
        (lambda b: _resource(b, "Composition").update(title="a\x07b"), "control character"),
        (
            lambda b: _resource(b, "Composition")["section"][0]["text"].update(
                div='<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>'
            ),
            "inert XHTML",
        ),
        (lambda b: _resource(b, "Patient")["identifier"][0].update(value="12345678901"), "invalid value"),
        (lambda b: _resource(b, "Consent").pop("policyRule"), "ppc-1"),
        (lambda b: _resource(b, "ServiceRequest").update(priority="whenever"), "priority"),
        (lambda b: _resource(b, "Observation").update(status=7), "Observation.status"),
        (lambda b: _resource(b, "Observation").pop("code"), "Observation.code"),
        (lambda b: b["entry"][0]["request"].update(method="POST"), "request"),
        (
            lambda b: _resource(b, "Condition")["clinicalStatus"]["coding"][0].update(code="maybe"),
            "clinicalStatus",
        ),
    ],
)
def test_validation_catches_what_the_models_do_not(change: Any, expected: str) -> None:
    issues = _tampered(change)
    assert any(expected in issue for issue in issues), issues


def test_fhir_api_helpers() -> None:
    statement = capability_statement("https://x.example/fhir", "0.1.0", START)
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")  # type: ignore[index]
    assert patient["operation"][0]["name"] == "everything"
    error: RecordError = StaleVersion(3)
    outcome = operation_outcome(error, "en")
    assert outcome["issue"][0]["code"] == "conflict"  # type: ignore[index]
    assert "version 3" in outcome["issue"][0]["details"]["text"]  # type: ignore[index]
    assert operation_outcome(RuntimeError("secret"))["issue"][0]["code"] == "exception"  # type: ignore[index]
    day = parse_date("2026-03-02")
    assert (
        day.lower.isoformat() == "2026-03-02T06:00:00+00:00"
        and day.upper.isoformat() == "2026-03-03T06:00:00+00:00"
    )
    december = parse_date("2025-12")
    assert december.upper.isoformat() == "2026-01-01T06:00:00+00:00"
    assert parse_search("Encounter", [("patient", "Patient/abc"), ("date", "ge2026")]).reference_id == "abc"
