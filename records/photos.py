"""Photos patients share in a consult, in the record database (never a folder served as files).

A photo is stored once it is clean (``records/photo_images.py``) and stays apart from the clinical
record until the host keeps it, with the patient's consent noted; kept photos become FHIR ``Media``
resources when the consult's note is signed (``records/bundle_media.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from records.db import Base, UtcDateTime, writer
from records.photo_images import clean_photo
from rooms.photos import Photo, PhotoConsent


class PhotoRow(Base):
    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consult_id: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    content_type: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    kept_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    kept_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    consent_statement: Mapped[str | None] = mapped_column(String(500), nullable=True)


def _photo(row: PhotoRow) -> Photo:
    return Photo(
        row.id,
        row.consult_id,
        row.uploaded_by,
        row.uploaded_at,
        row.content_type,
        row.width,
        row.height,
        row.byte_size,
        row.kept_at,
        row.kept_by,
        _consent(row),
    )


def _consent(row: PhotoRow) -> PhotoConsent | None:
    if row.consent_by is None or row.consent_at is None or row.consent_statement is None:
        return None
    return PhotoConsent(row.consent_by, row.consent_at, row.consent_statement)


class PhotoArchive:
    """The photos of consults: add (checked and re-encoded), remove a refused upload's, read, keep."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._adds = async_sessionmaker(writer(engine), expire_on_commit=False)
        self._postgres = engine.dialect.name == "postgresql"

    async def add(
        self, consult_id: str, uploaded_by: str, data: bytes, at: datetime, *, limit: int
    ) -> Photo | None:
        """Store the photo clean, or None when the consult already holds ``limit`` photos.

        Counting and adding is one step for concurrent uploads on any node: SQLite's writer
        transaction takes the write lock up front, PostgreSQL's takes a lock on the consult.
        """
        # Decoding and encoding take a CPU for a moment: not on the event loop.
        clean = await asyncio.to_thread(clean_photo, data)
        row = PhotoRow(
            id=str(uuid.uuid4()),
            consult_id=consult_id,
            uploaded_by=uploaded_by,
            uploaded_at=at,
            content_type=clean.content_type,
            width=clean.width,
            height=clean.height,
            byte_size=len(clean.data),
            sha256=clean.sha256,
            data=clean.data,
        )
        async with self._adds.begin() as session:
            if self._postgres:
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(consult_id)}
                )
            held = await session.scalar(
                select(func.count()).select_from(PhotoRow).where(PhotoRow.consult_id == consult_id)
            )
            if int(held or 0) >= limit:
                return None
            session.add(row)
        return _photo(row)

    async def remove(self, consult_id: str, photo_id: str) -> None:
        """Delete a photo whose upload was refused after it was stored; a kept one stays."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(PhotoRow).where(
                    PhotoRow.id == photo_id, PhotoRow.consult_id == consult_id, PhotoRow.kept_at.is_(None)
                )
            )

    async def get(self, consult_id: str, photo_id: str) -> tuple[Photo, bytes] | None:
        async with self._sessions() as session:
            row = await session.get(PhotoRow, photo_id)
        if row is None or row.consult_id != consult_id:
            return None
        return _photo(row), row.data

    async def keep(self, consult_id: str, photo_id: str, consent: PhotoConsent) -> Photo | None:
        """Mark the photo kept for the record by whoever noted the patient's consent, with that
        consent (once: keeping it again changes nothing)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(PhotoRow)
                .where(PhotoRow.id == photo_id, PhotoRow.consult_id == consult_id, PhotoRow.kept_at.is_(None))
                .values(
                    kept_at=consent.noted_at,
                    kept_by=consent.noted_by,
                    consent_by=consent.noted_by,
                    consent_at=consent.noted_at,
                    consent_statement=consent.statement,
                )
            )
            row = await session.get(PhotoRow, photo_id)
        return _photo(row) if row is not None and row.consult_id == consult_id else None


def _lock_key(consult_id: str) -> int:
    """The consult's PostgreSQL advisory lock: a signed 64-bit number from its id."""
    return int.from_bytes(hashlib.sha256(f"photos:{consult_id}".encode()).digest()[:8], "big", signed=True)


async def kept_photos(session: AsyncSession, consult_id: str) -> Sequence[tuple[Photo, bytes]]:
    """A consult's kept photos with their bytes, oldest first, inside the caller's transaction."""
    rows = await session.scalars(
        select(PhotoRow)
        .where(PhotoRow.consult_id == consult_id, PhotoRow.kept_at.is_not(None))
        .order_by(PhotoRow.uploaded_at, PhotoRow.id)
    )
    return [(_photo(row), row.data) for row in rows]
