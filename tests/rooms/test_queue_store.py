"""One suite for every queue store: in memory, and Redis against a real redis-server.

Each answer is also checked against the pure rules of :mod:`rooms.queue` where that adds
something (the Redis store re-implements them in Lua).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from rooms import queue as rules
from rooms.nurses import InvalidNurseTransition, NurseNotAvailable, NurseState
from rooms.queue import AlreadyServed, NotInQueue, QueueEntry, QueuePolicy, UnitQueue, WaitBasis, WrongUnit
from rooms.store.queue import QueueStore
from rooms.store.queue_redis import RedisQueueStore, order_key
from tests.rooms.conftest import make_store

T0 = datetime(2026, 3, 2, 16, tzinfo=UTC)  # Monday 10:00 in Mexico City
MIN = timedelta(minutes=1)
UNIT = "umf-1"
StoreFactory = Callable[[QueuePolicy], QueueStore]


@pytest.fixture
async def store_with(store_kind: str, store_url: str | None) -> AsyncIterator[StoreFactory]:
    """A factory of stores of the kind under test, with a given policy."""
    made: list[QueueStore] = []

    def factory(policy: QueuePolicy) -> QueueStore:
        made.append(make_store(store_kind, store_url, policy))
        return made[-1]

    yield factory
    for store in made:
        await store.aclose()


def entry(
    appointment_id: str, start_minutes: int = 0, checked_in_minutes: int = 0, **changes: object
) -> QueueEntry:
    made = QueueEntry(
        appointment_id, f"p-{appointment_id}", UNIT, T0 + start_minutes * MIN, T0 + checked_in_minutes * MIN
    )
    return replace(made, **changes)  # type: ignore[arg-type]


async def staffed(store: QueueStore, *nurse_ids: str, unit: str = UNIT) -> None:
    for nurse_id in nurse_ids:
        await store.register_nurse(unit, nurse_id)
        await store.set_nurse_state(unit, nurse_id, NurseState.AVAILABLE, T0 - 60 * MIN)


async def waiting_ids(store: QueueStore, unit: str = UNIT) -> list[str]:
    return [e.appointment_id for e in (await store.snapshot(unit)).waiting]


async def take(store: QueueStore, nurse_id: str, now: datetime = T0) -> str | None:
    """The nurse takes the next patient and, to be ready for another, ends the consult at once."""
    pairing = await store.next_patient(UNIT, nurse_id, now)
    if pairing is None:
        return None
    await store.finish_consult(UNIT, nurse_id, now)
    return pairing.entry.appointment_id


async def test_the_queue_is_ordered_by_appointment_time_then_check_in_time(queue_store: QueueStore) -> None:
    for made in (
        entry("late-slot", 20, -10),
        entry("b", 0, 3),
        entry("a", 0, 2),
        entry("early-slot", -20, 5),
    ):
        assert await queue_store.check_in(made) == made
    assert await waiting_ids(queue_store) == ["early-slot", "a", "b", "late-slot"]
    await staffed(queue_store, "n-1")
    assert [await take(queue_store, "n-1") for _ in range(5)] == ["early-slot", "a", "b", "late-slot", None]


async def test_urgent_jumps_the_queue(queue_store: QueueStore) -> None:
    await queue_store.check_in(entry("a", 0, 0))
    await queue_store.check_in(entry("b", 20, 1))
    await queue_store.check_in(entry("urgent-late", 40, 2, urgent=True))
    assert await waiting_ids(queue_store) == ["urgent-late", "a", "b"]
    flagged = await queue_store.set_urgent(UNIT, "b", True)
    assert flagged.urgent
    assert await waiting_ids(queue_store) == ["b", "urgent-late", "a"]  # urgent among urgent: by time
    assert (await queue_store.set_urgent(UNIT, "b", True)) == flagged  # flagging twice changes nothing
    await queue_store.set_urgent(UNIT, "b", False)
    assert await waiting_ids(queue_store) == ["urgent-late", "a", "b"]  # back to its original place
    with pytest.raises(NotInQueue) as caught:
        await queue_store.set_urgent(UNIT, "nobody", True)
    assert caught.value.code == "not_in_queue"


async def test_checking_in_again_keeps_the_place_and_reconnects(queue_store: QueueStore) -> None:
    first = entry("a", 0, 0)
    await queue_store.check_in(first)
    await queue_store.check_in(entry("b", 0, 1))
    assert await queue_store.check_in(replace(first, checked_in_at=T0 + 9 * MIN, urgent=True)) == first
    await queue_store.drop(UNIT, "a", T0 + 2 * MIN)
    assert await queue_store.check_in(replace(first, checked_in_at=T0 + 9 * MIN)) == first  # reconnected
    assert await waiting_ids(queue_store) == ["a", "b"]


async def test_a_dropped_patient_keeps_their_place_and_is_skipped_until_back(queue_store: QueueStore) -> None:
    await staffed(queue_store, "n-1", "n-2")
    for made in (entry("a", 0, 0), entry("b", 0, 1), entry("c", 0, 2)):
        await queue_store.check_in(made)
    dropped = await queue_store.drop(UNIT, "a", T0 + MIN)
    assert dropped is not None and not dropped.connected and dropped.dropped_at == T0 + MIN
    assert await queue_store.drop(UNIT, "a", T0 + 2 * MIN) == dropped  # the first drop time is kept
    assert await take(queue_store, "n-1") == "b"
    back = await queue_store.rejoin(UNIT, "a")
    assert back is not None and back.connected and back.dropped_at is None
    assert await queue_store.rejoin(UNIT, "a") == back
    assert await take(queue_store, "n-2") == "a"  # ahead of c, who checked in later


async def test_a_long_absence_shows_as_absent_but_the_order_key_is_kept(queue_store: QueueStore) -> None:
    await staffed(queue_store, "n-1")
    await queue_store.check_in(entry("a", 0, 0))
    await queue_store.check_in(entry("b", 0, 1))
    await queue_store.drop(UNIT, "a", T0)
    soon = await queue_store.position(UNIT, "a", T0 + MIN)
    later = await queue_store.position(UNIT, "a", T0 + 30 * MIN)
    assert soon is not None and later is not None
    assert (soon.place, soon.absent, later.place, later.absent) == (1, False, 1, True)
    b_later = await queue_store.position(UNIT, "b", T0 + 30 * MIN)
    assert b_later is not None and b_later.ahead == 0  # an absent patient does not hold b up
    await queue_store.rejoin(UNIT, "a")
    assert await take(queue_store, "n-1", T0 + 31 * MIN) == "a"


async def test_a_pinned_patient_waits_for_their_nurse_then_anyone_may_take_them(
    queue_store: QueueStore,
) -> None:
    await staffed(queue_store, "n-1", "n-2")
    await queue_store.check_in(entry("pinned", 0, 0, pinned_nurse="n-2", pinned_until=T0 + 10 * MIN))
    await queue_store.check_in(entry("free", 20, 0))
    first = await queue_store.next_patient(UNIT, "n-1", T0)
    assert first is not None and first.entry.appointment_id == "free"  # n-1 skips n-2's patient
    await queue_store.finish_consult(UNIT, "n-1", T0 + MIN)
    assert await queue_store.next_patient(UNIT, "n-1", T0 + 9 * MIN) is None  # only the pinned one is left
    fallback = await queue_store.next_patient(UNIT, "n-1", T0 + 10 * MIN)
    assert fallback is not None and fallback.entry.appointment_id == "pinned"


async def test_the_pinned_nurse_gets_their_patient(queue_store: QueueStore) -> None:
    await staffed(queue_store, "n-1", "n-2")
    await queue_store.check_in(entry("free", 0, 0))
    await queue_store.check_in(entry("pinned", 20, 0, pinned_nurse="n-2", pinned_until=T0 + 30 * MIN))
    assert await take(queue_store, "n-2") == "free"  # the head comes first, even for the pinned nurse
    assert await take(queue_store, "n-2") == "pinned"


async def test_a_pin_lapses_while_the_pinned_nurse_is_away(queue_store: QueueStore) -> None:
    await staffed(queue_store, "n-1", "n-2")
    await queue_store.check_in(entry("pinned", 0, 0, pinned_nurse="n-2", pinned_until=T0 + 30 * MIN))
    await queue_store.set_nurse_state(UNIT, "n-2", NurseState.AWAY, T0)
    assert await take(queue_store, "n-1") == "pinned"
    await queue_store.check_in(entry("ghost-pin", 0, 1, pinned_nurse="n-9", pinned_until=T0 + 30 * MIN))
    assert await take(queue_store, "n-1") == "ghost-pin"  # pinned to someone not in the unit at all


async def test_a_nurse_takes_patients_only_from_their_own_unit(queue_store: QueueStore) -> None:
    await staffed(queue_store, "n-1", unit="umf-1")
    await staffed(queue_store, "n-other", unit="umf-2")
    await queue_store.check_in(entry("a"))
    for unit, nurse_id in (("umf-1", "n-other"), ("umf-2", "n-1"), ("umf-1", "stranger")):
        with pytest.raises(WrongUnit) as caught:
            await queue_store.next_patient(unit, nurse_id, T0)
        assert caught.value.code == "wrong_unit" and caught.value.unit == unit
    with pytest.raises(WrongUnit):
        await queue_store.set_nurse_state("umf-1", "n-other", NurseState.AWAY, T0)
    with pytest.raises(WrongUnit):
        await queue_store.finish_consult("umf-1", "n-other", T0)
    assert await waiting_ids(queue_store) == ["a"]
    assert await queue_store.next_patient("umf-2", "n-other", T0) is None  # their own queue is empty


async def test_only_an_available_or_wrapping_up_nurse_takes_a_patient(queue_store: QueueStore) -> None:
    registered = await queue_store.register_nurse(UNIT, "n-1")
    assert registered.state is NurseState.AWAY and registered.unit == UNIT
    for made in (entry("a", 0, 0), entry("b", 0, 1), entry("c", 0, 2)):
        await queue_store.check_in(made)
    with pytest.raises(NurseNotAvailable) as away:
        await queue_store.next_patient(UNIT, "n-1", T0)
    assert away.value.code == "nurse_not_available" and away.value.current is NurseState.AWAY
    await queue_store.set_nurse_state(UNIT, "n-1", NurseState.AVAILABLE, T0)
    pairing = await queue_store.next_patient(UNIT, "n-1", T0 + MIN)
    assert pairing is not None
    assert (pairing.nurse.state, pairing.nurse.appointment_id, pairing.nurse.since) == (
        NurseState.IN_CONSULT,
        "a",
        T0 + MIN,
    )
    assert pairing.at == T0 + MIN and pairing.waited == MIN
    with pytest.raises(NurseNotAvailable):  # a second click, another tab: still one patient
        await queue_store.next_patient(UNIT, "n-1", T0 + MIN)
    nurse, took = await queue_store.finish_consult(UNIT, "n-1", T0 + 18 * MIN)
    assert (nurse.state, took) == (NurseState.WRAP_UP, 17 * MIN)
    again = await queue_store.next_patient(UNIT, "n-1", T0 + 19 * MIN)  # straight from wrap-up
    assert again is not None and again.entry.appointment_id == "b"


async def test_nurse_state_changes(queue_store: QueueStore) -> None:
    await queue_store.register_nurse(UNIT, "n-1")
    assert (await queue_store.register_nurse(UNIT, "n-1")).state is NurseState.AWAY  # idempotent
    available = await queue_store.set_nurse_state(UNIT, "n-1", NurseState.AVAILABLE, T0)
    assert (available.state, available.since) == (NurseState.AVAILABLE, T0)
    same = await queue_store.set_nurse_state(UNIT, "n-1", NurseState.AVAILABLE, T0 + MIN)
    assert same.since == T0
    assert (await queue_store.register_nurse(UNIT, "n-1")).state is NurseState.AVAILABLE  # not reset
    await queue_store.check_in(entry("a"))
    await queue_store.next_patient(UNIT, "n-1", T0)
    with pytest.raises(InvalidNurseTransition) as caught:
        await queue_store.set_nurse_state(UNIT, "n-1", NurseState.AWAY, T0)
    assert (caught.value.current, caught.value.target) == (NurseState.IN_CONSULT, NurseState.AWAY)
    with pytest.raises(InvalidNurseTransition):
        await queue_store.remove_nurse(UNIT, "n-1")
    with pytest.raises(ValueError):
        await queue_store.set_nurse_state(UNIT, "n-1", NurseState.WRAP_UP, T0)
    await queue_store.finish_consult(UNIT, "n-1", T0 + 5 * MIN)
    with pytest.raises(InvalidNurseTransition) as finished_twice:
        await queue_store.finish_consult(UNIT, "n-1", T0 + 6 * MIN)
    assert finished_twice.value.target is NurseState.WRAP_UP
    away = await queue_store.set_nurse_state(UNIT, "n-1", NurseState.AWAY, T0 + 7 * MIN)
    assert (away.state, away.appointment_id) == (NurseState.AWAY, None)
    await queue_store.remove_nurse(UNIT, "n-1")
    await queue_store.remove_nurse(UNIT, "n-1")  # removing twice is fine
    assert (await queue_store.snapshot(UNIT)).nurses == {}


async def test_recent_durations_are_kept_up_to_the_policy(store_with: StoreFactory) -> None:
    store = store_with(QueuePolicy(recent_consults=3))
    await staffed(store, "n-1")
    for index, minutes in enumerate((10, 11, 12, 13)):
        at = T0 + index * 60 * MIN
        await store.check_in(replace(entry(f"a{index}"), checked_in_at=at))
        await store.next_patient(UNIT, "n-1", at)
        await store.finish_consult(UNIT, "n-1", at + minutes * MIN)
    assert (await store.snapshot(UNIT)).durations == (11 * MIN, 12 * MIN, 13 * MIN)  # oldest first


async def test_a_served_appointment_cannot_be_queued_again_until_forgotten(store_with: StoreFactory) -> None:
    store = store_with(QueuePolicy(served_ttl=timedelta(hours=2)))
    await staffed(store, "n-1")
    await store.check_in(entry("a"))
    assert await take(store, "n-1") == "a"
    with pytest.raises(AlreadyServed) as caught:
        await store.check_in(entry("a"))
    assert caught.value.code == "already_served"
    assert (await store.snapshot(UNIT)).served == {"a": T0}
    await store.check_in(entry("b"))
    assert await take(store, "n-1", T0 + 3 * 60 * MIN) == "b"  # pairing prunes the memory of old ones
    assert (await store.snapshot(UNIT)).served == {"b": T0 + 180 * MIN}


async def test_cancel_and_close(queue_store: QueueStore) -> None:
    for made in (entry("a", 0, 0), entry("b", 0, 1), entry("c", 0, 2, urgent=True)):
        await queue_store.check_in(made)
    cancelled = await queue_store.cancel(UNIT, "b")
    assert cancelled == entry("b", 0, 1)
    assert await queue_store.cancel(UNIT, "b") is None
    assert await waiting_ids(queue_store) == ["c", "a"]
    left = await queue_store.close(UNIT)
    assert [e.appointment_id for e in left] == ["c", "a"]
    assert await waiting_ids(queue_store) == []
    assert await queue_store.close(UNIT) == ()
    await queue_store.check_in(entry("b", 0, 1))  # a cancelled or closed-out entry is not "served"


async def test_operations_on_someone_not_waiting_change_nothing(queue_store: QueueStore) -> None:
    assert await queue_store.drop(UNIT, "nobody", T0) is None
    assert await queue_store.rejoin(UNIT, "nobody") is None
    assert await queue_store.cancel(UNIT, "nobody") is None
    assert await queue_store.position(UNIT, "nobody", T0) is None
    await staffed(queue_store, "n-1")
    assert await queue_store.next_patient(UNIT, "n-1", T0) is None
    assert (await queue_store.snapshot(UNIT)).nurses["n-1"].state is NurseState.AVAILABLE


async def test_position_and_expected_wait(queue_store: QueueStore) -> None:
    no_one = await queue_store.check_in(entry("a", 0, 0))
    where = await queue_store.position(UNIT, no_one.appointment_id, T0)
    assert where is not None and where.estimate.basis is WaitBasis.NO_NURSE_ON_DUTY
    await staffed(queue_store, "n-1", "n-2")
    for made in (entry("b", 0, 1), entry("c", 0, 2), entry("d", 0, 3)):
        await queue_store.check_in(made)
    d = await queue_store.position(UNIT, "d", T0 + 5 * MIN)
    assert d is not None
    assert (d.place, d.ahead, d.estimate.nurses_on_duty, d.estimate.basis) == (4, 3, 2, WaitBasis.SLOT_LENGTH)
    assert d.estimate.expected == 23 * MIN  # two free nurses take a and b; c and d wait one round
    state = await queue_store.snapshot(UNIT)
    assert d == rules.position(state, "d", T0 + 5 * MIN, QueuePolicy())


async def test_a_workday_ends_in_the_same_state_as_the_pure_rules(queue_store: QueueStore) -> None:
    policy = QueuePolicy()
    model = UnitQueue(UNIT)
    for nurse_id in ("n-1", "n-2"):
        await queue_store.register_nurse(UNIT, nurse_id)
        model, _ = rules.register_nurse(model, nurse_id)
        await queue_store.set_nurse_state(UNIT, nurse_id, NurseState.AVAILABLE, T0)
        model, _ = rules.set_nurse_state(model, nurse_id, NurseState.AVAILABLE, T0)
    for index in range(12):
        now = T0 + index * 7 * MIN
        made = entry(f"a{index:02d}", index * 10 - 30, index * 7, urgent=index % 5 == 0)
        await queue_store.check_in(made)
        model, _ = rules.check_in(model, made)
        if index % 3 == 0:
            await queue_store.drop(UNIT, made.appointment_id, now)
            model, _ = rules.drop(model, made.appointment_id, now)
        nurse_id = "n-1" if index % 2 else "n-2"
        got = await queue_store.next_patient(UNIT, nurse_id, now)
        model, expected = rules.next_patient(model, nurse_id, now, policy)
        assert got == expected
        if got is not None:
            await queue_store.finish_consult(UNIT, nurse_id, now + 6 * MIN)
            model, _, _ = rules.end_consult(model, nurse_id, now + 6 * MIN, policy)
        if index % 4 == 1:
            await queue_store.rejoin(UNIT, f"a{index - 1:02d}")
            model, _ = rules.rejoin(model, f"a{index - 1:02d}")
    assert await queue_store.snapshot(UNIT) == model


# --- concurrency -----------------------------------------------------------------------------------


async def test_many_nurses_calling_next_at_once_never_get_the_same_patient(
    store_kind: str, store_url: str | None
) -> None:
    """Several clients (as several server processes would have), each with many nurses, all at once."""
    patients, nurse_ids = 400, [f"n-{i}" for i in range(24)]
    setup = make_store(store_kind, store_url)
    # Redis: four independent clients share one queue; memory: one store (one process).
    clients = (
        [setup]
        if store_kind == "memory"
        else [
            setup,
            *(
                RedisQueueStore.from_url(str(store_url), prefix=setup.prefix)  # type: ignore[attr-defined]
                for _ in range(3)
            ),
        ]
    )
    try:
        await staffed(setup, *nurse_ids)
        await asyncio.gather(*(setup.check_in(entry(f"a{i:04d}", i, 0)) for i in range(patients)))
        taken: dict[str, list[str]] = {n: [] for n in nurse_ids}

        async def work(store: QueueStore, nurse_id: str) -> None:
            now = T0
            while True:
                pairing = await store.next_patient(UNIT, nurse_id, now)
                if pairing is None:
                    return
                assert pairing.nurse.nurse_id == nurse_id
                taken[nurse_id].append(pairing.entry.appointment_id)
                now += MIN
                await store.finish_consult(UNIT, nurse_id, now)
                await asyncio.sleep(0)

        await asyncio.gather(*(work(clients[i % len(clients)], n) for i, n in enumerate(nurse_ids)))
        everyone = [a for seq in taken.values() for a in seq]
        assert len(everyone) == len(set(everyone)) == patients
        assert sum(1 for seq in taken.values() if seq) > 1  # the work really was shared
        for seq in taken.values():
            assert seq == sorted(seq)  # each nurse got patients in queue order
    finally:
        for client in clients:
            await client.aclose()


WORKER = """
import asyncio, json, sys
from datetime import datetime, timedelta, timezone
from rooms.store.queue_redis import RedisQueueStore
url, prefix, unit, nurses = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
async def main():
    store = RedisQueueStore.from_url(url, prefix=prefix)
    print("ready", flush=True)
    while not await store.client.exists(prefix + "go"):  # start together, like live servers would
        await asyncio.sleep(0.005)
    now = datetime(2026, 3, 2, 16, tzinfo=timezone.utc)
    got = []
    async def work(nurse):
        while True:
            pairing = await store.next_patient(unit, nurse, now)
            if pairing is None:
                return
            got.append(pairing.entry.appointment_id)
            await store.finish_consult(unit, nurse, now + timedelta(minutes=1))
    await asyncio.gather(*(work(n) for n in nurses))
    await store.aclose()
    print(json.dumps(got))
asyncio.run(main())
"""


async def test_several_server_processes_share_one_queue(redis_url: str) -> None:
    setup = make_store("redis", redis_url)
    assert isinstance(setup, RedisQueueStore)
    processes, per_process, patients = 3, 4, 300
    nurse_ids = [[f"p{p}-n{i}" for i in range(per_process)] for p in range(processes)]
    try:
        await staffed(setup, *(n for group in nurse_ids for n in group))
        for i in range(patients):
            await setup.check_in(entry(f"a{i:04d}", i, 0))
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WORKER,
                redis_url,
                setup.prefix,
                UNIT,
                ",".join(group),
                stdout=subprocess.PIPE,
                env=env,
            )
            for group in nurse_ids
        ]
        for worker in workers:
            assert worker.stdout is not None
            assert await worker.stdout.readline() == b"ready\n"
        await setup.client.set(setup.prefix + "go", "1")
        outputs = await asyncio.gather(*(w.communicate() for w in workers))
        assert all(w.returncode == 0 for w in workers)
        taken = [json.loads(out) for out, _ in outputs]
        everyone = [a for seq in taken for a in seq]
        assert len(everyone) == len(set(everyone)) == patients
        assert sum(1 for seq in taken if seq) >= 2  # the processes really competed
    finally:
        await setup.aclose()


# --- Redis specifics -------------------------------------------------------------------------------


async def test_redis_key_layout_and_unit_names(redis_url: str) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)  # works with str replies too
    store = RedisQueueStore(client, prefix="layout-test:")
    try:
        await staffed(store, "n-1")
        await store.check_in(entry("a"))
        await store.check_in(entry("b"))
        await take(store, "n-1")
        keys = sorted(await client.keys("layout-test:*"))
        assert keys == [
            "layout-test:occupied",
            "layout-test:{umf-1}:durations",
            "layout-test:{umf-1}:entries",
            "layout-test:{umf-1}:nurses",
            "layout-test:{umf-1}:served",
            "layout-test:{umf-1}:version",
            "layout-test:{umf-1}:waiting",
        ]
        assert await client.zrange("layout-test:{umf-1}:waiting", 0, -1) == [order_key(entry("b"))]
        for bad in ("", "a}b", "with space", "x" * 129):
            with pytest.raises(ValueError, match="unit id"):
                await store.snapshot(bad)
    finally:
        await client.flushdb()
        await store.aclose()


def test_order_keys_sort_like_the_order_key() -> None:
    entries = [
        entry("b", 0, 0),
        entry("a", 0, 0),
        entry("ñ-unicode", 0, 0),
        entry("z", 0, 0, urgent=True),
        entry("c", -600_000, 0),
        entry("d", 0, -1),
        replace(entry("e", 0, 0), checked_in_at=T0 + timedelta(microseconds=1)),
    ]
    by_tuple = sorted(entries, key=lambda e: e.order_key)
    by_bytes = sorted(entries, key=lambda e: order_key(e).encode())
    assert by_tuple == by_bytes
    with pytest.raises(ValueError, match="1970"):
        order_key(replace(entry("old"), appointment_start=datetime(1969, 12, 31, tzinfo=UTC)))


async def test_a_released_nurse_is_available_and_the_patient_gets_their_place_back(
    queue_store: QueueStore,
) -> None:
    await staffed(queue_store, "ana", "bea")
    for made in (entry("a", 0, 1), entry("b", 0, 2)):
        await queue_store.check_in(made)
    pairing = await queue_store.next_patient(UNIT, "ana", T0)
    assert pairing is not None and pairing.entry.appointment_id == "a"
    # Releasing on another appointment, or a nurse who is not in that consult, changes nothing.
    untouched = await queue_store.release_nurse(UNIT, "ana", "b", T0 + MIN)
    assert untouched.state is NurseState.IN_CONSULT and untouched.appointment_id == "a"
    assert (await queue_store.release_nurse(UNIT, "bea", "a", T0 + MIN)).state is NurseState.AVAILABLE
    freed = await queue_store.release_nurse(UNIT, "ana", "a", T0 + MIN, requeue=pairing.entry)
    assert (freed.state, freed.appointment_id, freed.since) == (NurseState.AVAILABLE, None, T0 + MIN)
    assert await waiting_ids(queue_store) == ["a", "b"]  # back in front, where they were
    snapshot = await queue_store.snapshot(UNIT)
    assert "a" not in snapshot.served
    expected, _ = rules.release_nurse(
        replace(snapshot, waiting=(), served={}), "ana", "a", T0 + MIN
    )  # the pure rule answers the same for the nurse
    assert expected.nurses["ana"] == snapshot.nurses["ana"]
    # Released without a requeue (the consult is over): the patient does not come back.
    again = await queue_store.next_patient(UNIT, "ana", T0 + 2 * MIN)
    assert again is not None and again.entry.appointment_id == "a"
    await queue_store.release_nurse(UNIT, "ana", "a", T0 + 3 * MIN)
    assert await waiting_ids(queue_store) == ["b"]
    with pytest.raises(WrongUnit):
        await queue_store.release_nurse(UNIT, "nobody", "a", T0)


async def test_admitting_from_the_list_puts_the_nurse_in_the_consult_from_any_state(
    queue_store: QueueStore,
) -> None:
    await queue_store.register_nurse(UNIT, "away-nurse")  # never said she was available
    await staffed(queue_store, "paired-nurse")
    for made in (entry("a", 0, 1), entry("b", 0, 2)):
        await queue_store.check_in(made)
    pairing = await queue_store.next_patient(UNIT, "paired-nurse", T0)
    assert pairing is not None and pairing.entry.appointment_id == "a"
    # The away nurse admits "a" from the list: she is in that consult, the paired one is freed.
    nurse = await queue_store.take_directly(UNIT, "away-nurse", "a", T0 + MIN)
    assert (nurse.state, nurse.appointment_id) == (NurseState.IN_CONSULT, "a")
    snapshot = await queue_store.snapshot(UNIT)
    assert snapshot.nurses["paired-nurse"].state is NurseState.AVAILABLE
    assert snapshot.nurses["paired-nurse"].appointment_id is None
    # Taking a patient still waiting removes them from the queue and marks them served.
    await queue_store.take_directly(UNIT, "paired-nurse", "b", T0 + 2 * MIN)
    snapshot = await queue_store.snapshot(UNIT)
    assert snapshot.waiting == () and {"a", "b"} <= set(snapshot.served)
    with pytest.raises(AlreadyServed):
        await queue_store.check_in(entry("b", 0, 2))
    # Taking it again is idempotent: her consult keeps its start.
    same = await queue_store.take_directly(UNIT, "paired-nurse", "b", T0 + 5 * MIN)
    assert same.since == T0 + 2 * MIN
    # Ending it records one duration, as with "next patient".
    _, duration = await queue_store.finish_consult(UNIT, "paired-nurse", T0 + 12 * MIN)
    assert duration == 10 * MIN


async def test_occupied_units_and_nurses_are_read_without_the_queue(queue_store: QueueStore) -> None:
    await staffed(queue_store, "n-1")
    assert list(await queue_store.nurses(UNIT)) == ["n-1"]
    await queue_store.check_in(entry("a"))
    await queue_store.check_in(replace(entry("b"), unit="umf-2"))
    assert {"umf-1", "umf-2"} <= set(await queue_store.occupied())
    await queue_store.close("umf-2")
    assert "umf-2" not in await queue_store.occupied()
    assert UNIT in await queue_store.occupied()
