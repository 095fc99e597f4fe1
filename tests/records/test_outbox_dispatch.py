"""The dispatcher over a real outbox (SQLite and PostgreSQL) and a local SMS provider.

Two dispatchers on two engines race over the same rows and every message reaches the provider
exactly once; a provider that fails is retried after doubling waits the test's clock steps
through; a refused request is not retried; an unsubscribe stops what was already queued.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifications.channels import HttpChannel, HttpSettings
from notifications.dispatcher import Dispatcher, Links, RetryPolicy
from records.db import create_engine
from records.outbox import Choice, OutboxEntry, OutboxStore
from records.short_links import ShortLinkStore
from tests.support.receivers import HttpReceiver, http_receiver

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
_ids = itertools.count()


def new_id() -> str:
    return f"d-{next(_ids):08d}"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Counted:
    """The dispatcher's observer: outcomes by (kind, outcome)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def notification(self, channel: str, kind: str, outcome: str) -> None:
        self.seen.append((channel, kind, outcome))


def entry(n: int, *, nss: str = "92910000018") -> OutboxEntry:
    return OutboxEntry(
        idempotency_key=f"c-{n}/0:confirmation:sms",
        unit="u1",
        appointment_id=f"c-{n}",
        generation=0,
        kind="confirmation",
        channel="sms",
        address="+525512345678",
        patient_nss=nss,
        first_name="Juan",
        language="es",
        time_zone="America/Mexico_City",
        starts_at=NOW + timedelta(days=2),
        ends_at=NOW + timedelta(days=2, minutes=20),
        token="v1.x.y",
        due_at=NOW,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with http_receiver() as receiver:
        yield receiver


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def dispatcher(
    engine: AsyncEngine, receiver: HttpReceiver, http: aiohttp.ClientSession, clock: Clock, node: str
) -> tuple[Dispatcher, Counted]:
    observer = Counted()
    channel = HttpChannel(
        HttpSettings(url=receiver.url, auth_header="Authorization: Bearer provider-secret"), http
    )
    links = Links("https://tc.example.org", b"k" * 32)
    policy = RetryPolicy(base_seconds=30, max_seconds=3600, max_attempts=4, batch=4)
    store = OutboxStore(engine, new_id=new_id)
    return Dispatcher(
        store,
        {"sms": channel},
        links,
        ShortLinkStore(engine),
        node=node,
        clock=clock,
        observer=observer,
        policy=policy,
    ), observer


async def record(store: OutboxStore, entries: list[OutboxEntry]) -> None:
    await store.transaction(lambda session: store.add(session, entries, now=NOW))


async def test_two_dispatchers_racing_send_each_message_once(
    engine: AsyncEngine, db_url: str, receiver: HttpReceiver, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    await record(OutboxStore(engine, new_id=new_id), [entry(n) for n in range(24)])
    other = create_engine(db_url)
    try:
        first, _ = dispatcher(engine, receiver, http, clock, "node-a")
        second, _ = dispatcher(other, receiver, http, clock, "node-b")

        async def drain(d: Dispatcher) -> None:
            while await d.run_once():
                await asyncio.sleep(0)

        await asyncio.gather(drain(first), drain(second), drain(first), drain(second))
    finally:
        await other.dispose()
    keys = [got["key"] for got in receiver.received]
    assert len(keys) == 24 and len(set(keys)) == 24
    assert {got["auth"] for got in receiver.received} == {"Bearer provider-secret"}
    views = await OutboxStore(engine, new_id=new_id).of_unit("u1")
    assert {v.status for v in views} == {"sent"}
    assert {len(v.attempts) for v in views} == {1}


async def test_a_failing_provider_is_retried_with_doubling_waits_and_sent_once(
    engine: AsyncEngine, receiver: HttpReceiver, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    store = OutboxStore(engine, new_id=new_id)
    await record(store, [entry(1)])
    d, observer = dispatcher(engine, receiver, http, clock, "node-a")
    receiver.failures = 2
    assert await d.run_once() == 1  # 503: again in 30 s
    clock.now = NOW + timedelta(seconds=29)
    assert await d.run_once() == 0
    clock.now = NOW + timedelta(seconds=30)
    assert await d.run_once() == 1  # 503 again: in 60 s
    clock.now += timedelta(seconds=59)
    assert await d.run_once() == 0
    clock.now += timedelta(seconds=1)
    assert await d.run_once() == 1  # delivered
    clock.now += timedelta(hours=2)
    assert await d.run_once() == 0
    assert len(receiver.refused) == 2 and len(receiver.received) == 1
    (view,) = await store.of_unit("u1")
    assert view.status == "sent"
    assert [(a.outcome, a.error) for a in view.attempts] == [
        ("failed", "http_503"),
        ("failed", "http_503"),
        ("sent", None),
    ]
    assert [o for _, _, o in observer.seen] == ["retried", "retried", "sent"]


async def test_a_refused_request_fails_at_once_and_retries_stop_at_the_limit(
    engine: AsyncEngine, receiver: HttpReceiver, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    store = OutboxStore(engine, new_id=new_id)
    await record(store, [entry(1)])
    d, _ = dispatcher(engine, receiver, http, clock, "node-a")
    receiver.failures, receiver.fail_with = 1, 400
    await d.run_once()
    await record(store, [entry(2)])
    receiver.failures, receiver.fail_with = 10, 500
    for _ in range(6):
        clock.now += timedelta(hours=1)
        await d.run_once()
    statuses = {v.appointment_id: (v.status, len(v.attempts)) for v in await store.of_unit("u1")}
    # One refused with 400 (not retried); the other failed with 500 four times (the limit).
    assert sorted(statuses.values()) == [("failed", 1), ("failed", 4)]
    assert receiver.received == []


async def test_an_unsubscribe_stops_messages_already_queued(
    engine: AsyncEngine, receiver: HttpReceiver, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    store = OutboxStore(engine, new_id=new_id)
    await record(store, [entry(1), replace_due(entry(2), NOW + timedelta(hours=1))])
    d, _ = dispatcher(engine, receiver, http, clock, "node-a")
    assert await d.run_once() == 1
    await store.choose([Choice("92910000018", "sms", False, "unsubscribe:x")], NOW)
    clock.now = NOW + timedelta(hours=1)
    assert await d.run_once() == 0
    assert len(receiver.received) == 1
    assert sorted(v.status for v in await store.of_unit("u1")) == ["opted_out", "sent"]


def replace_due(e: OutboxEntry, due: datetime) -> OutboxEntry:
    return replace(e, due_at=due, idempotency_key=e.idempotency_key.replace("confirmation", "reminder_1h"))
