"""Retention on SQLite and PostgreSQL: a consult that ended more than N days ago loses its unkept
photos and its archived chat words, and keeps its kept photos, signed Bundle, resources and
AuditEvents; one that ended less than N days ago keeps everything; a second run changes nothing."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta

from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from records.photos import PhotoArchive, PhotoRow
from records.repository import RecordRepository
from records.retention import Retention, RetentionResult
from records.session_logs import SessionLogArchive, replaces_archive
from rooms.photos import CONSENT_STATEMENT, PhotoConsent
from rooms.photos import MAX_PHOTOS_PER_CONSULT as LIMIT
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

DAYS = 30
OLD, RECENT = "consult-old", "consult-recent"
ENDED = START + timedelta(minutes=20)  # the end in helpers.session_log
NOW = ENDED + timedelta(days=DAYS + 1)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def _log(consult_id: str, shift: timedelta) -> list[SessionEvent]:
    chat = [
        SessionEvent(
            consult_id,
            EventKind.CHAT_MESSAGE,
            START + timedelta(minutes=seq),
            PATIENT.nss,
            Role.PATIENT,
            "c",
            {"seq": str(seq), "text": f"me duele {seq}", "name": "Paciente"},
        )
        for seq in (1, 2)
    ]
    events = sorted(session_log(consult_id) + chat, key=lambda e: e.at)
    return [replace(e, at=e.at + shift) for e in events]


async def _share(engine: AsyncEngine, consult_id: str, at: datetime) -> str:
    """Two photos shared, the first kept; returns the kept one's id."""
    photos = PhotoArchive(engine)
    kept = await photos.add(consult_id, PATIENT.nss, _jpeg(), at, limit=LIMIT)
    assert kept is not None
    await photos.add(consult_id, PATIENT.nss, _jpeg(), at, limit=LIMIT)
    await photos.keep(consult_id, kept.photo_id, PhotoConsent(NURSE.staff_id, at, CONSENT_STATEMENT))
    return kept.photo_id


async def _photo_ids(engine: AsyncEngine, consult_id: str) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.scalars(select(PhotoRow.id).where(PhotoRow.consult_id == consult_id)))


async def _kinds(engine: AsyncEngine, consult_id: str) -> list[EventKind]:
    return [e.kind for e in await SessionLogArchive(engine).load(consult_id)]


async def test_retention_removes_only_unkept_photos_and_chat_words_of_old_consults(
    repo: RecordRepository, engine: AsyncEngine
) -> None:
    setup = await prepare_draft(repo, engine, consult_id=OLD)
    await SessionLogArchive(engine).store(OLD, _log(OLD, timedelta()))
    old_kept = await _share(engine, OLD, START + timedelta(minutes=5))
    await repo.sign(replace(sign_request(setup), keep_chat=True), staff_ctx())
    bundle = await repo.stored_bundle(setup.note_id, staff_ctx())
    recent_shift = timedelta(days=2)  # ended DAYS - 1 days before NOW
    await SessionLogArchive(engine).store(RECENT, _log(RECENT, recent_shift))
    await _share(engine, RECENT, START + recent_shift)
    recent_photos = await _photo_ids(engine, RECENT)
    old_kinds, recent_kinds = await _kinds(engine, OLD), await _kinds(engine, RECENT)
    before, audits = await counts(engine), len(await audit_rows(engine))

    retention = Retention(engine, days=DAYS, clock=lambda: NOW, batch=1)
    assert await retention.run_once() == RetentionResult(consults=1, photos=1, chat_messages=2)

    assert await _photo_ids(engine, OLD) == {old_kept}
    assert await _kinds(engine, OLD) == [k for k in old_kinds if k is not EventKind.CHAT_MESSAGE]
    assert EventKind.ENDED in await _kinds(engine, OLD)
    assert await _photo_ids(engine, RECENT) == recent_photos and len(recent_photos) == 2
    assert await _kinds(engine, RECENT) == recent_kinds
    assert await counts(engine) == before and len(await audit_rows(engine)) == audits
    assert await repo.stored_bundle(setup.note_id, staff_ctx()) == bundle  # (reading it is audited)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("Communication") == 2

    assert await retention.run_once() == RetentionResult()
    assert await _photo_ids(engine, OLD) == {old_kept} and await _photo_ids(engine, RECENT) == recent_photos


async def test_batches_cover_every_due_consult(engine: AsyncEngine) -> None:
    for n in range(5):
        consult = f"consult-{n}"
        await SessionLogArchive(engine).store(consult, _log(consult, timedelta()))
        await PhotoArchive(engine).add(consult, PATIENT.nss, _jpeg(), START, limit=LIMIT)
    retention = Retention(engine, days=DAYS, clock=lambda: NOW, batch=2)
    assert await retention.run_once() == RetentionResult(consults=5, photos=5, chat_messages=10)
    assert await retention.run_once() == RetentionResult()


async def test_a_live_log_never_brings_deleted_chat_words_back(engine: AsyncEngine) -> None:
    """A note signed after retention ran re-reads the live log (longer: it still has the chat);
    the archive that holds the end is final, so the words stay deleted."""
    live = _log(OLD, timedelta())
    await SessionLogArchive(engine).store(OLD, live)
    assert await Retention(engine, days=DAYS, clock=lambda: NOW).run_once() == RetentionResult(
        consults=1, chat_messages=2
    )
    archived = await SessionLogArchive(engine).load(OLD)
    assert len(live) > len(archived) and not replaces_archive(archived, live)
    # While the consult runs, the longer live log is the newer one.
    running = [e for e in live if e.kind is not EventKind.ENDED]
    assert replaces_archive(running[:3], running) and not replaces_archive(running, running[:3])
