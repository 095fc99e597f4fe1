"""Record-store fixtures: every DB test runs on a SQLite file and on a real PostgreSQL server.

PostgreSQL is started once per session (``bench.support.postgres_server``); a template
database is migrated once and each test gets a fresh copy (``CREATE DATABASE ... TEMPLATE``), so
tests are isolated and every one of them runs on a schema built by the Alembic migrations.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.support import find_postgres_bin, postgres_server
from records.db import create_engine
from records.migrate import migrate
from records.repository import RecordRepository
from tests.records.helpers import SIGNING_KEY, Clock
from tests.support.services import require_or_skip

TEMPLATE_DB = "tc_template"
_numbers = itertools.count()


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run setup in its own loop and thread: a session fixture may first be requested inside a test's loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _dsn(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    require_or_skip(find_postgres_bin() is not None, "PostgreSQL (initdb/postgres binaries)")
    with postgres_server() as url:

        async def prepare() -> None:
            admin = await asyncpg.connect(_dsn(url, "postgres"))
            try:
                await admin.execute(f"CREATE DATABASE {TEMPLATE_DB}")
            finally:
                await admin.close()
            await migrate(make_url(url).set(database=TEMPLATE_DB).render_as_string(hide_password=False))

        _run(prepare())
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "records.sqlite3"
    _run(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "records.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    base: str = request.getfixturevalue("postgres_url")
    name = f"t{next(_numbers)}"
    admin = await asyncpg.connect(_dsn(base, "postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    finally:
        await admin.close()
    yield make_url(base).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(engine: AsyncEngine, clock: Clock) -> RecordRepository:
    return RecordRepository(engine, signing_key=SIGNING_KEY, clock=clock)
