"""Durable copy of a consult's session log, written when the consult ends.

The live log is kept by the room store while the consult runs; this archive is the copy the
clinical record is built from, so storing it is idempotent: storing the same consult's log again
replaces it in one transaction instead of duplicating entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from records.db import Base
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent


class SessionLogEntry(Base):
    __tablename__ = "session_log_entries"
    __table_args__ = (UniqueConstraint("consult_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consult_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    connection_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class SessionLogArchive:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def store(self, consult_id: str, events: Sequence[SessionEvent]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(SessionLogEntry).where(SessionLogEntry.consult_id == consult_id))
            session.add_all(
                SessionLogEntry(
                    consult_id=consult_id,
                    seq=seq,
                    kind=event.kind.value,
                    at=event.at,
                    actor_id=event.actor_id,
                    actor_role=event.actor_role.value if event.actor_role else None,
                    connection_id=event.connection_id,
                    detail=dict(event.detail),
                )
                for seq, event in enumerate(events)
            )

    async def load(self, consult_id: str) -> list[SessionEvent]:
        async with self._sessions() as session:
            return await events_of(session, consult_id)


def replaces_archive(archived: Sequence[SessionEvent], live: Sequence[SessionEvent]) -> bool:
    """Whether the live log should replace the archived one. While the consult runs the live log
    only grows, so a longer one is newer. Once the archive holds the consult's end it is final:
    retention later deletes its chat words, and the live copy must not bring them back."""
    return len(live) > len(archived) and not any(event.kind is EventKind.ENDED for event in archived)


async def events_of(session: AsyncSession, consult_id: str) -> list[SessionEvent]:
    """A consult's archived log in order, inside the caller's transaction (the record reads it there)."""
    rows = await session.scalars(
        select(SessionLogEntry).where(SessionLogEntry.consult_id == consult_id).order_by(SessionLogEntry.seq)
    )
    return [_to_event(row) for row in rows]


def _to_event(row: SessionLogEntry) -> SessionEvent:
    at = row.at
    if at.tzinfo is None:  # SQLite returns naive datetimes; they were stored as UTC.
        at = at.replace(tzinfo=UTC)
    return SessionEvent(
        consult_id=row.consult_id,
        kind=EventKind(row.kind),
        at=at,
        actor_id=row.actor_id,
        actor_role=Role(row.actor_role) if row.actor_role else None,
        connection_id=row.connection_id,
        detail=row.detail or {},
    )
