"""No whole-service scan: what a sweep round or a request reads does not grow with the service.

Every store is wrapped in a counting proxy (each call counts one, plus one per record it returns),
and, in Redis, every command the server runs (scripts' inner commands included, from
``INFO commandstats``) is counted too. The same round or request is measured in a service with a
few other units and consults and in one with many more; the counts must be equal. A booking is
measured the same way as its slot fills.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from rooms import consult as consult_rules
from rooms.appointments import AppointmentKind, BookingRules
from rooms.consult import Actor, Consult, Transition
from rooms.nss import luhn_check_digit
from rooms.patients import Patient, register_patient
from rooms.roles import Role
from rooms.slots import SlotPolicy
from rooms.store.appointments_memory import MemoryAppointmentStore
from rooms.store.appointments_redis import RedisAppointmentStore
from rooms.store.memory import MemoryConsultStore
from rooms.store.queue_memory import MemoryQueueStore
from rooms.store.queue_redis import RedisQueueStore
from rooms.store.redis import RedisConsultStore
from services.consults import ConsultService
from services.invitations import Invitations, new_invitee
from services.scheduling import QueueSweep, Scheduling
from tests.support.redis_server import redis_server

MONDAY_1000 = datetime(2026, 3, 2, 16, tzinfo=UTC)  # Monday 10:00 in Mexico City
MIN = timedelta(minutes=1)
RULES = BookingRules(slots=SlotPolicy(capacity=10_000))


class Counting:
    """A store that counts what is read through it: one per call, plus one per record returned."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            result = await attr(*args, **kwargs)
            self.reads += 1 + _records(result)
            return result

        return counted


def _records(result: Any) -> int:
    if isinstance(result, list | tuple | dict):
        return len(result)
    waiting = getattr(result, "waiting", None)  # a unit snapshot: every entry and nurse in it
    return len(waiting) + len(result.nurses) if waiting is not None else 0


class Quiet:
    """The live side, silent: this test counts reads, not announcements."""

    def __getattr__(self, name: str) -> Callable[..., Awaitable[None]]:
        async def nothing(*args: Any, **kwargs: Any) -> None:
            return None

        return nothing


def patient(index: int) -> Patient:
    payload = f"{index + 1:010d}"
    return register_patient(
        nss=payload + str(luhn_check_digit(payload)),
        name=f"Paciente {index}",
        birth_date=date(1980, 1, 1),
        time_zone="America/Mexico_City",
        today=date(2026, 1, 1),
        phone="+525512345678",
    )


@dataclass
class World:
    scheduling: Scheduling
    invitations: Invitations
    sweep: QueueSweep
    counters: list[Counting]
    commands: Callable[[], Awaitable[int]]
    now: datetime = MONDAY_1000 - 60 * MIN

    def reads(self) -> int:
        return sum(c.reads for c in self.counters)

    async def cost(self, step: Awaitable[Any]) -> tuple[int, int]:
        """What ``step`` read: through the stores' interfaces, and Redis commands (0 in memory)."""
        reads, commands = self.reads(), await self.commands()
        await step
        return self.reads() - reads, await self.commands() - commands


async def build(kind: str, url: str | None) -> AsyncIterator[World]:
    if kind == "memory":
        appointments: Any = MemoryAppointmentStore()
        queues: Any = MemoryQueueStore()
        consults: Any = MemoryConsultStore()

        async def commands() -> int:
            return 0

        client = None
    else:
        assert url is not None
        client = Redis.from_url(url)
        prefix = f"reads-{uuid.uuid4().hex[:8]}:"
        appointments = RedisAppointmentStore(client, prefix=prefix + "appt:")
        queues = RedisQueueStore(client, prefix=prefix + "queue:")
        consults = RedisConsultStore(client, prefix=prefix)

        async def commands() -> int:
            stats = await client.info("commandstats")
            return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")

    counted = [Counting(appointments), Counting(queues), Counting(consults)]
    stores: list[Any] = list(counted)  # each stands for the store it wraps
    live: Any = Quiet()
    world_box: list[World] = []
    scheduling = Scheduling(
        appointments=stores[0],
        queues=stores[1],
        consults=stores[2],
        rules=RULES,
        token_key=b"constant-reads-secret-key-0123456789",
        clock=lambda: world_box[0].now,
    )
    service = ConsultService(consults=stores[2], live=live, clock=lambda: world_box[0].now, lobby=scheduling)
    invitations = Invitations(
        consults=service,
        store=stores[2],
        token_key=b"constant-reads-secret-key-0123456789",
        clock=lambda: world_box[0].now,
    )
    sweep = QueueSweep(scheduling, service, clock=lambda: world_box[0].now)
    world_box.append(World(scheduling, invitations, sweep, counted, commands))
    try:
        yield world_box[0]
    finally:
        if client is not None:
            await client.aclose()


async def populate(world: World, units: int, offset: int) -> None:
    """Other units' consults: booked for later (not due), one waiting, one with an invitee."""
    for u in range(units):
        for k in range(3):
            index = offset + u * 3 + k
            booking = await world.scheduling.book(
                patient=patient(index),
                unit=f"other-{u}",
                kind=AppointmentKind.FIRST,
                start=MONDAY_1000 + 60 * MIN,
                created_by="s-test",
            )
            if k == 1:
                await invite(world, booking.consult.consult_id)


async def invite(world: World, consult_id: str) -> str:
    """A companion invited by link to ``consult_id``; the link's id."""
    guest = new_invitee(Role.COMPANION, "Acompañante")

    def command(c: Consult) -> Transition:
        return consult_rules.invite(c, Actor("s-test", Role.NURSE, unit=c.unit), guest, world.now)

    await world.invitations.issue(consult_id, guest, command)
    assert guest.token_id is not None
    return guest.token_id


async def target(world: World, index: int, start: datetime) -> tuple[Consult, str]:
    """The consult the measured request acts on, in its own unit, with an invitation link."""
    booking = await world.scheduling.book(
        patient=patient(index),
        unit="umf-target",
        kind=AppointmentKind.FIRST,
        start=start,
        created_by="s-test",
    )
    return booking.consult, await invite(world, booking.consult.consult_id)


async def measure(kind: str, url: str | None, others: int) -> dict[str, tuple[int, int]]:
    async for world in build(kind, url):
        await populate(world, others, offset=100)
        due, _ = await target(world, 1, MONDAY_1000)
        ending, link = await target(world, 2, MONDAY_1000 + 40 * MIN)  # not due at 10:31
        costs = {}
        world.now = MONDAY_1000 + 31 * MIN  # the target's window closed at 10:30: a due no-show
        costs["sweep"] = await world.cost(world.sweep.run_once())
        assert (await world.scheduling.appointments.get(due.consult_id)).status.value == "no_show"  # type: ignore[union-attr]
        costs["revoke_link"] = await world.cost(
            world.invitations.revoke_link(Actor("s-test", Role.NURSE, unit="umf-target"), link)
        )
        costs["ended"] = await world.cost(world.scheduling.ended(ending.consult_id, None, world.now))
        costs["denied"] = await world.cost(world.scheduling.denied(ending.consult_id, ending.patient_id))
        costs["sweep_again"] = await world.cost(world.sweep.run_once())
        return costs
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with redis_server(tmp_path_factory.mktemp("reads-redis")) as url:
        yield url


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_sweep_round_and_requests_read_the_same_however_big_the_service(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    await measure(kind, url, others=0)  # Redis loads the scripts on their first use: not a read
    small = await measure(kind, url, others=2)
    large = await measure(kind, url, others=12)
    assert small == large


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_booking_reads_the_same_however_full_its_slot(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    async for world in build(kind, url):
        costs = []
        for index in range(60):
            step = world.scheduling.book(
                patient=patient(index),
                unit="umf-1",
                kind=AppointmentKind.FIRST,
                start=MONDAY_1000,
                created_by="s",
            )
            costs.append(await world.cost(step))
        assert costs[1] == costs[-1], (costs[1], costs[-1])  # the second booking and the sixtieth
