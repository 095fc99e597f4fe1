"""Short links on SQLite and PostgreSQL: one code per message and purpose, unguessable, lasting as
long as the token it stands for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from records.outbox import OutboxStore
from records.retention import Retention, RetentionResult
from records.short_links import ShortLinkStore
from tests.records.test_outbox import NOW, add, entry, new_id

EXPIRES = NOW + timedelta(days=2)


async def _one_message(engine: AsyncEngine) -> tuple[ShortLinkStore, str]:
    """A short-link store beside one outbox message; returns the store and the message's id."""
    outbox = OutboxStore(engine, new_id=new_id)
    await add(outbox, [entry(1)])
    (message,) = await outbox.of_unit("u1")
    return ShortLinkStore(engine), message.message_id


async def test_a_message_keeps_one_code_per_purpose_until_its_token_expires(engine: AsyncEngine) -> None:
    links, message_id = await _one_message(engine)
    code = await links.shorten(message_id, "link", "/paciente#t=v1.a.b", expires_at=EXPIRES, now=NOW)
    again = await links.shorten(message_id, "link", "/paciente#t=v1.a.b", expires_at=EXPIRES, now=NOW)
    opt_out = await links.shorten(message_id, "opt_out", "/baja#t=u1.c.d", expires_at=None, now=NOW)
    assert code == again != opt_out
    assert re.fullmatch(r"[A-Za-z0-9_-]{12}", code)  # 72 random bits, URL-safe
    assert await links.target(code, NOW) == "/paciente#t=v1.a.b"
    assert await links.target(code, EXPIRES - timedelta(seconds=1)) == "/paciente#t=v1.a.b"
    assert await links.target(code, EXPIRES) is None
    far = datetime(2036, 1, 1, tzinfo=UTC)
    assert await links.target(opt_out, far) == "/baja#t=u1.c.d"  # an unsubscribe link never expires
    assert await links.target("unknown-code", NOW) is None


async def test_retention_deletes_the_links_whose_token_expired(engine: AsyncEngine) -> None:
    links, message_id = await _one_message(engine)
    code = await links.shorten(message_id, "link", "/paciente#t=v1.a.b", expires_at=EXPIRES, now=NOW)
    opt_out = await links.shorten(message_id, "opt_out", "/baja#t=u1.c.d", expires_at=None, now=NOW)
    assert await Retention(engine, days=30, clock=lambda: EXPIRES).run_once() == RetentionResult()
    later = EXPIRES + timedelta(seconds=1)
    assert await Retention(engine, days=30, clock=lambda: later).run_once() == RetentionResult(short_links=1)
    assert await links.target(code, NOW) is None  # gone, not just expired
    assert await links.target(opt_out, later) == "/baja#t=u1.c.d"
    assert await Retention(engine, days=30, clock=lambda: later).run_once() == RetentionResult()
