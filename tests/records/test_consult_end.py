"""The record follows the consult's end, on SQLite and PostgreSQL.

A note signed during the call stores the Encounter ``in-progress`` with no end (the log had none yet).
When the consult ends and its log is archived, ``follow_consult_end`` makes it ``finished`` with
``period.end`` the consult's end: a new version of the resource, with its Provenance and AuditEvent.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from records.repository import RecordRepository
from records.session_logs import SessionLogArchive
from records.tables import AuditRow, BundleRow
from records.validation import validate_resource
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from tests.records.helpers import (
    NURSE,
    PATIENT,
    START,
    audit_rows,
    counts,
    prepare_draft,
    session_log,
    sign_request,
    staff_ctx,
)

CONSULT = "consult-live"
ENDED_AT = START + timedelta(minutes=20)


def _live_log() -> list[SessionEvent]:
    """The log while the call goes on: everything but the end (and the interpreter still in it)."""
    return [e for e in session_log(CONSULT) if e.kind is not EventKind.ENDED]


async def _signed_during_the_call(repo: RecordRepository, engine: AsyncEngine) -> str:
    setup = await prepare_draft(repo, engine, consult_id=CONSULT)
    await SessionLogArchive(engine).store(CONSULT, _live_log())  # what signing archives mid-call
    result = await repo.sign(sign_request(setup), staff_ctx())
    encounter = await repo.read("Encounter", result.encounter_id, staff_ctx())
    assert encounter["status"] == "in-progress" and "end" not in encounter["period"]
    assert "length" not in encounter and encounter["meta"]["versionId"] == "1"
    return result.encounter_id


async def test_an_encounter_signed_during_the_call_is_finished_when_the_consult_ends(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    encounter_id = await _signed_during_the_call(repo, engine)
    async with engine.connect() as connection:
        stored_bundle = (await connection.execute(select(BundleRow.content))).scalar_one()
    full_log = [
        *_live_log(),
        SessionEvent(CONSULT, EventKind.LEFT, ENDED_AT, PATIENT.nss, Role.PATIENT, "c1"),
        SessionEvent(CONSULT, EventKind.ENDED, ENDED_AT, NURSE.staff_id, Role.NURSE, "c2"),
    ]
    await SessionLogArchive(engine).store(CONSULT, full_log)  # the on_consult_ended hook, first half

    assert await repo.follow_consult_end(CONSULT) == "2"

    encounter = await repo.read("Encounter", encounter_id, staff_ctx())
    assert validate_resource(encounter) == []
    assert encounter["status"] == "finished"
    assert encounter["period"] == {"start": START.isoformat(), "end": ENDED_AT.isoformat()}
    assert encounter["length"]["value"] == 20.0
    assert encounter["meta"]["versionId"] == "2"
    author = encounter["participant"][0]
    assert author["type"][0]["coding"][0]["code"] == "PPRF"
    assert author["individual"]["display"] == NURSE.full_name
    assert author["period"]["end"] == ENDED_AT.isoformat()
    [interpreter] = encounter["participant"][1:]
    assert interpreter["period"]["end"] == (START + timedelta(minutes=12)).isoformat()

    # Found by date as a finished visit, and the signed Bundle itself never changes.
    found = await repo.search(
        "Encounter", [("patient", encounter["subject"]["reference"]), ("date", "le2026-03-02")], staff_ctx()
    )
    assert [e["resource"]["period"]["end"] for e in found["entry"]] == [ENDED_AT.isoformat()]
    async with engine.connect() as connection:
        assert (await connection.execute(select(BundleRow.content))).scalar_one() == stored_bundle

    # Who changed it and from what: a Provenance of the update and an AuditEvent of the write.
    everything = await repo.everything(encounter["subject"]["reference"].split("/")[1], staff_ctx())
    provenances = [
        e["resource"] for e in everything["entry"] if e["resource"]["resourceType"] == "Provenance"
    ]
    [update] = [p for p in provenances if p["activity"]["coding"][0]["code"] == "UPDATE"]
    assert validate_resource(update) == []
    assert update["target"] == [{"reference": f"Encounter/{encounter_id}/_history/2"}]
    assert update["entity"][0] == {
        "role": "revision",
        "what": {"reference": f"Encounter/{encounter_id}/_history/1"},
    }
    assert update["occurredDateTime"] == ENDED_AT.isoformat()
    assert update["agent"][0]["onBehalfOf"] == encounter["serviceProvider"]
    audits = await audit_rows(engine)
    [write] = [a for a in audits if a.content.get("outcomeDesc") == "consult-ended"]
    assert validate_resource(write.content) == []
    assert (write.action, write.outcome, write.agent_id) == ("U", "0", "system")
    assert {"reference": f"Encounter/{encounter_id}"} in [e["what"] for e in write.content["entity"]]
    ended_audits = [
        a for a in audits if a.content["subtype"][0]["code"] == "ended" and a.agent_id == "session"
    ]
    assert len(ended_audits) == 1  # the session events after the signing are audited too


async def test_following_the_end_again_or_without_a_signed_note_changes_nothing(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    # No note signed for the consult: nothing to follow.
    setup = await prepare_draft(repo, engine, consult_id=CONSULT)
    assert await repo.follow_consult_end(CONSULT) is None
    assert await repo.follow_consult_end("never-heard-of") is None

    # Signed after the end: the Encounter was finished from the start.
    await repo.sign(sign_request(setup), staff_ctx())
    before = await counts(engine)
    audits_before = len(await audit_rows(engine))
    assert await repo.follow_consult_end(CONSULT) is None
    assert await counts(engine) == before
    assert len(await audit_rows(engine)) == audits_before


async def test_a_consult_still_going_on_keeps_its_encounter_in_progress(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    encounter_id = await _signed_during_the_call(repo, engine)
    before = await counts(engine)
    assert await repo.follow_consult_end(CONSULT) is None  # the archived log has no end yet
    assert await counts(engine) == before
    encounter = await repo.read("Encounter", encounter_id, staff_ctx())
    assert encounter["status"] == "in-progress" and encounter["meta"]["versionId"] == "1"
    async with engine.connect() as connection:
        rows = await connection.execute(select(AuditRow.content))
        assert not any(r[0].get("outcomeDesc") == "consult-ended" for r in rows)

    # The end arrives: finished once, and following it a second time is a no-op.
    await SessionLogArchive(engine).store(CONSULT, session_log(CONSULT))
    assert await repo.follow_consult_end(CONSULT) == "2"
    assert await repo.follow_consult_end(CONSULT) is None
    encounter = await repo.read("Encounter", encounter_id, staff_ctx())
    assert encounter["status"] == "finished" and encounter["meta"]["versionId"] == "2"
