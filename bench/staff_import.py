"""Importing a program's nurses from CSV: how long one all-or-nothing import takes, and what the
alternative of initial passwords in the file would cost in argon2 hashing.

Imports N accounts (one transaction, every row checked, an ``AuditEvent`` each) into a fresh SQLite
file, then the same file again (the idempotent re-import: nothing changes), and hashes a sample of
passwords with the server's argon2 parameters to estimate hashing N of them in the bounded pool.
Figures only, no pass/fail; the last line is JSON.

    python -m bench.staff_import [--rows 3000] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher

from records.db import create_engine
from records.migrate import migrate
from records.staff import Admin, StaffDirectory
from records.staff_facts import unit_facts
from records.staff_import import import_csv

HASH_SAMPLE = 8


def nurses(rows: int) -> str:
    lines = ["username,full_name,role,unit,licence"]
    lines += [f"enf{n:05d},Enfermera Número {n},nurse,UMF-{n % 12 + 1},{1000000 + n}" for n in range(rows)]
    return "\n".join(lines) + "\n"


async def run(rows: int, threads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'records.sqlite3'}")
        await migrate(engine)
        directory = StaffDirectory(engine, clock=lambda: datetime.now(UTC))
        admin = Admin("bench", "bench", "bench")
        for unit in range(1, 13):
            await directory.put_unit(
                unit_facts(f"UMF-{unit}", f"DFIMS{unit:06d}", f"UMF {unit}", "UTC"), admin
            )
        text = nurses(rows)
        started = time.perf_counter()
        first = await import_csv(directory, text, admin)
        imported = time.perf_counter() - started
        started = time.perf_counter()
        again = await import_csv(directory, text, admin)
        reimported = time.perf_counter() - started
        await engine.dispose()
    assert first.created == rows and again.unchanged == rows
    hasher = PasswordHasher()
    started = time.perf_counter()
    for n in range(HASH_SAMPLE):
        hasher.hash(f"initial-password-{n}")
    per_hash = (time.perf_counter() - started) / HASH_SAMPLE
    return {
        "rows": rows,
        "import_s": round(imported, 2),
        "reimport_s": round(reimported, 2),
        "argon2_per_hash_ms": round(per_hash * 1000, 1),
        "argon2_all_rows_s": round(per_hash * rows / threads, 1),
        "threads": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // 2))
    args = parser.parse_args()
    figures = asyncio.run(run(args.rows, args.threads))
    print(f"import of {figures['rows']} accounts: {figures['import_s']} s", end="; ")
    print(f"again (no change): {figures['reimport_s']} s")
    print(
        f"argon2, if the file carried passwords: {figures['argon2_per_hash_ms']} ms a hash, "
        f"≈ {figures['argon2_all_rows_s']} s for every row on {figures['threads']} thread(s)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
