"""One suite for every appointment store: in memory, and Redis against a real redis-server.

The stores re-check the booking conflicts atomically as they write, so concurrent bookings of
one slot (or one patient booking twice) cannot both succeed, even across processes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from rooms import appointments as appts
from rooms.appointments import Appointment, AppointmentKind, BookingRules, DoubleBooking, SlotTaken
from rooms.patients import Patient, register_patient
from rooms.store.appointments import AppointmentStore
from rooms.store.appointments_memory import MemoryAppointmentStore
from rooms.store.appointments_redis import RedisAppointmentStore
from rooms.store.base import VersionConflict

RULES = BookingRules()
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)  # Monday 06:00 in Mexico City
SLOT = datetime(2026, 3, 2, 16, tzinfo=UTC)  # Monday 10:00 in Mexico City
MIN = timedelta(minutes=1)
NSS_A = "92919084431"
NSS_B = "79927398713"


@pytest.fixture
async def store(store_kind: str, store_url: str | None) -> AsyncIterator[AppointmentStore]:
    made: AppointmentStore
    if store_kind == "memory":
        made = MemoryAppointmentStore()
    else:
        assert store_url is not None
        made = RedisAppointmentStore.from_url(store_url, prefix=f"test:{uuid.uuid4().hex[:12]}:appt:")
    try:
        yield made
    finally:
        await made.aclose()


def person(nss: str = NSS_A) -> Patient:
    return register_patient(
        nss=nss,
        name="Paciente Prueba",
        birth_date=date(1990, 1, 1),
        time_zone="America/Mexico_City",
        today=date(2026, 3, 2),
        email="p@example.org",
    )


def booked(appointment_id: str, start: datetime = SLOT, nss: str = NSS_A, unit: str = "umf-1") -> Appointment:
    return appts.book(
        appointment_id=appointment_id,
        patient=person(nss),
        unit=unit,
        kind=AppointmentKind.FIRST,
        start=start,
        rules=RULES,
        existing=(),
        now=NOW,
    )


async def test_an_added_appointment_reads_back_equal(store: AppointmentStore) -> None:
    a = booked("a-1")
    await store.add(a, capacity=1)
    assert await store.get("a-1") == a
    assert await store.get("missing") is None
    assert await store.for_unit("umf-1", SLOT, SLOT + MIN) == [a]
    assert await store.for_unit("umf-1", SLOT + MIN, SLOT + 60 * MIN) == []
    assert await store.for_unit("umf-2", SLOT, SLOT + MIN) == []
    assert await store.for_patient(NSS_A) == [a]


async def test_a_full_slot_and_a_double_booking_are_refused(store: AppointmentStore) -> None:
    await store.add(booked("a-1"), capacity=1)
    with pytest.raises(SlotTaken):
        await store.add(booked("a-2", nss=NSS_B), capacity=1)
    with pytest.raises(DoubleBooking):
        await store.add(booked("a-3", unit="umf-2"), capacity=1)
    await store.add(booked("a-4", nss=NSS_B), capacity=2)  # a slot for two nurses
    await store.add(booked("a-5", nss=NSS_B, unit="umf-2", start=SLOT + 20 * MIN), capacity=1)
    assert [a.appointment_id for a in await store.for_unit("umf-1", SLOT, SLOT + MIN)] == ["a-1", "a-4"]
    with pytest.raises(VersionConflict):
        await store.add(booked("a-1", start=SLOT + 60 * MIN), capacity=1)  # the id exists


async def test_cancelled_appointments_free_their_slot(store: AppointmentStore) -> None:
    first = booked("a-1")
    await store.add(first, capacity=1)
    cancelled = appts.cancel(first, NOW)
    await store.save(cancelled, first.version, capacity=1)
    await store.add(booked("a-2", nss=NSS_B), capacity=1)
    assert (await store.get("a-1")) == cancelled


async def test_saving_is_compare_and_set_and_a_new_time_is_checked(store: AppointmentStore) -> None:
    first = booked("a-1")
    other = booked("a-2", nss=NSS_B, start=SLOT + 20 * MIN)
    await store.add(first, capacity=1)
    await store.add(other, capacity=1)
    moved = appts.reschedule(first, start=SLOT + 40 * MIN, rules=RULES, existing=(), now=NOW)
    with pytest.raises(VersionConflict):
        await store.save(moved, first.version + 5, capacity=1)
    clash = appts.reschedule(first, start=SLOT + 20 * MIN, rules=RULES, existing=(), now=NOW)
    with pytest.raises(SlotTaken):
        await store.save(clash, first.version, capacity=1)
    assert await store.get("a-1") == first  # nothing changed
    await store.save(moved, first.version, capacity=1)
    assert await store.get("a-1") == moved
    with pytest.raises(VersionConflict):  # a stale writer loses
        await store.save(appts.cancel(first, NOW), first.version, capacity=1)
    # Its old slot is free again; its own new slot does not conflict with itself.
    await store.add(booked("a-3", nss="12345678903"), capacity=1)
    checked = appts.check_in(replace(moved), moved.check_in_window.not_before)
    await store.save(checked, moved.version, capacity=1)


async def test_concurrent_bookings_of_the_last_place_never_both_win(store: AppointmentStore) -> None:
    nss = ["92919084431", "79927398713", "12345678903", "11111111115", "22222222220", "33333333335"]
    results = await asyncio.gather(
        *(store.add(booked(f"a-{i}", nss=n), capacity=2) for i, n in enumerate(nss)),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 2
    assert all(r is None or isinstance(r, SlotTaken) for r in results)
    same_patient = await asyncio.gather(
        *(store.add(booked(f"b-{i}", start=SLOT + 60 * MIN), capacity=5) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(r is None for r in same_patient) == 1
    assert all(r is None or isinstance(r, DoubleBooking) for r in same_patient)


async def test_patients_are_stored_by_nss(store: AppointmentStore) -> None:
    assert await store.get_patient(NSS_A) is None
    await store.put_patient(person())
    assert await store.get_patient(NSS_A) == person()
    renamed = replace(person(), name="Otro Nombre")
    await store.put_patient(renamed)
    assert await store.get_patient(NSS_A) == renamed


async def test_due_no_shows_come_from_the_booked_index(store: AppointmentStore) -> None:
    early, late = booked("a-1"), booked("a-2", start=SLOT + 60 * MIN, nss=NSS_B)
    await store.add(early, capacity=1)
    await store.add(late, capacity=1)
    closes = early.check_in_window.not_after
    assert await store.due(closes - MIN) == []
    assert [a.appointment_id for a in await store.due(closes)] == ["a-1"]
    assert [a.appointment_id for a in await store.due(late.check_in_window.not_after)] == ["a-1", "a-2"]
    checked = appts.check_in(early, early.check_in_window.not_before)
    await store.save(checked, early.version, capacity=1)  # no longer booked: not a no-show to come
    assert [a.appointment_id for a in await store.due(late.check_in_window.not_after)] == ["a-2"]


async def test_a_full_slot_is_counted_not_listed(store: AppointmentStore) -> None:
    """Holders are counted per slot: cancelling frees a place, moving away frees it, a full slot refuses."""
    nss = ["12345678903", "79927398713", "92919084431"]
    first = booked("a-0", nss=nss[0])
    await store.add(first, capacity=2)
    await store.add(booked("a-1", nss=nss[1]), capacity=2)
    with pytest.raises(SlotTaken):
        await store.add(booked("a-2", nss=nss[2]), capacity=2)
    moved = appts.reschedule(first, start=SLOT + 20 * MIN, rules=BookingRules(), existing=[], now=NOW)
    await store.save(moved, first.version, capacity=2)
    await store.add(booked("a-2", nss=nss[2]), capacity=2)
    with pytest.raises(SlotTaken):  # moving back into the full slot is refused too
        await store.save(replace(moved, start=SLOT, end=SLOT + 20 * MIN), moved.version, capacity=2)
