"""The supervisor's view of a unit: read the stores, let ``rooms.supervision`` compute the figures.

Reads only: the day's appointments of the unit (``for_unit``), its queue snapshot, its open
consults and the session logs of today's calls. Who may ask is the web face's check (the
``VIEW_DASHBOARD`` action of ``rooms/roles.py``, for the viewer's own unit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from rooms.consult import ConsultState
from rooms.queue import QueuePolicy
from rooms.store.appointments import AppointmentStore
from rooms.store.base import ConsultStore
from rooms.store.queue import QueueStore
from rooms.supervision import UnitDashboard, unit_dashboard
from rooms.zones import local_day


class UnitOverview:
    def __init__(
        self,
        *,
        appointments: AppointmentStore,
        queues: QueueStore,
        consults: ConsultStore,
        policy: QueuePolicy,
        clock: Callable[[], datetime],
    ) -> None:
        """``policy``: the queue's (``Scheduling.queue_policy``), so "absent" means the same here."""
        self._appointments = appointments
        self._queues = queues
        self._consults = consults
        self._policy = policy
        self._clock = clock

    async def dashboard(self, unit: str, zone: ZoneInfo) -> UnitDashboard:
        """``unit``'s dashboard now, for a viewer in ``zone`` (whose calendar day is "today")."""
        now = self._clock()
        day_start, day_end = local_day(now.astimezone(zone).date(), zone)
        appointments = await self._appointments.for_unit(unit, day_start, day_end)
        queue = await self._queues.snapshot(unit)
        consults = await self._consults.open_in_unit(unit)
        # Only calls have quality samples: today's admitted appointments and the calls going on.
        called = {a.appointment_id for a in appointments if a.admitted_at is not None}
        called |= {c.consult_id for c in consults if c.state is ConsultState.LIVE}
        ids = sorted(called)
        logs = dict(zip(ids, await asyncio.gather(*(self._consults.log(i) for i in ids)), strict=True))
        return unit_dashboard(
            unit=unit,
            now=now,
            zone=zone,
            appointments=appointments,
            queue=queue,
            consults=consults,
            logs=logs,
            policy=self._policy,
        )
