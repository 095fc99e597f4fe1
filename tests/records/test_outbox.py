"""The outbox store on SQLite and PostgreSQL: claims never overlap, leases run out, choices filter
(a whole channel, or one kind of message on it; defaults never overrule a recorded choice)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from records.db import create_engine
from records.outbox import Choice, OutboxEntry, OutboxStore, Status

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
_ids = itertools.count()


def new_id() -> str:
    return f"m-{next(_ids):08d}"


def entry(n: int, *, channel: str = "sms", due: datetime = NOW, nss: str = "92910000018") -> OutboxEntry:
    return OutboxEntry(
        idempotency_key=f"c-{n}/0:confirmation:{channel}",
        unit="u1",
        appointment_id=f"c-{n}",
        generation=0,
        kind="confirmation",
        channel=channel,
        address="+525512345678",
        patient_nss=nss,
        first_name="Juan",
        language="es",
        time_zone="America/Mexico_City",
        starts_at=NOW + timedelta(days=2),
        ends_at=NOW + timedelta(days=2, minutes=20),
        token="v1.x.y",
        due_at=due,
    )


async def add(store: OutboxStore, entries: list[OutboxEntry], choices: tuple[Choice, ...] = ()) -> None:
    await store.transaction(lambda session: store.add(session, entries, now=NOW, choices=choices))


async def test_the_same_change_recorded_twice_is_one_message(engine: AsyncEngine) -> None:
    store = OutboxStore(engine, new_id=new_id)
    await add(store, [entry(1)])
    await add(store, [entry(1)])
    assert len(await store.of_unit("u1")) == 1


async def test_two_nodes_claiming_at_once_never_share_a_message(engine: AsyncEngine, db_url: str) -> None:
    await add(OutboxStore(engine, new_id=new_id), [entry(n) for n in range(40)])
    other = create_engine(db_url)
    try:
        stores = [OutboxStore(engine, new_id=new_id), OutboxStore(other, new_id=new_id)]

        async def drain(store: OutboxStore, node: str) -> list[str]:
            got: list[str] = []
            while claimed := await store.claim(node=node, now=NOW, lease=LEASE, limit=3):
                got += [c.message_id for c in claimed]
                await asyncio.sleep(0)
            return got

        first, second = await asyncio.gather(drain(stores[0], "a"), drain(stores[1], "b"))
    finally:
        await other.dispose()
    assert not set(first) & set(second)
    assert len(first) + len(second) == 40


async def test_a_lease_that_runs_out_frees_the_message_and_the_old_holder_changes_nothing(
    engine: AsyncEngine,
) -> None:
    store = OutboxStore(engine, new_id=new_id)
    await add(store, [entry(1)])
    (claimed,) = await store.claim(node="a", now=NOW, lease=LEASE, limit=5)
    assert await store.claim(node="b", now=NOW + LEASE - timedelta(seconds=1), lease=LEASE, limit=5) == []
    (again,) = await store.claim(node="b", now=NOW + LEASE, lease=LEASE, limit=5)
    assert (again.message_id, again.attempt) == (claimed.message_id, 2)
    assert not await store.finish(claimed.message_id, node="a", now=NOW + LEASE, status=Status.SENT)
    assert await store.finish(claimed.message_id, node="b", now=NOW + LEASE, status=Status.SENT)
    (view,) = await store.of_unit("u1")
    assert view.status == "sent"
    assert [(a.node, a.outcome) for a in view.attempts] == [("a", "sent"), ("b", "sent")]


async def test_a_retry_waits_for_its_time(engine: AsyncEngine) -> None:
    store = OutboxStore(engine, new_id=new_id)
    await add(store, [entry(1)])
    (claimed,) = await store.claim(node="a", now=NOW, lease=LEASE, limit=5)
    later = NOW + timedelta(seconds=30)
    await store.finish(
        claimed.message_id, node="a", now=NOW, status=Status.FAILED, error="http_503", retry_at=later
    )
    assert await store.claim(node="a", now=later - timedelta(seconds=1), lease=LEASE, limit=5) == []
    (again,) = await store.claim(node="a", now=later, lease=LEASE, limit=5)
    assert again.attempt == 2
    (view,) = await store.of_unit("u1")
    assert (view.status, view.last_error, view.attempts[0].outcome) == ("sending", "http_503", "failed")


async def test_choices_decide_what_is_recorded_and_what_is_still_sent(engine: AsyncEngine) -> None:
    store = OutboxStore(engine, new_id=new_id)
    off = Choice("92910000018", "email", False, "booking:n1")
    await add(store, [entry(1, channel="email"), entry(1, channel="sms")], (off,))
    assert [m.channel for m in await store.of_unit("u1")] == ["sms"]
    await store.choose([Choice("92910000018", "sms", False, "unsubscribe:m")], NOW)
    assert await store.claim(node="a", now=NOW, lease=LEASE, limit=5) == []
    (view,) = await store.of_unit("u1")
    assert view.status == "opted_out"
    assert view.address == "+52…78"


async def test_a_change_withdraws_what_the_older_appointment_had_pending(engine: AsyncEngine) -> None:
    store = OutboxStore(engine, new_id=new_id)
    await add(store, [entry(1, due=NOW + timedelta(days=1))])
    moved = replace(entry(1), generation=1, idempotency_key="c-1/1:confirmation:sms")
    await store.transaction(lambda session: store.add(session, [moved], now=NOW, withdraw_before=("c-1", 1)))
    statuses = sorted((m.kind, m.status) for m in await store.of_unit("u1"))
    assert statuses == [("confirmation", "pending"), ("confirmation", "withdrawn")]


async def test_a_choice_about_one_kind_stops_that_kind_only(engine: AsyncEngine) -> None:
    store = OutboxStore(engine, new_id=new_id)
    reminder = replace(entry(1), kind="reminder_1h", idempotency_key="c-1/0:reminder_1h:sms")
    await add(store, [entry(1), reminder])
    await store.choose([Choice("92910000018", "sms", False, "unsubscribe:m", kind="reminder_1h")], NOW)
    (claimed,) = await store.claim(node="a", now=NOW, lease=LEASE, limit=5)
    assert claimed.entry.kind == "confirmation"
    assert sorted((m.kind, m.status) for m in await store.of_unit("u1")) == [
        ("confirmation", "sending"),
        ("reminder_1h", "opted_out"),
    ]
    assert await store.enabled("92910000018", "sms")
    assert not await store.enabled("92910000018", "sms", "reminder_1h")
    # A newer choice of the whole channel (a booking that names it) applies to every kind again.
    await store.choose([Choice("92910000018", "sms", True, "booking:n1")], NOW)
    assert await store.enabled("92910000018", "sms", "reminder_1h")


async def test_defaults_are_recorded_only_for_a_channel_never_chosen(engine: AsyncEngine) -> None:
    store = OutboxStore(engine, new_id=new_id)
    await store.choose([Choice("92910000018", "sms", False, "unsubscribe:m")], NOW)
    defaults = (
        Choice("92910000018", "sms", True, "booking:n1"),
        Choice("92910000018", "whatsapp", False, "booking:n1"),
    )
    await store.transaction(
        lambda session: store.add(
            session, [entry(1), entry(1, channel="whatsapp")], now=NOW, defaults=defaults
        )
    )
    assert await store.of_unit("u1") == []  # sms stays off; whatsapp gets its default, off
    assert not await store.enabled("92910000018", "sms")
    assert not await store.enabled("92910000018", "whatsapp")
