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
    "text",
    [
        "<script>alert(1)</script>",
        "ver <img src=x onerror=alert(1)>",
        "enlace javascript:alert(1)",
        "< / script>",
        "texto\x00nulo",
        "campana\x07",
        "al revés \u202etxt.exe",
    ],
)
async def test_script_and_control_characters_are_refused(
    repo: RecordRepository, engine: AsyncEngine, text: str
) -> None:
    setup = await prepare_draft(repo, engine)
    before = await counts(engine)
    with pytest.raises(UnsafeText) as error:
        await repo.save_draft(
            setup.note_id, base_version=setup.version, content={"reason": {"reason": text}}, ctx=staff_ctx()
        )
    assert text not in error.value.message_en  # the refused text is never echoed (errors get logged)
    assert await counts(engine) == before


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
