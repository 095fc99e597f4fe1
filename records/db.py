"""Database engine and the declarative base shared by every record table.

SQLite (through aiosqlite) is the embedded default; PostgreSQL (asyncpg) is used when a
``postgresql+asyncpg://`` URL is configured. Both go through SQLAlchemy 2's async API so the
same code and the same tests run against each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

SQLITE_BEGIN = "sqlite_begin"
"""Execution option naming how SQLite starts a transaction (``DEFERRED`` unless ``IMMEDIATE`` is asked)."""


class Base(DeclarativeBase):
    pass


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime`` on every backend.

    PostgreSQL keeps the zone (``timestamptz``); SQLite stores text without one, so values are
    normalized to UTC on the way in and marked UTC on the way out. Naive datetimes are refused:
    a clinical time without a zone is ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("record times must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """Build an engine for ``url``, creating a SQLite file's folder and enabling WAL.

    WAL lets readers (FHIR searches) proceed while a consult is being signed, and
    ``synchronous=NORMAL`` in WAL mode still never loses a committed transaction on a crash
    of the process (only on power loss of the machine).

    SQLite transactions are begun by us rather than by the driver, so a writer can ask for
    ``BEGIN IMMEDIATE`` (execution option :data:`SQLITE_BEGIN`): a deferred transaction that reads
    and then writes fails at once with "database is locked" when another writer committed in
    between, while an immediate one waits its turn (``busy_timeout``).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (and pool) whose transactions take SQLite's write lock up front."""
    return engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}) if is_sqlite(engine) else engine


async def create_schema(engine: AsyncEngine) -> None:
    """Create every table that does not exist yet (tests and tools; the server runs migrations)."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
