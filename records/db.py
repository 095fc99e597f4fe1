"""Database engine and the declarative base shared by every record table.

SQLite (through aiosqlite) is the embedded default; PostgreSQL (asyncpg) is used when a
``postgresql+asyncpg://`` URL is configured. Both go through SQLAlchemy 2's async API so the
same code and the same tests run against each.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def create_engine(url: str) -> AsyncEngine:
    """Build an engine for ``url``, creating a SQLite file's folder and enabling WAL.

    WAL lets readers (FHIR searches) proceed while a consult is being signed, and
    ``synchronous=NORMAL`` in WAL mode still never loses a committed transaction on a crash
    of the process (only on power loss of the machine).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


async def create_schema(engine: AsyncEngine) -> None:
    """Create every table that does not exist yet."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
