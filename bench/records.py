"""Record store at program scale: signing and FHIR reads with 100,000 encounters already stored.

The store is first filled with ``--encounters`` (100,000) encounters of ``--encounters / 5`` patients
(five consults each), written with bulk inserts of the rows the store itself would hold: each
encounter's ``Encounter``, ``Composition``, ``Observation``\\ s, ``Condition`` and ``Provenance``
(``--quick``: ``Encounter`` and ``Composition`` only, so the load fits in seconds), each patient's
``Patient``, its NSS identifier row and the bench nurse's care relation. Their content is copied
from a real signed Bundle with the ids changed, so row sizes are realistic.

Then, against that full store, through the real :class:`RecordRepository` API:

* **sign**: open a draft, save a complete first-consult note, archive its session log (untimed),
  then time ``sign`` (validation of ~30 resources, one transaction writing ~30 rows and the audit).
  Sequential latencies, and throughput with ``--concurrency`` signers at once.
* **$everything** of a random patient (5 encounters, ~40 resources plus practitioners), and the
  searches ``Patient?identifier=``, ``Encounter?patient=&date=`` and ``Composition?encounter=``;
  each read includes writing its ``AuditEvent``.

SQLite is a file in a temporary folder (WAL, synchronous=NORMAL: the server's settings).
PostgreSQL (skipped with ``--quick``) is a real server started here with durable commits (fsync on).

    python -m bench.records [--quick] [--encounters 100000] [--samples 300]

The last line printed is one JSON object; ``sign_p95_ms`` and ``everything_p95_ms`` are SQLite's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.first_consult import FIRST_CONSULT_CONTENT
from bench.support import postgres_server
from records.access import AccessContext
from records.bundle_parties import patient_resource
from records.bundle_refs import derived_id
from records.db import create_engine
from records.facts import ConsentFacts, PatientFacts, StaffFacts, UnitFacts
from records.fhir_bundle import ResourceIds, SignedConsult, build_bundle
from records.identifiers import CONSULT_SYSTEM, NSS_SYSTEM
from records.migrate import migrate
from records.notes import new_draft, revise, sign
from records.repository import RecordRepository, SignRequest
from records.session_logs import SessionLogArchive
from records.tables import CareRelationRow, IdentifierRow, ResourceRow
from records.templates import TemplateCode
from rooms.nss import luhn_check_digit
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent

DAY0 = datetime(2025, 1, 6, 15, tzinfo=UTC)
UNIT = UnitFacts("DFIMS000652", "UMF 28")
NURSE = StaffFacts("bench-nurse", "Enfermera de Prueba", Role.NURSE, "1234567", UNIT)
CTX = AccessContext.staff(NURSE.staff_id, NURSE.full_name, Role.NURSE, "127.0.0.1")
PER_PATIENT = 5
BATCH = 5000


def nss(serial: int) -> str:
    payload = f"{serial:010d}"
    return payload + str(luhn_check_digit(payload))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": pct(values, 0.5),
        "p95_ms": pct(values, 0.95),
        "p99_ms": pct(values, 0.99),
        "mean_ms": round(statistics.fmean(values), 2),
    }


def session_log(consult_id: str, patient: str, start: datetime) -> list[SessionEvent]:
    return [
        SessionEvent(consult_id, EventKind.CHECKED_IN, start - timedelta(minutes=2), patient, Role.PATIENT),
        SessionEvent(consult_id, EventKind.ADMITTED, start, NURSE.staff_id, Role.NURSE),
        SessionEvent(consult_id, EventKind.JOINED, start + timedelta(seconds=20), patient, Role.PATIENT),
        SessionEvent(consult_id, EventKind.ENDED, start + timedelta(minutes=18), NURSE.staff_id, Role.NURSE),
    ]


def templates() -> dict[str, dict[str, Any]]:
    """Resolved resources of one real signed first consult, keyed by a short name."""
    note = new_draft(
        note_id="tpl",
        consult_id="tpl",
        patient_id="P",
        template_code=TemplateCode.FIRST_CONSULT,
        author_id=NURSE.staff_id,
        author_name=NURSE.full_name,
        at=DAY0,
    )
    note = revise(note, editor_id=NURSE.staff_id, base_version=1, content=FIRST_CONSULT_CONTENT, at=DAY0)
    note = sign(note, signer_id=NURSE.staff_id, version=2, request_id="tpl", at=DAY0 + timedelta(minutes=20))
    patient = PatientFacts(nss(1), "Paciente Plantilla", date(1970, 1, 1))
    bundle = build_bundle(
        SignedConsult(
            note,
            session_log("tpl", patient.nss, DAY0),
            patient,
            NURSE,
            ResourceIds("P", "PR", "PRR", "ORG"),
            "c2VhbA==",
            "127.0.0.1",
            ConsentFacts(DAY0),
        )
    )
    found: dict[str, dict[str, Any]] = {}
    for entry in cast(list[dict[str, Any]], bundle["entry"]):
        resource = entry["resource"]
        kind = resource["resourceType"]
        if kind == "Observation":
            kind = f"Observation/{resource['code']['coding'][0]['code']}"
        found.setdefault(kind, resource)
    return found


def encounter_rows(
    index: int, patient_id: str, tpl: dict[str, dict[str, Any]], quick: bool
) -> list[dict[str, Any]]:
    start = DAY0 + timedelta(days=index // 400, minutes=(index % 400) * 2)
    end = start + timedelta(minutes=18)
    enc_id = derived_id(f"bench:{index}", "Encounter")
    subject = {"reference": f"Patient/{patient_id}"}
    encounter_ref = {"reference": f"Encounter/{enc_id}"}
    rows: list[tuple[dict[str, Any], datetime, datetime | None]] = [
        (
            {
                **tpl["Encounter"],
                "id": enc_id,
                "subject": subject,
                "identifier": [{"system": CONSULT_SYSTEM, "value": f"bench-{index}"}],
                "period": {"start": start.isoformat(), "end": end.isoformat()},
            },
            start,
            end,
        )
    ]
    kinds = (
        ["Composition"]
        if quick
        else [
            "Composition",
            "Observation/29463-7",
            "Observation/85354-9",
            "Observation/2339-0",
            "Observation/55758-7",
            "Condition",
            "Provenance",
        ]
    )
    for kind in kinds:
        content = {**tpl[kind], "id": derived_id(f"bench:{index}", kind)}
        if "subject" in content:
            content["subject"] = subject
        if "encounter" in content:
            content["encounter"] = encounter_ref
        rows.append((content, end, None))
    return [
        {
            "id": c["id"],
            "resource_type": c["resourceType"],
            "version_id": 1,
            "last_updated": end,
            "patient_id": patient_id,
            "encounter_id": None if c["resourceType"] == "Encounter" else enc_id,
            "date_start": s,
            "date_end": e,
            "bundle_id": None,
            "content": c,
        }
        for c, s, e in rows
    ]


async def bulk_load(engine: AsyncEngine, encounters: int, quick: bool) -> tuple[list[str], list[str], float]:
    """Insert the synthetic history; returns patient ids, their NSS and the seconds it took."""
    tpl = templates()
    began = time.perf_counter()
    patients = max(1, encounters // PER_PATIENT)
    patient_ids = [derived_id(f"bench-patient:{i}", "Patient") for i in range(patients)]
    numbers = [nss(10_000 + i) for i in range(patients)]
    now = DAY0
    async with engine.begin() as connection:
        for first in range(0, patients, BATCH):
            chunk = range(first, min(patients, first + BATCH))
            await connection.execute(
                insert(ResourceRow),
                [
                    {
                        "id": patient_ids[i],
                        "resource_type": "Patient",
                        "version_id": 1,
                        "last_updated": now,
                        "patient_id": patient_ids[i],
                        "encounter_id": None,
                        "date_start": None,
                        "date_end": None,
                        "bundle_id": None,
                        "content": patient_resource(
                            PatientFacts(numbers[i], f"Paciente {i}", date(1980, 1, 1)), patient_ids[i]
                        ),
                    }
                    for i in chunk
                ],
            )
            await connection.execute(
                insert(IdentifierRow),
                [
                    {
                        "resource_type": "Patient",
                        "system": NSS_SYSTEM,
                        "value": numbers[i],
                        "resource_id": patient_ids[i],
                    }
                    for i in chunk
                ],
            )
            await connection.execute(
                insert(CareRelationRow),
                [
                    {
                        "patient_id": patient_ids[i],
                        "staff_id": NURSE.staff_id,
                        "consult_id": None,
                        "since": now,
                    }
                    for i in chunk
                ],
            )
        rows: list[dict[str, Any]] = []
        for index in range(encounters):
            rows.extend(encounter_rows(index, patient_ids[index % patients], tpl, quick))
            if len(rows) >= BATCH:
                await connection.execute(insert(ResourceRow), rows)
                rows = []
        if rows:
            await connection.execute(insert(ResourceRow), rows)
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE")
    return patient_ids, numbers, time.perf_counter() - began


async def timed(call: Awaitable[Any]) -> float:
    """Milliseconds to complete ``call`` (a coroutine not started yet)."""
    began = time.perf_counter()
    await call
    return (time.perf_counter() - began) * 1000


async def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    await migrate(url)
    engine = create_engine(url)
    result: dict[str, Any] = {}
    try:
        patient_ids, numbers, load_s = await bulk_load(engine, args.encounters, args.quick)
        result["load_s"] = round(load_s, 1)
        loaded = f"{args.encounters:,} encounters ({len(patient_ids):,} patients)"
        print(f"[{name}] {loaded} loaded in {load_s:.1f} s")
        repo = RecordRepository(engine, signing_key=b"bench-signing-key-0123456789abcdef")
        archive = SessionLogArchive(engine)
        rng = random.Random(args.seed)
        counter = iter(range(10**9))

        async def prepared_sign(pick: int) -> Callable[[], Awaitable[Any]]:
            i = next(counter)
            consult = f"sign-{name}-{i}"
            await archive.store(
                consult, session_log(consult, numbers[pick], datetime.now(UTC) - timedelta(minutes=25))
            )
            note = await repo.open_draft(
                consult_id=consult, patient_nss=numbers[pick], template="first-consult", ctx=CTX
            )
            note = await repo.save_draft(
                note.note_id, base_version=note.version, content=FIRST_CONSULT_CONTENT, ctx=CTX
            )
            request = SignRequest(
                note.note_id,
                note.version,
                f"req-{name}-{i}",
                NURSE,
                ConsentFacts(datetime.now(UTC) - timedelta(minutes=30)),
            )
            return lambda: repo.sign(request, CTX)

        for _ in range(5):  # warm-up: model classes, statement caches, connection pool
            await (await prepared_sign(rng.randrange(len(numbers))))()
        signs = [
            await timed((await prepared_sign(rng.randrange(len(numbers))))()) for _ in range(args.samples)
        ]
        result["sign"] = summary(signs)
        batch = [await prepared_sign(rng.randrange(len(numbers))) for _ in range(args.samples)]
        gate = asyncio.Semaphore(args.concurrency)

        async def limited(call: Callable[[], Awaitable[Any]]) -> None:
            async with gate:
                await call()

        began = time.perf_counter()
        await asyncio.gather(*(limited(call) for call in batch))
        result["sign_throughput_per_s"] = round(len(batch) / (time.perf_counter() - began), 1)

        reads: dict[str, list[float]] = {
            "everything": [],
            "patient_identifier": [],
            "encounter_search": [],
            "composition_search": [],
        }
        for _ in range(args.samples):
            pick = rng.randrange(len(patient_ids))
            reads["everything"].append(await timed(repo.everything(patient_ids[pick], CTX)))
            identifier = [("identifier", f"{NSS_SYSTEM}|{numbers[pick]}")]
            reads["patient_identifier"].append(await timed(repo.search("Patient", identifier, CTX)))
            dates = [("patient", patient_ids[pick]), ("date", "ge2025-01-01"), ("date", "lt2027-01-01")]
            began = time.perf_counter()
            found = await repo.search("Encounter", dates, CTX)
            reads["encounter_search"].append((time.perf_counter() - began) * 1000)
            entries = found["entry"]
            encounter_id = entries[0]["resource"]["id"] if entries else "none"
            composition = [("encounter", encounter_id)]
            reads["composition_search"].append(await timed(repo.search("Composition", composition, CTX)))
        for key, values in reads.items():
            result[key] = summary(values)
        sizes = [len((await repo.everything(patient_ids[i], CTX))["entry"]) for i in range(3)]
        result["everything_resources"] = max(sizes)
        for key in ("sign", *reads):
            print(
                f"[{name}] {key:>20}: p50 {result[key]['p50_ms']:7.2f} ms"
                f"  p95 {result[key]['p95_ms']:7.2f} ms  p99 {result[key]['p99_ms']:7.2f} ms"
            )
        print(
            f"[{name}] sign throughput with {args.concurrency} at once: {result['sign_throughput_per_s']}/s"
        )
    finally:
        await engine.dispose()
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"encounters": args.encounters, "samples": args.samples, "quick": args.quick}
    workdir = Path(tempfile.mkdtemp(prefix="bench-records-"))
    try:
        sqlite = await bench_backend("sqlite", f"sqlite+aiosqlite:///{workdir / 'records.sqlite3'}", args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out.update({f"sqlite_{k}": v for k, v in sqlite.items()})
    out["sign_p95_ms"] = sqlite["sign"]["p95_ms"]
    out["everything_p95_ms"] = sqlite["everything"]["p95_ms"]
    if not args.quick and not args.sqlite_only:
        import asyncpg  # type: ignore[import-untyped]

        with postgres_server(durable=True) as admin_url:
            dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
            connection = await asyncpg.connect(dsn)
            await connection.execute("CREATE DATABASE bench")
            await connection.close()
            url = make_url(admin_url).set(database="bench").render_as_string(hide_password=False)
            pg = await bench_backend("postgresql", url, args)
        out.update({f"postgresql_{k}": v for k, v in pg.items()})
        out["postgresql_sign_p95_ms"] = pg["sign"]["p95_ms"]
        out["postgresql_everything_p95_ms"] = pg["everything"]["p95_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="SQLite only, 2 rows per encounter, 100 samples (under a minute)"
    )
    parser.add_argument("--encounters", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=None, help="default 300 (100 with --quick)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.samples is None:
        args.samples = 100 if args.quick else 300
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
