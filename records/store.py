"""What every part of the record store shares: one engine's read and write sessions, the clock, ids.

Reads use plain sessions; writes go through :func:`records.db.writer`, whose SQLite transactions take
the write lock up front, so a read-then-write transaction waits its turn instead of failing. The
clock and the id source are passed in so that tests get stable times and ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from records.db import writer

Resource = dict[str, Any]
"""A FHIR resource as JSON."""


class Store:
    def __init__(
        self, engine: AsyncEngine, *, clock: Callable[[], datetime], new_id: Callable[[], str]
    ) -> None:
        self.read = async_sessionmaker(engine, expire_on_commit=False)
        self.write = async_sessionmaker(writer(engine), expire_on_commit=False)
        self.clock = clock
        self.new_id = new_id
        self._dialect = postgresql if engine.dialect.name == "postgresql" else sqlite

    async def insert_ignore(
        self, session: AsyncSession, table: FromClause, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Insert the rows whose key is not stored yet: what is already there stays exactly as it was.

        Storing the same resource, identifier, care relation or ``AuditEvent`` twice (a retried
        signing, a nurse admitting the same patient again) is then no error and no duplicate.
        """
        if rows:
            await session.execute(self._dialect.insert(table).on_conflict_do_nothing(), list(rows))
