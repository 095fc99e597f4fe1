"""Signing on SQLite and PostgreSQL: one valid Bundle per note, idempotent, immutable, addenda."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from records.bundle_refs import composition_id
from records.errors import (
    IncompleteNote,
    NoteAlreadySigned,
    NoteNotSigned,
    NotNoteAuthor,
    RequestIdReused,
    SessionLogMissing,
    StaleVersion,
)
from records.notes import content_digest
from records.repository import RecordRepository
from records.seal import SealKeys, verify
from records.tables import BundleRow
from records.validation import validate_bundle, validate_resource
from tests.records.helpers import (
    NURSE,
    OTHER_NURSE,
    SIGNING_KEY,
    counts,
    prepare_draft,
    sign_request,
    staff_ctx,
)


async def test_a_signed_consult_stores_one_valid_bundle(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(repo, engine)
    result = await repo.sign(sign_request(setup), staff_ctx())

    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    assert validate_bundle(bundle) == []
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    for expected in (
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Encounter",
        "Composition",
        "Observation",
        "Condition",
        "CarePlan",
        "ServiceRequest",
        "Consent",
        "Provenance",
        "AuditEvent",
    ):
        assert expected in types, expected
    encounter = await repo.read("Encounter", result.encounter_id, staff_ctx())
    assert validate_resource(encounter) == []
    assert encounter["class"]["code"] == "VR"
    assert encounter["status"] == "finished"
    assert encounter["period"] == {"start": "2026-03-02T15:00:00+00:00", "end": "2026-03-02T15:20:00+00:00"}
    assert encounter["subject"]["reference"] == f"Patient/{setup.patient_id}"
    assert encounter["meta"]["versionId"] == "1"
    composition = await repo.read("Composition", result.composition_id, staff_ctx())
    assert composition["status"] == "final"
    assert composition["attester"][0]["mode"] == "legal"
    assert composition["author"][0]["display"] == NURSE.full_name
    assert "&lt; 200" in composition["section"][0]["text"]["div"]
    assert result.note.signed_at is not None and not result.replayed
    provenance = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance")
    assert verify(result.note, SealKeys(SIGNING_KEY), provenance["signature"][0]["data"])


async def test_the_same_sign_request_twice_stores_one_bundle(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine)
    first = await repo.sign(sign_request(setup), staff_ctx())
    again = await repo.sign(sign_request(setup), staff_ctx())
    assert again.replayed and again.bundle_id == first.bundle_id
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(BundleRow)) == 1


async def test_racing_identical_sign_requests_store_one_bundle(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine)
    results = await asyncio.gather(*(repo.sign(sign_request(setup), staff_ctx()) for _ in range(4)))
    assert len({r.bundle_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(BundleRow)) == 1


async def test_a_stale_draft_save_is_a_conflict(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(repo, engine)
    content = {"reason": {"reason": "Texto más nuevo"}}
    await repo.save_draft(setup.note_id, base_version=setup.version, content=content, ctx=staff_ctx())
    before = await counts(engine)
    with pytest.raises(StaleVersion) as error:
        await repo.save_draft(
            setup.note_id,
            base_version=setup.version,
            content={"reason": {"reason": "viejo"}},
            ctx=staff_ctx(),
        )
    assert error.value.current_version == setup.version + 1
    assert await counts(engine) == before
    note = await repo.get_note(setup.note_id, staff_ctx())
    assert note.content["reason"]["reason"] == "Texto más nuevo"


async def test_signing_an_older_version_is_a_conflict(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(repo, engine)
    await repo.save_draft(
        setup.note_id, base_version=setup.version, content=dict(setup_content()), ctx=staff_ctx()
    )
    with pytest.raises(StaleVersion):
        await repo.sign(sign_request(setup), staff_ctx())


def setup_content() -> dict[str, object]:
    from tests.records.helpers import FIRST_CONSULT_CONTENT

    return {**FIRST_CONSULT_CONTENT, "recommendations": {"recommendations": "Otra"}}


async def test_a_signed_note_never_changes(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(repo, engine)
    signed = await repo.sign(sign_request(setup), staff_ctx())
    before = await counts(engine)
    with pytest.raises(NoteAlreadySigned):
        await repo.save_draft(setup.note_id, base_version=setup.version, content={}, ctx=staff_ctx())
    with pytest.raises(NoteAlreadySigned):
        await repo.sign(sign_request(setup, request_id="req-other"), staff_ctx())
    with pytest.raises(NoteAlreadySigned):
        await repo.open_draft(
            consult_id=setup.consult_id,
            patient_nss=signed_patient_nss(),
            template="first-consult",
            ctx=staff_ctx(),
        )
    assert await counts(engine) == before
    note = await repo.get_note(setup.note_id, staff_ctx())
    assert content_digest(note) == content_digest(signed.note)


def signed_patient_nss() -> str:
    from tests.records.helpers import PATIENT

    return PATIENT.nss


async def test_an_addendum_references_the_signed_note(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(repo, engine)
    original = await repo.sign(sign_request(setup), staff_ctx())
    addendum = await repo.add_addendum(
        setup.note_id,
        text="Corrige: la glucosa referida fue posprandial.",
        request_id="add-1",
        author=NURSE,
        ctx=staff_ctx(),
    )
    again = await repo.add_addendum(
        setup.note_id, text="otro", request_id="add-1", author=NURSE, ctx=staff_ctx()
    )
    assert again.replayed and again.bundle_id == addendum.bundle_id
    assert addendum.note.amends == setup.note_id
    composition = await repo.read("Composition", addendum.composition_id, staff_ctx())
    assert composition["relatesTo"] == [
        {"code": "appends", "targetReference": {"reference": f"Composition/{composition_id(setup.note_id)}"}}
    ]
    assert composition["encounter"]["reference"] == f"Encounter/{original.encounter_id}"
    assert validate_bundle(await repo.stored_bundle(addendum.note.note_id, staff_ctx())) == []
    unchanged = await repo.read("Composition", original.composition_id, staff_ctx())
    assert unchanged["meta"]["versionId"] == "1"
    compositions = await repo.search("Composition", [("encounter", original.encounter_id)], staff_ctx())
    assert {e["resource"]["id"] for e in compositions["entry"]} == {
        original.composition_id,
        addendum.composition_id,
    }


async def test_addenda_are_for_signed_notes_only(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(repo, engine)
    before = await counts(engine)
    with pytest.raises(NoteNotSigned):
        await repo.add_addendum(setup.note_id, text="x", request_id="add-1", author=NURSE, ctx=staff_ctx())
    assert await counts(engine) == before


async def test_signing_someone_elses_note_is_refused(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(repo, engine)
    await repo.grant_care(signed_patient_nss(), OTHER_NURSE.staff_id, setup.consult_id, staff_ctx())
    before = await counts(engine)
    with pytest.raises(NotNoteAuthor):
        await repo.sign(sign_request(setup, author=OTHER_NURSE), staff_ctx(OTHER_NURSE))
    with pytest.raises(NotNoteAuthor):  # claiming to be the author from another session
        await repo.sign(sign_request(setup, author=NURSE), staff_ctx(OTHER_NURSE))
    with pytest.raises(NotNoteAuthor):
        await repo.save_draft(
            setup.note_id, base_version=setup.version, content={}, ctx=staff_ctx(OTHER_NURSE)
        )
    assert await counts(engine) == before


async def test_an_incomplete_note_does_not_sign(repo: RecordRepository, engine: AsyncEngine) -> None:
    setup = await prepare_draft(
        repo, engine, content={"reason": {"reason": "Dolor de cabeza"}, "referral": {"needed": True}}
    )
    before = await counts(engine)
    with pytest.raises(IncompleteNote) as error:
        await repo.sign(sign_request(setup), staff_ctx())
    assert "recommendations.recommendations" in error.value.missing
    assert "referral.destination" in error.value.missing
    assert await counts(engine) == before


async def test_signing_needs_the_session_log(repo: RecordRepository, engine: AsyncEngine) -> None:
    ctx = staff_ctx()
    from tests.records.helpers import FIRST_CONSULT_CONTENT, PATIENT

    await repo.ensure_patient(PATIENT, ctx)
    await repo.grant_care(PATIENT.nss, NURSE.staff_id, "no-log", ctx)
    note = await repo.open_draft(
        consult_id="no-log", patient_nss=PATIENT.nss, template="first-consult", ctx=ctx
    )
    note = await repo.save_draft(note.note_id, base_version=1, content=FIRST_CONSULT_CONTENT, ctx=ctx)
    with pytest.raises(SessionLogMissing):
        await repo.sign(sign_request_for(note.note_id, note.version), ctx)


def sign_request_for(note_id: str, version: int, request_id: str = "req-x"):  # type: ignore[no-untyped-def]
    from records.repository import SignRequest
    from tests.records.helpers import CONSENT

    return SignRequest(note_id, version, request_id, NURSE, CONSENT)


async def test_a_request_id_is_not_reused_for_another_note(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    first = await prepare_draft(repo, engine)
    await repo.sign(sign_request(first), staff_ctx())
    second = await prepare_draft(repo, engine, consult_id="consult-2")
    with pytest.raises(RequestIdReused):
        await repo.sign(sign_request(second), staff_ctx())


@pytest.mark.parametrize("template", ["follow-up", "inter-unit"])
async def test_every_template_signs_to_a_valid_bundle(
    repo: RecordRepository, engine: AsyncEngine, template: str
) -> None:
    content = {
        "follow-up": {
            "evolution": {"evolution": "Mejoría de la sed", "substance_use": "Niega tabaco"},
            "vitals": {"weight_kg": 80, "height_cm": 165, "glucose_mg_dl": 130},
            "assessment": {"problems": ["Diabetes en control"]},
            "treatment": {"medications": ["Metformina 850 mg VO c/12 h"], "indications": "Continuar"},
            "recommendations": {"recommendations": "Continuar plan"},
            "follow-up-plan": {"plan": "Control mensual"},
            "referral": {"needed": False},
        },
        "inter-unit": {
            "participants": {
                "session_kind": "second-opinion",
                "participants": ["Dra. Ruiz — HGZ 1A — coordinadora", "Dr. Soto — CMN SXXI — cirujano"],
            },
            "question": {"question": "¿Candidato a cirugía bariátrica?"},
            "opinion": {"diagnostic_criteria": "IMC 42", "opinion": "Candidato tras valoración"},
            "plan": {"study_plan": "Endoscopia", "plan": "Referir a clínica de obesidad"},
        },
    }[template]
    setup = await prepare_draft(repo, engine, content=content, template=template)
    result = await repo.sign(sign_request(setup), staff_ctx())
    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    assert validate_bundle(bundle) == []
    composition = await repo.read("Composition", result.composition_id, staff_ctx())
    assert (
        composition["type"]["coding"][0]["code"]
        == {"follow-up": "11506-3", "inter-unit": "11488-4"}[template]
    )
