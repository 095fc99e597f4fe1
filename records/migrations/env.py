"""Alembic environment: runs on the connection :func:`records.migrate.migrate` hands it.

``migrate`` opens an async engine and calls Alembic through ``run_sync``, so the same code path
upgrades a SQLite file and PostgreSQL. Used from the ``alembic`` command line (e.g. to write a new
revision), it builds its own engine from ``sqlalchemy.url``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from records import outbox_tables, session_logs, tables
from records.db import Base, create_engine

target_metadata = Base.metadata
_REGISTERED = (outbox_tables, session_logs, tables)  # importing them registers their tables on Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_from_url(str(context.config.get_main_option("sqlalchemy.url"))))


main()
