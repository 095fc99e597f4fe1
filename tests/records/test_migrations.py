"""Migrations build the schema the code expects, on SQLite and PostgreSQL, and keep older data."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from records import session_logs, tables
from records.db import Base, create_engine, create_schema
from records.migrate import current_revision, head_revision, migrate
from records.session_logs import SessionLogArchive
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent

_TABLES = (session_logs, tables)


async def test_the_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    await migrate(engine)  # already at head: a no-op
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    assert diff == []


async def test_a_database_from_before_migrations_keeps_its_session_logs(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.sqlite3"
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: Base.metadata.tables["session_log_entries"].create(sync))
        event = SessionEvent("c-old", EventKind.ENDED, datetime(2026, 1, 5, 16, tzinfo=UTC), "n1", Role.NURSE)
        await SessionLogArchive(engine).store("c-old", [event])
        await migrate(url)
        assert await SessionLogArchive(engine).load("c-old") == [event]
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM notes")) == 0
    finally:
        await engine.dispose()


async def test_create_schema_then_migrate_is_safe(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/both.sqlite3"
    engine = create_engine(url)
    try:
        await create_schema(engine)
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
