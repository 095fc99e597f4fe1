"""Bad input gets a clear error, changes nothing clinical, and still leaves a failure AuditEvent."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from records.errors import InvalidNote, NoteTooLarge, UnknownPatient, UnsafeText
from records.repository import RecordRepository
from tests.records.helpers import PATIENT, audit_rows, counts, nss, prepare_draft, staff_ctx


async def test_an_unknown_patient_gets_no_note(repo: RecordRepository, engine: AsyncEngine) -> None:
    before = await counts(engine)
    with pytest.raises(UnknownPatient) as error:
        await repo.open_draft(
            consult_id="c-9", patient_nss=nss(99), template="first-consult", ctx=staff_ctx()
        )
    assert error.value.code == "unknown_patient" and error.value.http_status == 404
    assert await counts(engine) == before
    audits = await audit_rows(engine)
    assert audits[-1].outcome == "4" and audits[-1].content["outcomeDesc"] == "unknown_patient"


async def test_a_note_too_large_is_refused(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(repo, engine)
    before = await counts(engine)
    huge = {"reason": {"reason": "x" * 70_000}}
    with pytest.raises(NoteTooLarge) as error:
        await repo.save_draft(setup.note_id, base_version=setup.version, content=huge, ctx=staff_ctx())
    assert error.value.http_status == 413
    with pytest.raises(InvalidNote):  # a single field over its own limit
        await repo.save_draft(
            setup.note_id,
            base_version=setup.version,
            content={"reason": {"reason": "x" * 1001}},
            ctx=staff_ctx(),
        )
    assert await counts(engine) == before


@pytest.mark.parametrize(
    ("text", "codepoint", "position"),
    [
        ("texto\x00nulo", "U+0000", 6),
        ("campana\x07", "U+0007", 8),
        ("al revés \u202etxt.exe", "U+202E", 10),
        ("aislado \u2067x", "U+2067", 9),
        ("mitad \ud800 de un par", "U+D800", 7),
        ("no es carácter \uffff", "U+FFFF", 16),
        ("control C1 \x9b", "U+009B", 12),
    ],
)
async def test_control_characters_are_refused_with_advice_that_works(
    repo: RecordRepository, engine: AsyncEngine, text: str, codepoint: str, position: int
) -> None:
    """The refusal names the field as the nurse sees it, the character and where it is; deleting
    exactly that character (what the message says to do) makes the same text save."""
    setup = await prepare_draft(repo, engine)
    before = await counts(engine)
    content = {"reason": {"present_illness": text}}
    with pytest.raises(UnsafeText) as error:
        await repo.save_draft(setup.note_id, base_version=setup.version, content=content, ctx=staff_ctx())
    refusal = error.value
    assert (refusal.code, refusal.http_status) == ("unsafe_text", 422)
    assert text not in refusal.message_en and text not in refusal.message_es  # errors get logged
    assert refusal.message_es.startswith(
        "Dato no válido en «Motivo de consulta y padecimiento actual \u203a Padecimiento actual»"
    )
    assert "'Reason for consult and present illness \u203a Present illness'" in refusal.message_en
    assert f"({codepoint}) en la posición {position}" in refusal.message_es
    assert f"({codepoint}) at position {position}" in refusal.message_en
    assert "bórrelo" in refusal.message_es and "delete it" in refusal.message_en
    assert [f.path for f in refusal.fields] == ["reason.present_illness"]
    assert await counts(engine) == before

    fixed = text[: position - 1] + text[position:]
    content = {"reason": {"present_illness": fixed}}
    saved = await repo.save_draft(setup.note_id, base_version=setup.version, content=content, ctx=staff_ctx())
    assert saved.content["reason"]["present_illness"] == " ".join(fixed.split(" ")).strip()


async def test_unknown_sections_and_wrong_types_are_refused(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine)
    before = await counts(engine)
    for content in (
        {"nope": {"x": 1}},
        {"reason": {"nope": "x"}},
        {"vitals": {"weight_kg": "ochenta"}},
        {"vitals": {"weight_kg": 900}},
        {"vitals": {"systolic_mmhg": 80, "diastolic_mmhg": 120}},
        {"risk-screening": {"tobacco": "sometimes"}},
        {"follow-up-plan": {"next_contact": "16/03/2026"}},
        ["not", "an", "object"],
    ):
        with pytest.raises(InvalidNote):
            await repo.save_draft(setup.note_id, base_version=setup.version, content=content, ctx=staff_ctx())
    assert await counts(engine) == before


async def test_patient_facts_are_checked_before_anything_is_stored(engine: AsyncEngine) -> None:
    from records.errors import InvalidFacts
    from records.facts import PatientFacts

    with pytest.raises(InvalidFacts):
        PatientFacts("12345678901", "Nombre", PATIENT.birth_date)
    with pytest.raises(InvalidFacts):
        PatientFacts(PATIENT.nss, "Nombre", PATIENT.birth_date, curp="GODE561231HDFRRN01")
    with pytest.raises(InvalidFacts):
        PatientFacts(PATIENT.nss, "<b>Nombre</b>", PATIENT.birth_date)
