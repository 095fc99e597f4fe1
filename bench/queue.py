"""The waiting queue at program scale: check-ins and "next patient" against both queue stores.

A simulated weekday: ``--nurses`` nurses (3,000) in units of ``--per-unit`` (30), and
``--appointments`` appointments (30,000; 6,000 with ``--quick``) spread at random over the units
and the day's 36 slots. For every slot, its patients check in, look at their position, some drop
and come back, then that many nurses of each unit take the next patient and end the consult.
Every patient must be paired exactly once; the run fails loudly otherwise.

Two measurements per store, both on the same kind of workload:

* **throughput** (closed loop): the whole day as fast as ``--concurrency`` callers (32) can go;
  ops/s is the headline capacity figure; its latencies include queueing at saturation.
* **latency at a fixed rate** (open loop): a fresh day's operations issued at ``--rate`` ops/s
  (2,000) for ``--seconds``, each one's latency measured from when it was *due*, not when it was
  sent, so a stall is counted in full (no coordinated omission).

The Redis store runs against a real ``redis-server`` started here on a free loopback port
(persistence off); the client is this one Python process, on the same machine, so on a small
machine client and server compete for the cores. Before each run the harness's own objects (the
planned operations) are frozen out of the garbage collector (``gc.freeze``), so its collection
pauses are not charged to the store; the store's own garbage is collected as usual. Fixed-rate
latencies include the harness's own scheduling delay (about half a millisecond at the median,
visible in the in-memory store's figures, whose operations take microseconds).

Every change a store makes is numbered and handed to a listener, as in the server: here the
listener encodes the change as the ``queue:diff`` the unit's consoles would receive (JSON), so its
cost is in the figures, and the bytes are counted: the mean diff against the whole list that each
update used to carry (a unit with ``--waiting`` (1,000) consults, encoded the old way).

Booking into one slot: ``--slot-bookings`` (5,000) patients book the same slot of one unit
through the scheduling use case (memory stores, then Redis appointments); the mean of the first and
of the last 100 bookings shows whether booking slows as the slot fills.

    python -m bench.queue [--quick] [--nurses 3000] [--appointments 30000] [--rate 2000]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bench.support import redis_server
from rooms import consult as consult_rules
from rooms.appointments import AppointmentKind, BookingRules
from rooms.errors import DomainError
from rooms.nss import luhn_check_digit
from rooms.nurses import NurseState
from rooms.patients import Patient, register_patient
from rooms.queue import QueueChange, QueueEntry
from rooms.slots import SlotPolicy
from rooms.store.appointments import AppointmentStore
from rooms.store.appointments_memory import MemoryAppointmentStore
from rooms.store.appointments_redis import RedisAppointmentStore
from rooms.store.memory import MemoryConsultStore
from rooms.store.queue import QueueStore
from rooms.store.queue_memory import MemoryQueueStore
from rooms.store.queue_redis import RedisQueueStore
from services.scheduling import Scheduling
from signaling import views

DAY = datetime(2026, 3, 2, 14, tzinfo=UTC)  # Monday 08:00 in Mexico City
SLOT = timedelta(minutes=20)
SLOTS_PER_DAY = 36
Op = tuple[str, Callable[[], Awaitable[Any]]]


@dataclass
class Day:
    """One simulated day's operations, as phases that must run in order."""

    phases: list[list[Op]]
    appointments: int
    paired: list[str] = field(default_factory=list)
    found_nobody: int = 0

    @property
    def operations(self) -> int:
        return sum(len(phase) for phase in self.phases)


def plan_day(store: QueueStore, *, units: int, per_unit: int, appointments: int, tag: str, seed: int) -> Day:
    rng = random.Random(seed)
    by_slot: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for index in range(appointments):
        by_slot[rng.randrange(SLOTS_PER_DAY)][rng.randrange(units)].append(index)
    day = Day([], appointments)

    def unit_of(u: int) -> str:
        return f"{tag}-umf-{u:03d}"

    def nurse_of(u: int, n: int) -> str:
        return f"{tag}-n-{u:03d}-{n:02d}"

    async def next_patient(unit: str, nurse: str, now: datetime) -> None:
        pairing = await store.next_patient(unit, nurse, now)
        if pairing is None:
            day.found_nobody += 1
        else:
            day.paired.append(pairing.entry.appointment_id)

    for slot in range(SLOTS_PER_DAY):
        start = DAY + slot * SLOT
        check_ins: list[Op] = []
        positions: list[Op] = []
        drops: list[Op] = []
        rejoins: list[Op] = []
        nexts: list[Op] = []
        finishes: list[Op] = []
        for u, patients in by_slot[slot].items():
            unit = unit_of(u)
            if len(patients) > per_unit:
                raise ValueError("more patients in a slot than nurses in the unit; lower --appointments")
            for p in patients:
                aid = f"{tag}-a-{p:06d}"
                arrived = start - timedelta(minutes=rng.uniform(0, 15))
                entry = QueueEntry(aid, f"{tag}-p-{p:06d}", unit, start, arrived)
                check_ins.append(("check_in", partial(store.check_in, entry)))
                positions.append(("position", partial(store.position, unit, aid, arrived)))
                if rng.random() < 0.05:
                    drops.append(("drop", partial(store.drop, unit, aid, arrived)))
                    rejoins.append(("rejoin", partial(store.rejoin, unit, aid)))
            for n in rng.sample(range(per_unit), len(patients)):
                nurse = nurse_of(u, n)
                nexts.append(("next_patient", partial(next_patient, unit, nurse, start)))
                done = start + timedelta(minutes=rng.uniform(8, 19))
                finishes.append(("finish_consult", partial(store.finish_consult, unit, nurse, done)))
        # Positions sit between drops and rejoins so a drop has long finished before its rejoin starts.
        day.phases += [check_ins, drops, positions, rejoins, nexts, finishes]
    return day


async def staff(store: QueueStore, *, units: int, per_unit: int, tag: str, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(u: int, n: int) -> None:
        async with gate:
            unit, nurse = f"{tag}-umf-{u:03d}", f"{tag}-n-{u:03d}-{n:02d}"
            await store.register_nurse(unit, nurse)
            await store.set_nurse_state(unit, nurse, NurseState.AVAILABLE, DAY - timedelta(hours=1))

    await asyncio.gather(*(one(u, n) for u in range(units) for n in range(per_unit)))


@dataclass
class Timings:
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0
    failed: int = 0

    def all(self) -> list[float]:
        return [v for values in self.by_kind.values() for v in values]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def timed(op: Op, timings: Timings, since: float | None = None) -> None:
    kind, call = op
    started = time.perf_counter() if since is None else since
    try:
        await call()
    except DomainError:
        timings.errors += 1
    except RedisConnectionError:  # no pooled connection within its timeout: the machine is overloaded
        timings.failed += 1
        return
    timings.by_kind[kind].append((time.perf_counter() - started) * 1000)


async def closed_loop(day: Day, concurrency: int) -> tuple[Timings, float]:
    timings = Timings()
    gate = asyncio.Semaphore(concurrency)

    async def run(op: Op) -> None:
        async with gate:
            await timed(op, timings)

    began = time.perf_counter()
    for phase in day.phases:
        await asyncio.gather(*(run(op) for op in phase))
    return timings, time.perf_counter() - began


async def open_loop(day: Day, rate: float, limit: int) -> tuple[Timings, float, int]:
    """Issue the day's operations in order at ``rate`` per second, each timed from when it was due."""
    ops = [op for phase in day.phases for op in phase][:limit]
    timings = Timings()
    in_flight: set[asyncio.Task[None]] = set()  # finished tasks are let go, not kept for the GC to scan
    began = time.perf_counter()
    for index, op in enumerate(ops):
        due = began + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(timed(op, timings, since=due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    while in_flight:
        await asyncio.gather(*in_flight)
    return timings, time.perf_counter() - began, len(ops)


def summary(timings: Timings) -> dict[str, float]:
    values = timings.all()
    return {
        "p50_ms": round(statistics.median(values), 3),
        "p99_ms": round(percentile(values, 0.99), 3),
        "max_ms": round(max(values), 3),
    }


def report(name: str, what: str, timings: Timings, seconds: float, operations: int) -> None:
    overall = summary(timings)
    print(
        f"{name:6s} {what:22s} {operations:7d} ops in {seconds:6.2f} s = {operations / seconds:8.0f} ops/s"
        f"   p50 {overall['p50_ms']:7.3f} ms  p99 {overall['p99_ms']:7.3f} ms"
        f"  max {overall['max_ms']:8.3f} ms   domain errors {timings.errors}  failed {timings.failed}"
    )
    for kind, values in sorted(timings.by_kind.items()):
        print(
            f"{'':6s}   {kind:19s} {len(values):7d} ops   "
            f"p50 {statistics.median(values):7.3f} ms  p99 {percentile(values, 0.99):7.3f} ms"
        )


@dataclass
class DiffTraffic:
    """The consoles' side of every change: encoded as ``queue:diff``, counted and sized."""

    changes: int = 0
    bytes: int = 0

    async def hear(self, change: QueueChange) -> None:
        self.changes += 1
        self.bytes += len(json.dumps(views.queue_diff(change), separators=(",", ":")))


def whole_list_bytes(waiting: int) -> int:
    """What one update used to carry for a unit with ``waiting`` open consults: every consult view."""
    made = [
        consult_rules.create(
            consult_id=f"c-{index:012x}",
            patient_id=f"p-{index:016x}",
            patient_nss="12345678903",
            patient_name=f"Paciente de Prueba {index}",
            appointment_start=DAY + (index % SLOTS_PER_DAY) * SLOT,
            appointment_end=DAY + (index % SLOTS_PER_DAY + 1) * SLOT,
            created_by="bench",
            at=DAY - timedelta(days=1),
            unit="umf-000",
        ).consult
        for index in range(waiting)
    ]
    return len(json.dumps({"consults": [views.consult(c) for c in made]}, separators=(",", ":")))


async def bench_store(name: str, store: QueueStore, args: argparse.Namespace, units: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    traffic = DiffTraffic()
    store.listen(traffic.hear)
    # Throughput: a whole day, closed loop.
    await staff(store, units=units, per_unit=args.per_unit, tag="tp", concurrency=args.concurrency)
    day = plan_day(
        store, units=units, per_unit=args.per_unit, appointments=args.appointments, tag="tp", seed=args.seed
    )
    gc.freeze()  # the harness's own plan (tens of thousands of closures) is not the store's garbage
    timings, seconds = await closed_loop(day, args.concurrency)
    verify(day)
    report(name, f"day, {args.concurrency} callers", timings, seconds, day.operations)
    figures["ops_per_s"] = round(day.operations / seconds)
    figures["saturated_p99_ms"] = summary(timings)["p99_ms"]
    figures["diffs"] = traffic.changes
    figures["diff_mean_bytes"] = round(traffic.bytes / max(traffic.changes, 1))
    print(
        f"{'':6s}   queue:diff          {traffic.changes:7d} sent   mean {figures['diff_mean_bytes']} bytes"
    )
    # Latency at a fixed offered rate: a fresh day (fresh keys), open loop.
    await staff(store, units=units, per_unit=args.per_unit, tag="ol", concurrency=args.concurrency)
    day = plan_day(
        store,
        units=units,
        per_unit=args.per_unit,
        appointments=args.appointments,
        tag="ol",
        seed=args.seed + 1,
    )
    gc.freeze()
    timings, seconds, issued = await open_loop(day, args.rate, int(args.rate * args.seconds))
    report(name, f"{args.rate:.0f} ops/s offered", timings, seconds, issued)
    fixed = summary(timings)
    figures.update(
        {
            "offered_ops_per_s": args.rate,
            "achieved_ops_per_s": round(issued / seconds),
            "p50_ms": fixed["p50_ms"],
            "p99_ms": fixed["p99_ms"],
            "max_ms": fixed["max_ms"],
            "errors": timings.errors,
            "failed": timings.failed,
        }
    )
    return figures


def patient(index: int) -> Patient:
    payload = f"{index + 1:010d}"
    return register_patient(
        nss=payload + str(luhn_check_digit(payload)),
        name=f"Paciente {index}",
        birth_date=datetime(1980, 1, 1).date(),
        time_zone="America/Mexico_City",
        today=datetime(2026, 1, 1).date(),
        phone="+525512345678",
    )


async def bench_booking(name: str, appointments: AppointmentStore, bookings: int) -> dict[str, float]:
    """``bookings`` patients book one slot of one unit: the first and the last 100, in ms each."""
    scheduling = Scheduling(
        appointments=appointments,
        queues=MemoryQueueStore(),
        consults=MemoryConsultStore(),
        rules=BookingRules(slots=SlotPolicy(capacity=bookings)),
        token_key=b"bench-queue-booking-key-0123456789",
        clock=lambda: DAY - timedelta(days=1),
    )
    people = [patient(index) for index in range(bookings)]
    gc.collect()
    gc.freeze()  # what earlier figures left behind is not the bookings' garbage
    took: list[float] = []
    for person in people:
        started = time.perf_counter()
        await scheduling.book(
            patient=person, unit="umf-000", kind=AppointmentKind.FIRST, start=DAY, created_by="b"
        )
        took.append((time.perf_counter() - started) * 1000)
    first, last = statistics.mean(took[:100]), statistics.mean(took[-100:])
    print(
        f"{name:6s} {bookings} bookings in one slot: first 100 {first:.3f} ms each,"
        f" last 100 {last:.3f} ms each (x{last / first:.2f})"
    )
    return {"first_100_ms": round(first, 3), "last_100_ms": round(last, 3)}


def verify(day: Day) -> None:
    if len(day.paired) != day.appointments or len(set(day.paired)) != day.appointments:
        raise RuntimeError(
            f"paired {len(day.paired)} ({len(set(day.paired))} distinct) of {day.appointments}"
        )


async def run(args: argparse.Namespace) -> dict[str, object]:
    units = args.nurses // args.per_unit
    print(
        f"{units * args.per_unit} nurses in {units} units of {args.per_unit}, "
        f"{args.appointments} appointments over {SLOTS_PER_DAY} slots"
    )
    result: dict[str, object] = {
        "nurses": units * args.per_unit,
        "units": units,
        "appointments": args.appointments,
    }
    whole = whole_list_bytes(args.waiting)
    print(f"a whole list of {args.waiting} consults (each update before diffs): {whole} bytes")
    result[f"whole_list_bytes_{args.waiting}"] = whole
    memory = await bench_store("memory", MemoryQueueStore(), args, units)
    result.update({f"memory_{k}": v for k, v in memory.items()})
    booking = await bench_booking("memory", MemoryAppointmentStore(), args.slot_bookings)
    result.update({f"memory_booking_{k}": v for k, v in booking.items()})
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed; it is needed for the Redis figures")
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as workdir, redis_server(Path(workdir)) as url:
        store = RedisQueueStore.from_url(url, prefix="bench:", max_connections=args.concurrency)
        try:
            figures = await bench_store("redis", store, args, units)
            info = await store.client.info("memory")
            figures["used_memory_mb"] = round(int(info["used_memory"]) / 2**20, 1)
        finally:
            await store.aclose()
        client = Redis.from_url(url)
        try:
            booked = await bench_booking("redis", RedisAppointmentStore(client), args.slot_bookings)
        finally:
            await client.aclose()
        figures.update({f"booking_{k}": v for k, v in booked.items()})
    result.update({f"redis_{k}": v for k, v in figures.items()})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="6,000 appointments and 8 s at the fixed rate")
    parser.add_argument("--nurses", type=int, default=3000)
    parser.add_argument("--per-unit", type=int, default=30)
    parser.add_argument("--appointments", type=int, default=None, help="default 30,000 (6,000 with --quick)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="callers in flight (and Redis connections)"
    )
    parser.add_argument("--rate", type=float, default=2000.0, help="offered ops/s for the latency run")
    parser.add_argument(
        "--seconds", type=float, default=None, help="length of the latency run (default 20; 8 quick)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--waiting", type=int, default=1000, help="consults in the whole-list size figure")
    parser.add_argument("--slot-bookings", type=int, default=5000, help="bookings into one slot")
    args = parser.parse_args()
    if args.appointments is None:
        args.appointments = 6_000 if args.quick else 30_000
    if args.seconds is None:
        args.seconds = 8.0 if args.quick else 20.0
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
