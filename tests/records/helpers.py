"""Facts, contexts and drafts shared by the record tests; their complete note is ``bench.first_consult``'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.first_consult import FIRST_CONSULT_CONTENT
from records.access import AccessContext
from records.facts import ConsentFacts, PatientFacts, Sex, StaffFacts, UnitFacts
from records.identifiers import curp_check_digit
from records.repository import RecordRepository, SignRequest
from records.session_logs import SessionLogArchive
from records.tables import AuditRow, BundleRow, NoteRow, ResourceRow
from rooms.nss import luhn_check_digit
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent

SIGNING_KEY = b"test-signing-key-0123456789abcdef"
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 09:00 in Mexico City


class Clock:
    def __init__(self) -> None:
        self.now = START + timedelta(minutes=30)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=10)
        return self.now


def nss(serial: int) -> str:
    payload = f"9291{serial:06d}"
    return payload + str(luhn_check_digit(payload))


def curp(stem: str = "GODE561231HDFRRN0") -> str:
    return stem + str(curp_check_digit(stem))


UNIT = UnitFacts("DFIMS000652", "UMF 28 Gabriel Mancera")
NURSE = StaffFacts("nurse-1", "Ana María López Ruiz", Role.NURSE, "1234567", UNIT)
OTHER_NURSE = StaffFacts("nurse-2", "Beatriz Sánchez Díaz", Role.NURSE, "7654321", UNIT)
PATIENT = PatientFacts(
    nss(1), "Juan Pérez García", date(1970, 5, 17), curp=curp(), sex=Sex.MALE, phone="+525512345678"
)
OTHER_PATIENT = PatientFacts(nss(2), "María Gómez Luna", date(1985, 1, 9), sex=Sex.FEMALE)
CONSENT = ConsentFacts(teleconsult_at=START - timedelta(minutes=5))


def staff_ctx(staff: StaffFacts = NURSE, address: str = "10.0.0.7") -> AccessContext:
    return AccessContext.staff(staff.staff_id, staff.full_name, staff.role, address)


def session_log(
    consult_id: str, *, patient_nss: str = PATIENT.nss, host: str = NURSE.staff_id
) -> list[SessionEvent]:
    return [
        SessionEvent(consult_id, EventKind.CREATED, START - timedelta(minutes=10), "system", None),
        SessionEvent(
            consult_id, EventKind.CHECKED_IN, START - timedelta(minutes=3), patient_nss, Role.PATIENT, "c1"
        ),
        SessionEvent(consult_id, EventKind.ADMITTED, START, host, Role.NURSE, "c2"),
        SessionEvent(
            consult_id, EventKind.JOINED, START + timedelta(minutes=1), patient_nss, Role.PATIENT, "c1"
        ),
        SessionEvent(
            consult_id, EventKind.JOINED, START + timedelta(minutes=4), "interp-7", Role.INTERPRETER, "c3"
        ),
        SessionEvent(
            consult_id, EventKind.LEFT, START + timedelta(minutes=12), "interp-7", Role.INTERPRETER, "c3"
        ),
        SessionEvent(consult_id, EventKind.ENDED, START + timedelta(minutes=20), host, Role.NURSE, "c2"),
    ]


@dataclass
class SignedSetup:
    patient_id: str
    note_id: str
    version: int
    consult_id: str


async def prepare_draft(
    repo: RecordRepository,
    engine: AsyncEngine,
    *,
    consult_id: str = "consult-1",
    patient: PatientFacts = PATIENT,
    author: StaffFacts = NURSE,
    content: dict[str, Any] | None = None,
    template: str = "first-consult",
) -> SignedSetup:
    ctx = staff_ctx(author)
    patient_id = await repo.ensure_patient(patient, ctx)
    await repo.grant_care(patient.nss, author.staff_id, consult_id, ctx)
    await SessionLogArchive(engine).store(
        consult_id, session_log(consult_id, patient_nss=patient.nss, host=author.staff_id)
    )
    note = await repo.open_draft(consult_id=consult_id, patient_nss=patient.nss, template=template, ctx=ctx)
    note = await repo.save_draft(
        note.note_id, base_version=note.version, content=content or FIRST_CONSULT_CONTENT, ctx=ctx
    )
    return SignedSetup(patient_id, note.note_id, note.version, consult_id)


def sign_request(setup: SignedSetup, request_id: str = "req-1", author: StaffFacts = NURSE) -> SignRequest:
    return SignRequest(setup.note_id, setup.version, request_id, author, CONSENT)


async def counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows of each clinical table, to show a refused request changed nothing."""
    result = {}
    async with engine.connect() as connection:
        for name, table in (("notes", NoteRow), ("bundles", BundleRow), ("resources", ResourceRow)):
            result[name] = int(await connection.scalar(select(func.count()).select_from(table)) or 0)
        result["versions"] = int(
            await connection.scalar(select(func.coalesce(func.sum(NoteRow.version), 0))) or 0
        )
        result["resource_versions"] = int(
            await connection.scalar(select(func.coalesce(func.sum(ResourceRow.version_id), 0))) or 0
        )
    return result


async def audit_rows(engine: AsyncEngine) -> list[AuditRow]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(AuditRow).order_by(AuditRow.recorded))
        return list(rows)  # type: ignore[arg-type]
