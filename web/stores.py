"""The stores and the scheduling service, built from configuration.

Memory stores by default (one process, nothing to install); Redis ones, shared by every node,
when ``TC_REDIS_URL`` is set (docs/operations.md, "Scaling").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from redis.asyncio import Redis

from rooms.appointments import BookingRules, CheckInPolicy
from rooms.queue import QueuePolicy
from rooms.slots import SlotPolicy
from rooms.store.appointments import AppointmentStore
from rooms.store.appointments_memory import MemoryAppointmentStore
from rooms.store.appointments_redis import RedisAppointmentStore
from rooms.store.base import ConsultStore
from rooms.store.queue import QueueStore
from rooms.store.queue_memory import MemoryQueueStore
from rooms.store.queue_redis import RedisQueueStore
from services.scheduling import Scheduling
from web.config import Settings


def booking_rules(settings: Settings) -> BookingRules:
    """The booking rules the operator configured (docs/operations.md, "Appointments")."""
    return BookingRules(
        hours=settings.service_hours,
        slots=SlotPolicy(
            length=timedelta(minutes=settings.slot_minutes),
            capacity=settings.slot_capacity,
            horizon=timedelta(days=settings.booking_horizon_days),
        ),
        check_in=CheckInPolicy(
            opens_before=timedelta(minutes=settings.check_in_opens_minutes),
            grace=timedelta(minutes=settings.check_in_grace_minutes),
        ),
    )


def scheduling_from(
    settings: Settings, consults: ConsultStore, redis: Redis | None, clock: Callable[[], datetime]
) -> Scheduling:
    """Memory stores by default; Redis ones (shared by every node) when ``TC_REDIS_URL`` is set."""
    rules = booking_rules(settings)
    policy = QueuePolicy(default_consult=rules.slots.length)
    appointments: AppointmentStore
    queues: QueueStore
    if redis is not None:
        appointments = RedisAppointmentStore(redis)
        queues = RedisQueueStore(redis, policy)  # the composition root closes the shared client
    else:
        appointments = MemoryAppointmentStore()
        queues = MemoryQueueStore(policy)
    return Scheduling(
        appointments=appointments,
        queues=queues,
        consults=consults,
        rules=rules,
        token_key=settings.secret_key,
        clock=clock,
    )
