"""Property-based tests: random days of booking, check-in, pairing, drops, returns and cancels.

Each random sequence is applied to a queue store (in memory, and Redis) and, in lockstep, to the
pure rules; after every step the store must be in exactly the state the rules give, and:

* no appointment is ever paired twice;
* nobody is skipped: the patient a nurse gets is the head of that nurse's eligible queue;
* nobody waits outside service hours: check-in succeeds only while the service is open, and at
  closing the queue is emptied (the app offers those patients a new slot).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms import appointments as appts
from rooms import queue as rules
from rooms.appointments import HOLDS_SLOT, Appointment, AppointmentKind, AppointmentStatus, BookingRules
from rooms.errors import DomainError
from rooms.nss import luhn_check_digit
from rooms.nurses import NurseState
from rooms.patients import Patient, register_patient
from rooms.queue import QueuePolicy, UnitQueue
from rooms.slots import SlotPolicy, slots_between, slots_for_local_day
from rooms.zones import localize, resolve_zone
from tests.rooms.conftest import make_store
from tests.rooms.test_zones import ZONES

RULES = BookingRules(slots=SlotPolicy(capacity=3))  # three nurses: three patients a slot
HOURS = RULES.hours
POLICY = QueuePolicy(pin_fallback=timedelta(minutes=10), absent_after=timedelta(minutes=3))
START = datetime(2026, 3, 6, 13, 40, tzinfo=UTC)  # Friday 07:40 in Mexico City: closed, opens at 08:00
NURSES = ("n-0", "n-1", "n-2")
MIN = timedelta(minutes=1)
T = TypeVar("T")


def make_patient(index: int, zone: str = "America/Mexico_City") -> Patient:
    payload = f"{index + 1:010d}"
    return register_patient(
        nss=payload + str(luhn_check_digit(payload)),
        name=f"Paciente {index}",
        birth_date=date(1980, 1, 1),
        time_zone=zone,
        today=date(2026, 1, 1),
        phone="+525512345678",
    )


PATIENTS = [make_patient(i) for i in range(12)]

pick = st.integers(0, 40)
nurse = st.integers(0, len(NURSES) - 1)
book = st.tuples(st.just("book"), st.integers(0, len(PATIENTS) - 1), st.integers(0, 5), st.integers(-1, 2))
check_in = st.tuples(st.just("check_in"), pick, st.booleans(), st.booleans())
step_on = st.tuples(st.just("advance"), st.integers(1, 25))
finish = st.tuples(st.just("finish"), nurse)
take_next = st.tuples(st.just("next"), nurse)
OPS = st.lists(
    st.one_of(
        book,
        check_in,
        check_in,
        st.tuples(st.just("rush"), st.booleans()),
        step_on,
        step_on,
        st.tuples(st.just("advance"), st.integers(60, 14 * 60)),  # a jump, e.g. past closing time
        take_next,
        take_next,
        take_next,
        finish,
        finish,
        st.tuples(st.just("duty"), nurse, st.booleans()),
        st.tuples(st.just("drop"), pick),
        st.tuples(st.just("rejoin"), pick),
        st.tuples(st.just("cancel"), pick),
        st.tuples(st.just("look"), pick),
    ),
    min_size=10,
    max_size=120,
)
DAYS = st.tuples(st.lists(book, min_size=6, max_size=30), OPS).map(lambda parts: parts[0] + parts[1])
"""A morning's bookings made before opening, then the day's random operations."""

EXPECTED_BOOKING_ERRORS = {"double_booking", "slot_taken", "past_time"}
EXPECTED_CHECK_IN_ERRORS = {
    "check_in_not_open",
    "check_in_closed",
    "appointment_cancelled",
    "invalid_appointment_state",
}


async def outcome(call: Awaitable[T]) -> T | str:
    """The result, or the domain error's code: both sides must agree on either."""
    try:
        return await call
    except DomainError as error:
        return error.code


def pure(call: Callable[[], tuple[UnitQueue, T]], model: UnitQueue) -> tuple[UnitQueue, T | str]:
    try:
        return call()
    except DomainError as error:
        return model, error.code


@dataclass
class Day:
    unit: str
    model: UnitQueue
    now: datetime = START
    appointments: dict[str, Appointment] = field(default_factory=dict)
    paired: set[str] = field(default_factory=set)

    def chosen(self, index: int) -> Appointment | None:
        candidates = list(self.appointments.values())
        return candidates[index % len(candidates)] if candidates else None

    def arriving(self, index: int) -> Appointment | None:
        """A booked patient whose window is open now or opens later (then time moves on to it)."""
        candidates = [
            a
            for a in self.appointments.values()
            if a.status is AppointmentStatus.BOOKED and self.now < a.check_in_window.not_after
        ]
        return candidates[index % len(candidates)] if candidates else None


async def advance_to(store: Any, day: Day, later: datetime) -> None:
    """Move the clock; if that passes a closing time, the service's scheduler closes the queue then."""
    interval = HOURS.interval_at(day.now)
    day.now = later
    if interval is None or later >= interval.end:
        left = await store.close(day.unit)
        day.model, expected = rules.close(day.model)
        assert left == expected


def reference_head(state: UnitQueue, nurse_id: str, now: datetime) -> str | None:
    """The specification, written out independently of ``rooms.queue``: who this nurse should get.

    Urgent first, then appointment time, then check-in time; skip whoever is disconnected, and
    whoever is pinned to another nurse who is on duty, until the pin's time runs out.
    """
    on_duty = {n.nurse_id for n in state.nurses.values() if n.state is not NurseState.AWAY}
    ordered = sorted(
        state.waiting, key=lambda e: (0 if e.urgent else 1, e.appointment_start, e.checked_in_at)
    )
    for entry in ordered:
        reserved = (
            entry.pinned_nurse not in (None, nurse_id)
            and entry.pinned_nurse in on_duty
            and entry.pinned_until is not None
            and now < entry.pinned_until
        )
        if entry.connected and not reserved:
            return entry.appointment_id
    return None


async def run_day(store: Any, ops: list[tuple[Any, ...]]) -> None:
    day = Day(unit=f"u-{uuid.uuid4().hex[:10]}", model=UnitQueue(""))
    day.model = UnitQueue(day.unit)
    for nurse_id in NURSES:
        await store.register_nurse(day.unit, nurse_id)
        await store.set_nurse_state(day.unit, nurse_id, NurseState.AVAILABLE, START)
        day.model, _ = rules.register_nurse(day.model, nurse_id)
        day.model, _ = rules.set_nurse_state(day.model, nurse_id, NurseState.AVAILABLE, START)
    for op in ops:
        await step(store, day, op)
        snapshot = await store.snapshot(day.unit)
        assert snapshot == day.model
        if snapshot.waiting:
            assert HOURS.is_open(day.now), "somebody is waiting while the service is closed"
        for entry in snapshot.waiting:
            assert day.appointments[entry.appointment_id].status is AppointmentStatus.CHECKED_IN
            assert entry.appointment_id not in day.paired
    later = day.now + 5 * MIN  # some drops have become absences by now
    for entry in day.model.waiting:
        expected = rules.position(day.model, entry.appointment_id, later, POLICY)
        assert await store.position(day.unit, entry.appointment_id, later) == expected


async def step(store: Any, day: Day, op: tuple[Any, ...]) -> None:
    kind, unit, now = op[0], day.unit, day.now
    got: object
    expected: object
    if kind == "advance":
        await advance_to(store, day, now + op[1] * MIN)
    elif kind == "book":
        _, who, slot_index, pin = op
        offered = list(slots_between(HOURS, RULES.slots, now, now + timedelta(hours=30)))
        if not offered:
            return
        try:
            booked = appts.book(
                appointment_id=f"a-{len(day.appointments):03d}",
                patient=PATIENTS[who],
                unit=unit,
                kind=AppointmentKind.FIRST if slot_index % 2 else AppointmentKind.FOLLOW_UP,
                start=offered[slot_index % len(offered)].start,
                rules=RULES,
                existing=day.appointments.values(),
                now=now,
                preferred_nurse=NURSES[pin] if pin >= 0 else None,
            )
        except DomainError as error:
            assert error.code in EXPECTED_BOOKING_ERRORS
            return
        day.appointments[booked.appointment_id] = booked
    elif kind == "rush":  # everyone whose window is open arrives (the first of them may be early)
        arriving = [a for a in day.appointments.values() if a.status is AppointmentStatus.BOOKED]
        if not arriving:
            return
        if not any(a.check_in_window.contains(now) for a in arriving):
            await advance_to(store, day, max(now, min(a.check_in_window.not_before for a in arriving)))
        for index in range(len(day.appointments)):
            candidate = day.chosen(index)
            if candidate is not None and candidate.check_in_window.contains(day.now):
                await step(store, day, ("check_in", index, op[1], False))
    elif kind == "check_in":
        chosen = day.arriving(op[1]) if op[3] else day.chosen(op[1])
        if chosen is None:
            return
        if op[3] and now < chosen.check_in_window.not_before:
            await advance_to(store, day, chosen.check_in_window.not_before)
            now = day.now
        try:
            arrived = appts.check_in(chosen, now)
        except DomainError as error:
            assert error.code in EXPECTED_CHECK_IN_ERRORS
            return
        assert HOURS.is_open(now), "a check-in was accepted while the service is closed"
        day.appointments[arrived.appointment_id] = arrived
        entry = rules.entry_for(arrived, POLICY, urgent=op[2])
        got = await outcome(store.check_in(entry))
        day.model, expected = pure(lambda: rules.check_in(day.model, entry), day.model)
        assert got == expected
    elif kind == "next":
        nurse_id = NURSES[op[1]]
        eligible = rules.eligible_for(day.model, nurse_id, now)
        head = reference_head(await store.snapshot(unit), nurse_id, now)
        got = await outcome(store.next_patient(unit, nurse_id, now))
        day.model, expected = pure(lambda: rules.next_patient(day.model, nurse_id, now, POLICY), day.model)
        assert got == expected
        if isinstance(got, rules.Pairing):
            taken = got.entry.appointment_id
            assert got.entry.appointment_id == head, "the nurse did not get the head of their eligible queue"
            assert got.entry == eligible[0]
            assert taken not in day.paired, "an appointment was paired twice"
            day.paired.add(taken)
            day.appointments[taken] = appts.admit(day.appointments[taken], now)
        elif got is None:
            assert eligible == [] and head is None
    elif kind == "finish":
        nurse_id = NURSES[op[1]]
        got_finish = await outcome(store.finish_consult(unit, nurse_id, now))
        try:
            day.model, nurse, took = rules.end_consult(day.model, nurse_id, now, POLICY)
            expected_finish: object = (nurse, took)
        except DomainError as error:
            expected_finish = error.code
        assert got_finish == expected_finish
    elif kind == "duty":
        nurse_id, target = NURSES[op[1]], NurseState.AVAILABLE if op[2] else NurseState.AWAY
        got = await outcome(store.set_nurse_state(unit, nurse_id, target, now))
        day.model, expected = pure(lambda: rules.set_nurse_state(day.model, nurse_id, target, now), day.model)
        assert got == expected
    elif kind == "look":  # a waiting room asks where it stands
        chosen = day.chosen(op[1])
        if chosen is not None:
            assert await store.position(unit, chosen.appointment_id, now) == rules.position(
                day.model, chosen.appointment_id, now, POLICY
            )
    elif kind in ("drop", "rejoin", "cancel"):
        chosen = day.chosen(op[1])
        if chosen is None:
            return
        appointment_id = chosen.appointment_id
        if kind == "drop":
            got = await store.drop(unit, appointment_id, now)
            day.model, expected = rules.drop(day.model, appointment_id, now)
        elif kind == "rejoin":
            got = await store.rejoin(unit, appointment_id)
            day.model, expected = rules.rejoin(day.model, appointment_id)
        else:
            try:
                day.appointments[appointment_id] = appts.cancel(chosen, now)
            except DomainError as error:
                assert error.code == "invalid_appointment_state"  # admitted or a no-show
                return
            got = await store.cancel(unit, appointment_id)
            day.model, expected = rules.cancel(day.model, appointment_id)
        assert got == expected


def run_with(store_kind: str, store_url: str | None, ops: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        store = make_store(store_kind, store_url, POLICY)
        try:
            await run_day(store, ops)
        finally:
            await store.aclose()

    asyncio.run(main())


@settings(max_examples=300, deadline=None)
@given(ops=DAYS)
def test_random_days_in_memory(ops: list[tuple[Any, ...]]) -> None:
    run_with("memory", None, ops)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=DAYS)
def test_random_days_in_redis(redis_url: str, ops: list[tuple[Any, ...]]) -> None:
    run_with("redis", redis_url, ops)


# --- booking ---------------------------------------------------------------------------------------


BOOKINGS = st.lists(
    st.tuples(
        st.integers(0, len(PATIENTS) - 1),
        st.sampled_from(ZONES),
        st.integers(0, 6),  # which day ahead, in the patient's zone
        st.integers(0, 50),  # which of that day's slots
        st.sampled_from(["umf-1", "umf-2"]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(bookings=BOOKINGS, capacity=st.integers(1, 2))
def test_random_bookings_from_anywhere_keep_every_rule(
    bookings: list[tuple[int, str, int, int, str]], capacity: int
) -> None:
    rules_ = BookingRules(slots=SlotPolicy(capacity=capacity))
    now = START
    made: list[Appointment] = []
    for who, zone_name, days_ahead, slot_index, unit in bookings:
        zone = resolve_zone(zone_name)
        local_day = now.astimezone(zone).date() + timedelta(days=days_ahead)
        offered = slots_for_local_day(HOURS, rules_.slots, local_day, zone)
        if not offered:
            continue
        shown = offered[slot_index % len(offered)]
        # The patient picks a wall-clock time (and, on a repeated hour, which one) in their zone.
        start = localize(shown.start.replace(tzinfo=None), zone, fold=shown.start.fold)
        try:
            booked = appts.book(
                appointment_id=f"a-{len(made)}",
                patient=PATIENTS[who],
                unit=unit,
                kind=AppointmentKind.FIRST,
                start=start,
                rules=rules_,
                existing=made,
                now=now,
            )
        except DomainError as error:
            assert error.code in EXPECTED_BOOKING_ERRORS
            continue
        assert booked.start == shown.slot.start and booked.shown_in(zone)[0] == shown.start
        made.append(booked)
        now += 7 * MIN
    active = [a for a in made if a.status in HOLDS_SLOT]
    for a in active:
        assert HOURS.covers(a.start, a.end)
        window = a.check_in_window
        assert HOURS.covers(window.not_before, window.not_after), "a check-in window reaches outside hours"
        assert window.not_before <= a.start < a.end <= window.not_after
        same_patient = [b for b in active if b is not a and b.patient_id == a.patient_id]
        assert all(b.end <= a.start or a.end <= b.start for b in same_patient)
        same_slot = [b for b in active if b.unit == a.unit and b.start == a.start]
        assert len(same_slot) <= capacity
