"""What the host keeps of a call goes into the signed Bundle, on SQLite and PostgreSQL: each kept
photo as a FHIR ``Media`` on the Encounter and the Patient, the chat transcript (when chosen) as one
``Communication`` per message; validated by ``fhir.resources`` and our rules. Photos not kept and
a transcript not chosen stay out."""

from __future__ import annotations

import asyncio
import base64
import io
from dataclasses import replace
from datetime import timedelta
from typing import Any

from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from records.identifiers import STAFF_SYSTEM
from records.photos import PhotoArchive
from records.repository import RecordRepository
from records.session_logs import SessionLogArchive
from records.validation import validate_bundle, validate_resource
from rooms.chat import MAX_MESSAGES
from rooms.photos import CONSENT_STATEMENT, PhotoConsent
from rooms.photos import MAX_PHOTOS_PER_CONSULT as LIMIT
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from tests.records.helpers import NURSE, PATIENT, START, prepare_draft, session_log, sign_request, staff_ctx

CONSULT = "consult-kept"


def _jpeg() -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    Image.new("RGB", (320, 200), (180, 40, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def _chat(seq: int, actor: str, role: Role, name: str, text: str) -> SessionEvent:
    at = START + timedelta(minutes=seq)
    return SessionEvent(
        CONSULT, EventKind.CHAT_MESSAGE, at, actor, role, "c", {"seq": str(seq), "text": text, "name": name}
    )


def _log() -> list[SessionEvent]:
    log = session_log(CONSULT)
    log += [
        _chat(1, PATIENT.nss, Role.PATIENT, "Paciente", "No le escucho <script>alert(1)</script>"),
        _chat(2, NURSE.staff_id, Role.NURSE, "Enfermera", "Le escribo por aquí:\nrespire hondo"),
        _chat(3, "interp-7", Role.INTERPRETER, "Intérprete", "Traduzco: ok"),
    ]
    return sorted(log, key=lambda e: e.at)


def _of_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


async def test_kept_photos_and_the_chosen_transcript_sign_into_a_valid_bundle(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine, consult_id=CONSULT)
    await SessionLogArchive(engine).store(CONSULT, _log())
    photos = PhotoArchive(engine)
    kept = await photos.add(CONSULT, PATIENT.nss, _jpeg(), START + timedelta(minutes=2), limit=LIMIT)
    assert kept is not None
    await photos.add(CONSULT, PATIENT.nss, _jpeg(), START + timedelta(minutes=3), limit=LIMIT)  # never kept
    noted = PhotoConsent(NURSE.staff_id, START + timedelta(minutes=5), CONSENT_STATEMENT)
    await photos.keep(CONSULT, kept.photo_id, noted)

    result = await repo.sign(replace(sign_request(setup), keep_chat=True), staff_ctx())
    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    assert validate_bundle(bundle) == []
    encounter = _of_type(bundle, "Encounter")[0]
    patient = _of_type(bundle, "Patient")[0]

    (media,) = _of_type(bundle, "Media")
    assert media["encounter"]["reference"] == f"urn:uuid:{encounter['id']}"
    assert media["subject"]["reference"] == f"urn:uuid:{patient['id']}"
    assert media["content"]["contentType"] == "image/jpeg" and (media["width"], media["height"]) == (320, 200)
    image = base64.b64decode(media["content"]["data"])
    assert Image.open(io.BytesIO(image)).size == (320, 200) and b"CameraMaker" not in image
    # The consent itself: its words, when the nurse noted it, and the nurse (the signer) as author.
    (consent,) = media["note"]
    assert consent["text"] == CONSENT_STATEMENT and consent["time"] == noted.noted_at.isoformat()
    role = _of_type(bundle, "PractitionerRole")[0]
    assert consent["authorReference"]["reference"] == f"urn:uuid:{role['id']}"

    messages = _of_type(bundle, "Communication")
    assert [m["payload"][0]["contentString"] for m in messages] == [
        "No le escucho <script>alert(1)</script>",
        "Le escribo por aquí:\nrespire hondo",
        "Traduzco: ok",
    ]
    assert messages[0]["sender"]["reference"] == f"urn:uuid:{patient['id']}"
    assert messages[1]["sender"]["reference"].startswith("urn:uuid:")  # the signing nurse
    assert messages[2]["sender"] == {"display": "Intérprete (interpreter)"}

    composition = await repo.read("Composition", result.composition_id, staff_ctx())
    titles = {s["title"]: s for s in composition["section"]}
    transcript = titles["Conversación por chat"]["text"]["div"]
    assert "&lt;script&gt;" in transcript and "<script>" not in transcript
    assert len(titles["Fotos compartidas por el paciente"]["entry"]) == 1
    # Stored and readable through the record like any resource of the visit.
    stored = await repo.read("Media", media["id"], staff_ctx())
    assert (
        validate_resource(stored) == []
        and stored["encounter"]["reference"] == f"Encounter/{result.encounter_id}"
    )
    assert validate_resource(await repo.read("Communication", messages[0]["id"], staff_ctx())) == []


async def test_without_the_choice_nothing_of_the_chat_goes_in(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine, consult_id=CONSULT)
    await SessionLogArchive(engine).store(CONSULT, _log())
    await PhotoArchive(engine).add(CONSULT, PATIENT.nss, _jpeg(), START, limit=LIMIT)  # shared, never kept
    await repo.sign(sign_request(setup), staff_ctx())
    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    assert validate_bundle(bundle) == []
    assert _of_type(bundle, "Communication") == [] and _of_type(bundle, "Media") == []
    assert MAX_MESSAGES >= 3


async def test_a_consult_holds_at_most_its_limit_of_photos_however_uploads_race(engine: AsyncEngine) -> None:
    """Counting and storing is one step: uploads at once never pass the limit, on either database."""
    photos = PhotoArchive(engine)
    added = await asyncio.gather(
        *(photos.add(CONSULT, PATIENT.nss, _jpeg(), START, limit=3) for _ in range(6))
    )
    assert sum(photo is not None for photo in added) == 3
    assert await photos.add("another-consult", PATIENT.nss, _jpeg(), START, limit=3) is not None


async def test_removing_a_refused_upload_leaves_kept_photos(engine: AsyncEngine) -> None:
    photos = PhotoArchive(engine)
    refused = await photos.add(CONSULT, PATIENT.nss, _jpeg(), START, limit=LIMIT)
    kept = await photos.add(CONSULT, PATIENT.nss, _jpeg(), START, limit=LIMIT)
    assert refused is not None and kept is not None
    await photos.keep(CONSULT, kept.photo_id, PhotoConsent(NURSE.staff_id, START, CONSENT_STATEMENT))
    await photos.remove(CONSULT, refused.photo_id)
    await photos.remove(CONSULT, kept.photo_id)
    assert await photos.get(CONSULT, refused.photo_id) is None
    assert await photos.get(CONSULT, kept.photo_id) is not None


async def test_a_consent_noted_by_another_staff_member_names_them(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    """The photo was kept by a colleague before the signer took the note over: the consent's
    author is that colleague, by staff login id, not the signer."""
    setup = await prepare_draft(repo, engine, consult_id=CONSULT)
    await SessionLogArchive(engine).store(CONSULT, _log())
    photos = PhotoArchive(engine)
    kept = await photos.add(CONSULT, PATIENT.nss, _jpeg(), START, limit=LIMIT)
    assert kept is not None
    await photos.keep(CONSULT, kept.photo_id, PhotoConsent("s-colega", START, CONSENT_STATEMENT))
    await repo.sign(sign_request(setup), staff_ctx())
    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    assert validate_bundle(bundle) == []
    (media,) = _of_type(bundle, "Media")
    assert media["note"][0]["authorReference"] == {
        "type": "Practitioner",
        "identifier": {"system": STAFF_SYSTEM, "value": "s-colega"},
    }
