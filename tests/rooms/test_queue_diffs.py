"""Consoles follow a unit's queue by its numbered changes, never by reading it whole again.

A console model holds a snapshot and applies each change the store announces
(:func:`rooms.queue.apply_change`, which ``web/static/js/queue.js`` mirrors). Over random
sequences of every queue operation, in memory and in Redis: the numbers run without a gap, and
after every operation the console's queue and nurses equal a fresh snapshot. A console that
misses a number sees the gap at the next change and takes a snapshot again.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms import queue as rules
from rooms.errors import DomainError
from rooms.nurses import NurseState
from rooms.queue import QueueChange, QueueEntry, QueuePolicy, UnitQueue
from rooms.store.queue import QueueStore
from tests.rooms.conftest import make_store

T0 = datetime(2026, 3, 2, 16, tzinfo=UTC)
MIN = timedelta(minutes=1)
NURSES = ("n-0", "n-1", "n-2")
PATIENTS = 8


@dataclass
class Console:
    """What a console holds: the queue at a version, and whether it noticed a gap."""

    state: UnitQueue
    gaps: int = 0
    heard: list[QueueChange] = field(default_factory=list)

    async def hear(self, change: QueueChange, store: QueueStore) -> None:
        self.heard.append(change)
        if change.version <= self.state.version:
            return  # already in the snapshot it holds
        if change.version != self.state.version + 1:
            self.gaps += 1
            self.state = await store.snapshot(change.unit)
            return
        self.state = rules.apply_change(self.state, change)


def same_view(console: UnitQueue, snapshot: UnitQueue) -> None:
    """What a console shows: who waits, in order and as they are, and the nurses' states."""
    assert console.waiting == snapshot.waiting
    assert dict(console.nurses) == dict(snapshot.nurses)
    assert console.version == snapshot.version


def entry(unit: str, index: int, *, urgent: bool = False) -> QueueEntry:
    return QueueEntry(
        f"a-{index}", f"p-{index}", unit, T0 + (index % 3) * 20 * MIN, T0 + index * MIN, urgent=urgent
    )


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("check_in"), st.integers(0, PATIENTS - 1), st.booleans()),
        st.tuples(st.just("drop"), st.integers(0, PATIENTS - 1)),
        st.tuples(st.just("rejoin"), st.integers(0, PATIENTS - 1)),
        st.tuples(st.just("cancel"), st.integers(0, PATIENTS - 1)),
        st.tuples(st.just("urgent"), st.integers(0, PATIENTS - 1), st.booleans()),
        st.tuples(st.just("next"), st.integers(0, 2)),
        st.tuples(st.just("finish"), st.integers(0, 2)),
        st.tuples(st.just("duty"), st.integers(0, 2), st.booleans()),
        st.tuples(st.just("take"), st.integers(0, 2), st.integers(0, PATIENTS - 1)),
        st.tuples(st.just("release"), st.integers(0, 2), st.booleans()),
        st.tuples(st.just("register"), st.integers(0, 2)),
        st.tuples(st.just("remove"), st.integers(0, 2)),
        st.tuples(st.just("close")),
        st.tuples(st.just("bump")),
    ),
    max_size=40,
)


async def apply(store: QueueStore, unit: str, op: tuple[Any, ...], now: datetime) -> None:
    kind = op[0]
    if kind == "check_in":
        await store.check_in(entry(unit, op[1], urgent=op[2]))
    elif kind == "drop":
        await store.drop(unit, f"a-{op[1]}", now)
    elif kind == "rejoin":
        await store.rejoin(unit, f"a-{op[1]}")
    elif kind == "cancel":
        await store.cancel(unit, f"a-{op[1]}")
    elif kind == "urgent":
        await store.set_urgent(unit, f"a-{op[1]}", op[2])
    elif kind == "next":
        await store.next_patient(unit, NURSES[op[1]], now)
    elif kind == "finish":
        await store.finish_consult(unit, NURSES[op[1]], now)
    elif kind == "duty":
        target = NurseState.AVAILABLE if op[2] else NurseState.AWAY
        await store.set_nurse_state(unit, NURSES[op[1]], target, now)
    elif kind == "take":
        await store.take_directly(unit, NURSES[op[1]], f"a-{op[2]}", now)
    elif kind == "release":
        nurse = (await store.snapshot(unit)).nurses.get(NURSES[op[1]])
        if nurse is not None and nurse.appointment_id is not None:
            index = int(nurse.appointment_id.removeprefix("a-"))
            requeue = entry(unit, index) if op[2] else None
            await store.release_nurse(unit, nurse.nurse_id, nurse.appointment_id, now, requeue)
    elif kind == "register":
        await store.register_nurse(unit, NURSES[op[1]])
    elif kind == "remove":
        await store.remove_nurse(unit, NURSES[op[1]])
    elif kind == "close":
        await store.close(unit)
    else:
        change = await store.bump(unit)
        await console_of(store).hear(change, store)  # the live side announces its own numbers


_consoles: dict[int, Console] = {}


def console_of(store: QueueStore) -> Console:
    return _consoles[id(store)]


async def follow(store: QueueStore, ops: list[tuple[Any, ...]], *, miss: int | None = None) -> Console:
    """Run ``ops`` on a fresh unit with a console listening; ``miss``: the change it never hears."""
    unit = f"u-{uuid.uuid4().hex[:8]}"
    console = Console(await store.snapshot(unit))
    _consoles[id(store)] = console

    async def listener(change: QueueChange) -> None:
        if change.version == miss:
            console.heard.append(change)
            return
        await console.hear(change, store)

    store.listen(listener)
    for nurse_id in NURSES[:2]:
        await store.register_nurse(unit, nurse_id)
    for index, op in enumerate(ops):
        try:
            await apply(store, unit, op, T0 + index * MIN)
        except DomainError:
            pass  # refused: nothing changed, nothing announced
        same_view_unless_missed(console, await store.snapshot(unit), miss)
    versions = [c.version for c in console.heard]
    assert versions == list(range(1, len(versions) + 1)), "changes are numbered one by one"
    return console


def same_view_unless_missed(console: Console, snapshot: UnitQueue, miss: int | None) -> None:
    if miss is not None and console.state.version == miss - 1 and snapshot.version >= miss:
        return  # the missed change was the last one: the console learns of it at the next
    same_view(console.state, snapshot)


def run(kind: str, url: str | None, ops: list[tuple[Any, ...]], miss: int | None = None) -> Console:
    async def main() -> Console:
        store = make_store(kind, url, QueuePolicy())
        try:
            return await follow(store, ops, miss=miss)
        finally:
            await store.aclose()

    return asyncio.run(main())


@settings(max_examples=200, deadline=None)
@given(ops=OPS)
def test_a_console_applying_the_changes_in_order_equals_the_snapshot_in_memory(ops: list[Any]) -> None:
    assert run("memory", None, ops).gaps == 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_a_console_applying_the_changes_in_order_equals_the_snapshot_in_redis(
    redis_url: str, ops: list[Any]
) -> None:
    assert run("redis", redis_url, ops).gaps == 0


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_console_that_misses_a_change_takes_a_snapshot_and_agrees_again(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue("redis_url")) if kind == "redis" else None
    ops: list[tuple[Any, ...]] = [
        ("duty", 0, True),
        ("check_in", 1, False),
        ("check_in", 2, False),  # the change the console misses (version 4)
        ("drop", 1),
        ("urgent", 2, True),
        ("next", 0),
    ]
    console = run(kind, url, ops, miss=4)
    assert console.gaps == 1
    assert [e.appointment_id for e in console.state.waiting] == ["a-1"]


def test_changes_between_and_apply_change_are_inverse() -> None:
    """The in-memory store's change, applied to the state before it, gives the state after it."""
    before = UnitQueue("u", waiting=(entry("u", 1), entry("u", 2)))
    after, _ = rules.set_urgent(before, "a-2", True)
    after, _ = rules.cancel(after, "a-1")
    after, _ = rules.register_nurse(after, "n-0")
    change = rules.changes_between(before, after, 7)
    assert change.removed == ("a-1",)
    assert [e.appointment_id for e in change.entries] == ["a-2"]
    assert rules.apply_change(before, change) == replace(after, version=7)
    assert rules.apply_change(before, change).version == 7
