"""Bring the record database to the newest schema: the app calls :func:`migrate` once at start.

Alembic runs synchronously; here it runs inside an async engine's connection through ``run_sync``,
so one function upgrades a SQLite file and PostgreSQL alike. On PostgreSQL a transaction-scoped
advisory lock makes nodes that start together take turns: the first upgrades, the others find the
schema at head. On SQLite the transaction begins ``IMMEDIATE`` for the same effect.

Revisions may branch: parts written side by side each add their tables after the same parent
(e.g. ``0002_outbox`` beside another ``0002``), and :func:`migrate` applies every branch ("heads"),
so the order in which they were merged does not matter while they touch different tables.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from records.db import create_engine, writer

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x7E1EC0D5  # any constant shared by every node of this application


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> tuple[str, ...]:
    """The newest revision of every branch, sorted (one branch: one revision)."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")


def _current(connection: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


async def migrate(target: str | AsyncEngine) -> None:
    """Upgrade the database at ``target`` (a URL or an engine) to the head revision."""
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        async with writer(engine).begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            await connection.run_sync(_upgrade)
    finally:
        if isinstance(target, str):
            await engine.dispose()


async def current_revision(engine: AsyncEngine) -> tuple[str, ...]:
    """The revisions the database is at, one per branch, sorted; ``()`` before any migration."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)
