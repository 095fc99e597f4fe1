"""Migrations build the schema the code expects, on SQLite and PostgreSQL, and keep older data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from records import bundle_media, session_logs, tables
from records.db import Base, create_engine, create_schema
from records.migrate import alembic_config, current_revision, head_revision, migrate
from records.photos import PhotoArchive
from records.session_logs import SessionLogArchive
from rooms.photos import PhotoConsent
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


async def test_photos_kept_before_consent_was_stored_get_the_consent_they_were_kept_with(
    tmp_path: object,
) -> None:
    """Before 0003 a photo was kept only with ``consent: true``, by its keeper, when kept."""
    url = f"sqlite+aiosqlite:///{tmp_path}/photos.sqlite3"
    engine = create_engine(url)
    kept_at = datetime(2026, 12, 1, 16, tzinfo=UTC)

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

        return run

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to("0002_photos"))
            for photo_id, kept in (("kept", True), ("shared", False)):
                await connection.execute(
                    text(
                        "INSERT INTO photos VALUES "
                        "(:id, 'c-1', 'p-1', :at, 'image/jpeg', 1, 1, 1, 'x', x'00', :kept_at, :kept_by)"
                    ),
                    {
                        "id": photo_id,
                        "at": kept_at,
                        "kept_at": kept_at if kept else None,
                        "kept_by": "s-nurse" if kept else None,
                    },
                )
        await migrate(engine)
        photos = PhotoArchive(engine)
        found = await photos.get("c-1", "kept")
        assert found is not None
        assert found[0].consent == PhotoConsent("s-nurse", kept_at, bundle_media.KEPT_NOTE)
        shared = await photos.get("c-1", "shared")
        assert shared is not None and shared[0].consent is None
    finally:
        await engine.dispose()
