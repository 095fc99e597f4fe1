"""The call's quality in the record, on SQLite and PostgreSQL (records/call_quality.py).

A consult whose session log holds quality windows and its ``call_summary`` signs into a Bundle with
one Observation per measure on the Encounter and a note section that says how much of the consult
had limited video; a note signed during the call, before any summary, has neither.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from records import codes
from records.repository import RecordRepository
from records.session_logs import SessionLogArchive
from records.validation import validate_bundle, validate_resource
from rooms.call_quality import LegMeasures, score_link
from rooms.call_summary import summary_event
from rooms.quality_log import LinkSample, MediaPath, QualityWindow, VideoState, fold
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from tests.records.helpers import NURSE, PATIENT, START, prepare_draft, session_log, sign_request, staff_ctx

CONSULT = "consult-quality"
MEASURES = {
    "mos-mean",
    "mos-worst",
    "video-time",
    "audio-only-time",
    "reconnections",
    "media-path",
    "data-used",
}


def _windows(
    participant: str, minutes: tuple[int, int], video: VideoState, loss: float
) -> list[SessionEvent]:
    """A participant's 2-s samples over ``minutes`` of the call, folded into logged windows."""
    score = score_link(LegMeasures(0, 5), LegMeasures(loss, 5), rtt_ms=80)
    window: QualityWindow | None = None
    events = []
    for second in range(minutes[0] * 60 + 2, minutes[1] * 60 + 2, 2):
        at = START + timedelta(seconds=second)
        sample = LinkSample(at, 2.0, score, video, 25_000, MediaPath.DIRECT)
        window, closed = fold(window, participant, sample)
        if closed is not None:
            events.append(closed.to_event(CONSULT, at))
    assert window is not None
    return [*events, window.to_event(CONSULT, START + timedelta(minutes=20))]


def _ended_call_log() -> list[SessionEvent]:
    """The helpers' consult (admitted at START, ended 20 min later) with its call measured: the nurse
    had video throughout; the patient from minute 1 to 13, then 7 minutes with video paused for a
    weak link (8 % loss), so 7 of the 20 measured minutes had limited video: 35 %."""
    log = session_log(CONSULT)
    log.append(SessionEvent(CONSULT, EventKind.JOINED, START, NURSE.staff_id, Role.NURSE, "c2"))
    log += _windows(NURSE.staff_id, (0, 20), VideoState.ON, 0)
    log += _windows(PATIENT.nss, (1, 13), VideoState.ON, 0)
    log += _windows(PATIENT.nss, (13, 20), VideoState.PAUSED, 8)
    log.sort(key=lambda e: e.at)
    summary = summary_event(CONSULT, log, START + timedelta(minutes=20, seconds=1))
    assert summary is not None
    return [*log, summary]


def _quality_observations(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Observation":
            continue
        coding = resource["code"]["coding"][0]
        if coding["system"] == codes.CALL_QUALITY:
            found[coding["code"]] = resource
    return found


async def test_a_measured_consult_signs_with_its_call_quality(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine, consult_id=CONSULT)
    await SessionLogArchive(engine).store(CONSULT, _ended_call_log())
    result = await repo.sign(sign_request(setup), staff_ctx())

    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    assert validate_bundle(bundle) == []
    observations = _quality_observations(bundle)
    assert set(observations) == MEASURES
    encounter = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    for observation in observations.values():
        assert observation["encounter"]["reference"] == encounter["fullUrl"]
        assert observation["status"] == "final"
        assert observation["effectivePeriod"] == {
            "start": START.isoformat(),
            "end": (START + timedelta(minutes=20)).isoformat(),
        }
    assert observations["video-time"]["valueQuantity"] == {
        "value": 13.0,
        "unit": "min",
        "system": codes.UCUM,
        "code": "min",
    }
    assert observations["audio-only-time"]["valueQuantity"]["value"] == 7.0
    assert observations["reconnections"]["valueInteger"] == 0
    assert observations["media-path"]["valueCodeableConcept"]["coding"][0]["code"] == "direct"
    # 20 + 19 minutes of 2-s samples of 25 kB: 1170 samples, 29.25 MB
    assert observations["data-used"]["valueQuantity"]["value"] == 29.2
    mean = observations["mos-mean"]["valueQuantity"]["value"]
    worst = observations["mos-worst"]["valueQuantity"]["value"]
    assert 1 <= worst < mean <= 4.5 and observations["mos-mean"]["method"]["text"].startswith("Estimación")

    # The note says it, in Spanish and English, in its own section citing the Observations.
    composition = await repo.read("Composition", result.composition_id, staff_ctx())
    section = next(s for s in composition["section"] if s["title"] == "Calidad de la teleconsulta")
    div = section["text"]["div"]
    assert "Consulta con video limitado el 35 % del tiempo" in div
    assert "Consult with limited video 35 % of the time" in div
    assert f"peor {worst:.1f}" in div
    assert len(section["entry"]) == len(MEASURES)
    assert all(entry["reference"].startswith("Observation/") for entry in section["entry"])

    # Stored and readable like any Observation of the visit, and cited by the signing's Provenance.
    stored = await repo.read("Observation", observations["video-time"]["id"], staff_ctx())
    assert validate_resource(stored) == []
    assert stored["encounter"]["reference"] == f"Encounter/{result.encounter_id}"
    provenance = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance")
    cited = {target["reference"] for target in provenance["target"]}
    assert {f"urn:uuid:{o['id']}" for o in observations.values()} <= cited


async def test_a_note_signed_before_the_call_ends_has_no_call_quality(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine, consult_id=CONSULT)
    live = [e for e in _ended_call_log() if e.kind not in (EventKind.ENDED, EventKind.CALL_SUMMARY)]
    await SessionLogArchive(engine).store(CONSULT, live)
    result = await repo.sign(sign_request(setup), staff_ctx())

    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    assert validate_bundle(bundle) == []
    assert _quality_observations(bundle) == {}
    composition = await repo.read("Composition", result.composition_id, staff_ctx())
    assert all(s["title"] != "Calidad de la teleconsulta" for s in composition["section"])
