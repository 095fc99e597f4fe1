"""Short links for SMS: ``/l/<code>`` stands for a long token link (``/paciente#t=…``, ``/baja#t=…``).

A join token is about 215 characters and an unsubscribe token about 106: two of them make one SMS
eight parts. An SMS carries a short link instead, whose code is random (72 bits, URL-safe), so it
cannot be guessed and is itself the permission, as the token's signature is. The code is kept
here with the real link (``short_links``), in the record database beside the message it belongs
to, and lasts as long as the token it stands for.

One code per message and purpose: a send tried again (a retry, a lease taken over) carries the
same code, so the patient never gets two different texts for one message.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from records.db import writer
from records.outbox_tables import ShortLinkRow

CODE_BYTES = 9
"""72 random bits: 12 URL-safe characters."""


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


class ShortLinkStore:
    def __init__(self, engine: AsyncEngine, *, code: Callable[[], str] = new_code) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        self._write = async_sessionmaker(writer(engine), expire_on_commit=False)
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._code = code

    async def shorten(
        self, message_id: str, purpose: str, target: str, *, expires_at: datetime | None, now: datetime
    ) -> str:
        """The code of ``message_id``'s ``purpose`` link (``target``: the real link's path and
        fragment), made on first use; the same code every time after."""
        table = ShortLinkRow
        existing = select(table.code).where(table.message_id == message_id, table.purpose == purpose)
        dialect = postgresql if self._postgres else sqlite
        async with self._write.begin() as session:
            code = await session.scalar(existing)
            if code is not None:
                return code
            # Two nodes sending the same message at once (one lost its lease) keep the first code.
            await session.execute(
                dialect.insert(table)
                .values(
                    code=self._code(),
                    message_id=message_id,
                    purpose=purpose,
                    target=target,
                    created_at=now,
                    expires_at=expires_at,
                )
                .on_conflict_do_nothing(index_elements=["message_id", "purpose"])
            )
            stored = await session.scalar(existing)
        assert stored is not None  # inserted, or inserted by the other node first
        return stored

    async def target(self, code: str, now: datetime) -> str | None:
        """Where a code leads while the token it stands for lasts; ``None`` for an unknown or expired one."""
        table = ShortLinkRow
        async with self._read() as session:
            return await session.scalar(
                select(table.target).where(
                    table.code == code, or_(table.expires_at.is_(None), table.expires_at > now)
                )
            )
