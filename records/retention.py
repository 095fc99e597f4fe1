"""Retention of what a consult leaves outside its record: chat words and photos nobody kept.

What the host keeps goes into the signed Bundle (the transcript as ``Communication``, photos as
``Media``) and stays there. The rest, the archived session log's ``chat_message`` entries (what
people wrote, and the sender's name) and the photos not kept, is deleted once the consult ended
more than ``days`` ago, so the host has that long to keep them. Only those rows are touched: notes,
Bundles, resources, AuditEvents, kept photos and the log's other entries stay.

Short links (``records/short_links.py``) whose token has expired are deleted in the same run:
they lead nowhere any more, and each still holds that token's text.

Each batch of at most ``batch`` consults is one transaction; the deletes are conditional, so
several nodes may run this at once (whichever comes second deletes nothing) and running it again
changes nothing. What was removed is logged as counts only, never words, names or consult ids.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, select, union
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from records.outbox_tables import ShortLinkRow
from records.photos import PhotoRow
from records.session_logs import SessionLogEntry
from rooms.session_log import EventKind

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 3600.0
"""Seconds between runs: hourly is plenty for a limit counted in days."""
DEFAULT_BATCH = 200
"""Consults per transaction: keeps each transaction (and its locks) short."""


@dataclass(frozen=True, slots=True)
class RetentionResult:
    consults: int = 0
    photos: int = 0
    chat_messages: int = 0
    short_links: int = 0

    def __add__(self, other: RetentionResult) -> RetentionResult:
        return RetentionResult(
            self.consults + other.consults,
            self.photos + other.photos,
            self.chat_messages + other.chat_messages,
            self.short_links + other.short_links,
        )


class Retention:
    """Deletes unkept photos and archived chat words of consults that ended more than ``days`` ago."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        days: int,
        clock: Callable[[], datetime],
        batch: int = DEFAULT_BATCH,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if days < 1 or batch < 1:
            raise ValueError("retention needs at least 1 day and a batch of at least 1")
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._days = days
        self._clock = clock
        self._batch = batch
        self._interval = interval

    async def run_once(self) -> RetentionResult:
        """Batch after batch until nothing is due; what tests call."""
        now = self._clock()
        cutoff = now - timedelta(days=self._days)
        total = RetentionResult()
        while True:
            done = await self._one_batch(cutoff)
            total += done
            if done.consults < self._batch:
                break
        total += await self._expired_short_links(now)
        if total != RetentionResult():
            log.info(
                "retention: removed %d unkept photos and %d chat messages of %d consults, "
                "%d expired short links",
                total.photos,
                total.chat_messages,
                total.consults,
                total.short_links,
            )
        return total

    async def _expired_short_links(self, now: datetime) -> RetentionResult:
        async with self._sessions.begin() as session:
            gone: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
                delete(ShortLinkRow).where(ShortLinkRow.expires_at < now)
            )
        return RetentionResult(short_links=gone.rowcount)

    async def _one_batch(self, cutoff: datetime) -> RetentionResult:
        ended = select(SessionLogEntry.consult_id).where(
            SessionLogEntry.kind == EventKind.ENDED.value, SessionLogEntry.at < cutoff
        )
        with_chat = select(SessionLogEntry.consult_id).where(
            SessionLogEntry.kind == EventKind.CHAT_MESSAGE.value, SessionLogEntry.consult_id.in_(ended)
        )
        with_photos = select(PhotoRow.consult_id).where(
            PhotoRow.kept_at.is_(None), PhotoRow.consult_id.in_(ended)
        )
        due = union(with_chat, with_photos).subquery()
        async with self._sessions.begin() as session:
            first = select(due.c.consult_id).order_by(due.c.consult_id).limit(self._batch)
            ids = list(await session.scalars(first))
            if not ids:
                return RetentionResult()
            photos: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
                delete(PhotoRow).where(PhotoRow.consult_id.in_(ids), PhotoRow.kept_at.is_(None))
            )
            chat: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
                delete(SessionLogEntry).where(
                    SessionLogEntry.consult_id.in_(ids), SessionLogEntry.kind == EventKind.CHAT_MESSAGE.value
                )
            )
        return RetentionResult(len(ids), photos.rowcount, chat.rowcount)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception as error:  # the next round tries again
                log.error("retention failed: %s", type(error).__name__, exc_info=error)

    async def lifecycle(self, _: object) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``: run every ``interval`` seconds while the app runs."""
        task = asyncio.get_running_loop().create_task(self._loop())
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
