"""Connections that drop and come back: nobody loses their place to a network blip.

A participant whose connection drops mid-call keeps their place for the grace period while the
others see them reconnecting; coming back (on any node) logs the gap, and only a participant who
stays away past the grace period leaves the call. A waiting patient who drops keeps their place
in the queue but cannot be taken until they return. When a whole node dies nobody sees its
connections close: another node sweeps them (``signaling/roster.py``) and :meth:`Presence.lost`
treats each as a drop, logged with reason ``node_lost``; the return on any node is logged too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import socketio

from rooms import consult as rules
from rooms.consult import Consult, ConsultState
from rooms.errors import DomainError
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from rooms.store.base import ConsultStore, VersionConflict
from services.consults import ConsultService
from signaling.connections import Connection, consult_room
from signaling.node_state import NodeState
from signaling.rate_limit import TokenBucket
from signaling.roster import RosterEntry

NODE_LOST = "node_lost"

GoneHook = Callable[[Connection], Awaitable[None]]
"""Called when a dropped participant stayed away past the grace period: they leave the call."""


class Presence:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        consults: ConsultService,
        store: ConsultStore,
        state: NodeState,
        *,
        grace_seconds: float,
        clock: Callable[[], datetime],
        on_gone: GoneHook,
        on_returned: Callable[[], None] = lambda: None,
    ) -> None:
        self._sio = sio
        self._consults = consults
        self._store = store
        self._state = state
        self._grace = grace_seconds
        self._clock = clock
        self._on_gone = on_gone
        self._on_returned = on_returned

    async def connected(self, connection: Connection) -> None:
        """A page (re)connected: a waiting patient is reachable again, a dropped participant is back."""
        if connection.consult_id is None:
            return
        if connection.role is Role.PATIENT:
            await self._consults.patient_returned(connection.consult_id)
        await self._welcome_back(connection)

    async def disconnected(self, connection: Connection) -> None:
        """A page's connection closed without leaving (a drop): hold their place."""
        if connection.consult_id is None:
            return
        consult = await self._store.get(connection.consult_id)
        if consult is None or connection.participant_id not in consult.in_call:
            if (
                consult is not None
                and consult.state is ConsultState.WAITING
                and connection.role is Role.PATIENT
            ):
                await self._consults.patient_dropped(consult.consult_id)
            return  # e.g. a patient in the waiting room: their place is kept as it is
        await self._hold_place(connection, consult)

    async def lost(self, entry: RosterEntry) -> None:
        """A participant whose node died (swept from its roster): a drop nobody saw happen."""
        consult = await self._store.get(entry.consult_id)
        if consult is None or consult.state is ConsultState.ENDED:
            return
        connection = Connection(
            sid=entry.sid,
            participant_id=entry.participant_id,
            role=entry.role,
            display_name="",
            consult_id=entry.consult_id,
            token_id=NODE_LOST if entry.via_link else None,  # only whether a link let them in matters
            bucket=TokenBucket.full(1, 1, 0),
            unit=entry.unit,
        )
        if entry.participant_id in consult.in_call:
            await self._hold_place(connection, consult, reason=NODE_LOST)
        elif consult.state is ConsultState.WAITING and entry.role is Role.PATIENT:
            dropped = rules.dropped(consult, connection.actor(), self._clock(), reason=NODE_LOST)
            await self._store.append_log(consult.consult_id, [dropped])
            await self._consults.patient_dropped(consult.consult_id)

    async def _hold_place(self, connection: Connection, consult: Consult, reason: str | None = None) -> None:
        now = self._clock()
        key = (consult.consult_id, connection.participant_id)
        dropped = rules.dropped(consult, connection.actor(), now, reason)
        await self._store.append_log(consult.consult_id, [dropped])
        await self._emit(consult.consult_id, connection.participant_id, "reconnecting")

        async def give_up() -> None:
            await asyncio.sleep(self._grace)
            if self._state.drops.get(key, (None, None))[1] is not asyncio.current_task():
                return
            del self._state.drops[key]
            if await self._returned_elsewhere(consult.consult_id, connection.participant_id, now):
                return
            try:
                await self._on_gone(connection)
            except (DomainError, VersionConflict):
                return
            await self._emit(consult.consult_id, connection.participant_id, "left")

        self._state.drops[key] = (now, asyncio.get_running_loop().create_task(give_up()))

    async def _returned_elsewhere(self, consult_id: str, participant_id: str, since: datetime) -> bool:
        """Whether the participant came back on another node (the shared log says so)."""
        return any(
            event.kind is EventKind.RETURNED and event.actor_id == participant_id and event.at >= since
            for event in await self._store.log(consult_id)
        )

    async def _welcome_back(self, connection: Connection) -> None:
        assert connection.consult_id is not None
        drop = self._state.drops.pop((connection.consult_id, connection.participant_id), None)
        consult = await self._store.get(connection.consult_id)
        if consult is None:
            return
        if connection.participant_id not in consult.in_call:
            if consult.state is ConsultState.WAITING and connection.role is Role.PATIENT:
                await self._waiting_patient_back(connection, consult)
            return
        now = self._clock()
        if drop is not None:
            drop[1].cancel()
            since: datetime | None = drop[0]
        else:
            since = last_drop(await self._store.log(consult.consult_id), connection.participant_id)
        if since is None:
            return
        returned = rules.returned(consult, connection.actor(), now, now - since)
        await self._store.append_log(consult.consult_id, [returned])
        self._on_returned()
        await self._emit(consult.consult_id, connection.participant_id, "reconnected")

    async def _waiting_patient_back(self, connection: Connection, consult: Consult) -> None:
        """A waiting patient's drop is logged only when their node died (:meth:`lost`): log its end."""
        since = last_drop(await self._store.log(consult.consult_id), connection.participant_id)
        if since is not None:
            now = self._clock()
            returned = rules.returned(consult, connection.actor(), now, now - since)
            await self._store.append_log(consult.consult_id, [returned])

    async def _emit(self, consult_id: str, participant_id: str, state: str) -> None:
        await self._sio.emit(
            "participant:connection",
            {"participant_id": participant_id, "state": state},
            room=consult_room(consult_id),
        )


def last_drop(log: list[SessionEvent], participant_id: str) -> datetime | None:
    """The time of the participant's last drop that no return followed yet."""
    since = None
    for event in log:
        if event.actor_id == participant_id and event.kind is EventKind.DROPPED:
            since = event.at
        elif event.actor_id == participant_id and event.kind in (EventKind.RETURNED, EventKind.LEFT):
            since = None
    return since
