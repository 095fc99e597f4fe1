"""FHIR read, search and $everything: who may read what, and the AuditEvent every access leaves."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from records.access import AccessContext
from records.errors import AccessDenied, InvalidSearch, NotFound, UnknownPatient
from records.identifiers import NSS_SYSTEM
from records.repository import RecordRepository
from records.validation import validate_resource
from tests.records.helpers import (
    NURSE,
    OTHER_NURSE,
    OTHER_PATIENT,
    PATIENT,
    audit_rows,
    prepare_draft,
    sign_request,
    staff_ctx,
)


async def _two_patients(repo: RecordRepository, engine: AsyncEngine) -> tuple[str, str, str]:
    first = await prepare_draft(repo, engine)
    signed = await repo.sign(sign_request(first), staff_ctx())
    other = await prepare_draft(
        repo, engine, consult_id="consult-2", patient=OTHER_PATIENT, author=OTHER_NURSE
    )
    await repo.sign(sign_request(other, request_id="req-2", author=OTHER_NURSE), staff_ctx(OTHER_NURSE))
    return first.patient_id, other.patient_id, signed.encounter_id


async def test_everything_returns_the_patients_resources_only(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    patient_id, other_id, _ = await _two_patients(repo, engine)
    result = await repo.everything(patient_id, staff_ctx())
    resources = [e["resource"] for e in result["entry"]]
    types = {r["resourceType"] for r in resources}
    assert {
        "Patient",
        "Encounter",
        "Composition",
        "Observation",
        "Condition",
        "CarePlan",
        "ServiceRequest",
        "Consent",
        "Provenance",
        "Practitioner",
        "PractitionerRole",
        "Organization",
    } <= types
    assert result["type"] == "searchset" and result["total"] == len(resources)
    for resource in resources:
        assert validate_resource(resource) == [], resource["resourceType"]
        assert other_id not in str(resource)
        subject = resource.get("subject") or resource.get("patient")
        if subject:
            assert subject["reference"] == f"Patient/{patient_id}"


async def test_only_staff_in_the_patients_care_may_read(repo: RecordRepository, engine: AsyncEngine) -> None:
    patient_id, _, encounter_id = await _two_patients(repo, engine)
    with pytest.raises(AccessDenied):
        await repo.everything(patient_id, staff_ctx(OTHER_NURSE))
    with pytest.raises(AccessDenied):
        await repo.read("Encounter", encounter_id, staff_ctx(OTHER_NURSE))
    with pytest.raises(AccessDenied):
        await repo.search("Encounter", [("patient", patient_id)], staff_ctx(OTHER_NURSE))
    with pytest.raises(AccessDenied):
        await repo.search("Patient", [("identifier", f"{NSS_SYSTEM}|{PATIENT.nss}")], staff_ctx(OTHER_NURSE))
    await repo.read("Encounter", encounter_id, staff_ctx(NURSE))
    practitioners = await repo.search("Patient", [("identifier", PATIENT.nss)], staff_ctx(NURSE))
    assert practitioners["total"] == 1
    denied = [row for row in await audit_rows(engine) if row.outcome == "8"]
    assert len(denied) == 4 and {row.agent_id for row in denied} == {OTHER_NURSE.staff_id}


async def test_a_patient_link_reads_only_its_own_summary(repo: RecordRepository, engine: AsyncEngine) -> None:
    patient_id, other_id, encounter_id = await _two_patients(repo, engine)
    me = AccessContext.patient(PATIENT.nss, "198.51.100.4")
    summary = await repo.patient_summary(me)
    types = {e["resource"]["resourceType"] for e in summary["entry"]}
    assert "Composition" in types and "Provenance" not in types
    assert all(other_id not in str(e["resource"]) for e in summary["entry"])
    with pytest.raises(AccessDenied):
        await repo.everything(patient_id, me)
    with pytest.raises(AccessDenied):
        await repo.read("Encounter", encounter_id, me)
    with pytest.raises(AccessDenied):
        await repo.search("Patient", [("identifier", PATIENT.nss)], me)
    with pytest.raises(AccessDenied):
        await repo.patient_summary(staff_ctx())
    with pytest.raises(UnknownPatient):
        await repo.patient_summary(AccessContext.patient("92919084431", "198.51.100.4"))
    audits = await audit_rows(engine)
    mine = [row for row in audits if row.agent_id == PATIENT.nss]
    assert mine[0].outcome == "0" and mine[0].content["agent"][0]["who"] == {
        "reference": f"Patient/{patient_id}"
    }
    assert mine[0].content["agent"][0]["network"] == {"address": "198.51.100.4", "type": "2"}


async def test_every_read_and_write_leaves_an_audit_event(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine)  # ensure_patient, grant_care, open_draft, save_draft
    after_setup = await audit_rows(engine)
    assert [row.action for row in after_setup] == ["C", "E", "C", "U"]
    result = await repo.sign(sign_request(setup), staff_ctx())
    signing = [
        row
        for row in await audit_rows(engine)
        if row.content.get("subtype", [{}])[0].get("code") == "transaction"
    ]
    assert len(signing) == 1 and signing[0].patient_id == setup.patient_id
    session_events = [row for row in await audit_rows(engine) if row.agent_id == "session"]
    assert {row.content["subtype"][0]["code"] for row in session_events} >= {
        "admitted",
        "joined",
        "left",
        "ended",
    }

    count = len(await audit_rows(engine))
    await repo.read("Composition", result.composition_id, staff_ctx())
    await repo.search("Encounter", [("patient", setup.patient_id), ("date", "2026-03-02")], staff_ctx())
    await repo.everything(setup.patient_id, staff_ctx())
    await repo.get_note(setup.note_id, staff_ctx())
    rows = await audit_rows(engine)
    assert len(rows) == count + 4
    read, search, everything, note = rows[-4:]
    assert (read.action, read.outcome, read.agent_id) == ("R", "0", NURSE.staff_id)
    assert read.content["entity"][0]["what"] == {"reference": f"Composition/{result.composition_id}"}
    assert read.content["agent"][0]["network"]["address"] == "10.0.0.7"
    assert read.content["recorded"]
    query = next(e for e in search.content["entity"] if "query" in e)["query"]
    assert base64.b64decode(query).decode().startswith("Encounter?patient=")
    assert everything.patient_id == setup.patient_id and everything.content["outcomeDesc"] == "$everything"
    assert note.action == "R"
    trail = await repo.audit_trail(setup.patient_id, staff_ctx())
    assert len(trail) >= count and all(validate_resource(event) == [] for event in trail)
    event_id = trail[0]["id"]
    assert (await repo.read("AuditEvent", event_id, staff_ctx()))["id"] == event_id


async def test_searches(repo: RecordRepository, engine: AsyncEngine) -> None:
    patient_id, _, encounter_id = await _two_patients(repo, engine)
    ctx = staff_ctx()
    found = await repo.search("Patient", [("identifier", f"{NSS_SYSTEM}|{PATIENT.nss}")], ctx)
    assert [e["resource"]["id"] for e in found["entry"]] == [patient_id]
    assert found["entry"][0]["fullUrl"].endswith(f"/Patient/{patient_id}")
    assert (await repo.search("Patient", [("identifier", f"{NSS_SYSTEM}|92919000000")], ctx))["total"] == 0
    by_curp = await repo.search("Patient", [("identifier", PATIENT.curp or "")], ctx)
    assert by_curp["total"] == 1

    async def encounters(*dates: str) -> list[str]:
        params = [("patient", f"Patient/{patient_id}"), *(("date", d) for d in dates)]
        return [e["resource"]["id"] for e in (await repo.search("Encounter", params, ctx))["entry"]]

    assert await encounters() == [encounter_id]
    assert await encounters("2026-03-02") == [encounter_id]  # 09:00-09:20 in Mexico City
    assert await encounters("2026-03") == [encounter_id]
    assert await encounters("2026-03-03") == []
    assert await encounters("ge2026-03-02", "lt2026-03-03") == [encounter_id]
    assert await encounters("gt2026-03-02") == []
    assert await encounters("le2026-03-01") == []
    assert await encounters("ne2026-03-02") == []
    assert await encounters("ge2026-03-02T08:30:00-06:00") == [encounter_id]
    compositions = await repo.search("Composition", [("encounter", f"Encounter/{encounter_id}")], ctx)
    assert compositions["total"] == 1
    assert compositions["entry"][0]["resource"]["encounter"]["reference"] == f"Encounter/{encounter_id}"
    for resource_type, params in (
        ("Encounter", [("date", "2026")]),
        ("Encounter", [("patient", patient_id), ("date", "yesterday")]),
        ("Encounter", [("patient", patient_id), ("status", "finished")]),
        ("Patient", [("name", "Juan")]),
        ("Observation", [("patient", patient_id)]),
        ("Patient", [("identifier", "x"), ("_count", "5000")]),
        ("Composition", [("encounter", "../etc")]),
    ):
        with pytest.raises(InvalidSearch):
            await repo.search(resource_type, params, ctx)


async def test_reading_what_does_not_exist(repo: RecordRepository, engine: AsyncEngine) -> None:
    await prepare_draft(repo, engine)
    with pytest.raises(NotFound):
        await repo.read("Encounter", "00000000-0000-0000-0000-000000000000", staff_ctx())
    with pytest.raises(NotFound):
        await repo.everything("00000000-0000-0000-0000-000000000000", staff_ctx())
    with pytest.raises(InvalidSearch):
        await repo.read("Encounter", "../../etc/passwd", staff_ctx())
    with pytest.raises(InvalidSearch):
        await repo.read("Binary", "abc", staff_ctx())
