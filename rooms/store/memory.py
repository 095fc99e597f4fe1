"""In-memory stores: the embedded default for a single process.

All methods are coroutines with no awaits inside, so each runs atomically on the event loop;
that is what makes compare-and-set here as safe as the Redis implementation's. As in Redis, an
ended consult (its state, log and chat counter) is forgotten ``ended_ttl_seconds`` after it ended:
the record database holds its archived log by then, and a long-running process must not grow
without end.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import replace

from rooms.consult import Consult, ConsultState, Transition
from rooms.session_log import SessionEvent
from rooms.staff import StaffSession
from rooms.store.base import StaffStore, Stores, VersionConflict, numbered

ENDED_TTL_SECONDS = 30 * 24 * 3600.0
"""An ended consult is kept this long (``TC_SESSION_LOG_RETENTION_DAYS``'s default)."""


class MemoryConsultStore:
    def __init__(
        self, *, ended_ttl_seconds: float = ENDED_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ended_ttl = ended_ttl_seconds
        self._clock = clock
        self._ended: deque[tuple[float, str]] = deque()
        """(when to forget, consult id) in the order consults ended: the oldest leave first."""
        self._consults: dict[str, Consult] = {}
        self._logs: dict[str, list[SessionEvent]] = {}
        self._revoked: set[str] = set()
        self._numbered: dict[str, int] = {}
        # Indexes of the open consults, so a list or a revocation reads what it needs, not the service.
        self._open: set[str] = set()
        self._by_unit: dict[str, set[str]] = defaultdict(set)
        self._by_host: dict[str, set[str]] = defaultdict(set)
        self._invites: dict[str, str] = {}

    def _index(self, before: Consult | None, after: Consult) -> None:
        consult_id = after.consult_id
        if before is not None:
            self._by_host[before.host_id or ""].discard(consult_id)
            for invitee in before.invitees:
                self._invites.pop(invitee.token_id or "", None)
        if after.state is ConsultState.ENDED:
            self._open.discard(consult_id)
            self._by_unit[after.unit].discard(consult_id)
            return
        self._open.add(consult_id)
        if after.unit:
            self._by_unit[after.unit].add(consult_id)
        if after.host_id:
            self._by_host[after.host_id].add(consult_id)
        for invitee in after.invitees:
            if invitee.token_id is not None:
                self._invites[invitee.token_id] = consult_id

    async def add(self, transition: Transition) -> None:
        consult = transition.consult
        if consult.consult_id in self._consults:
            raise VersionConflict(f"consult {consult.consult_id} exists")
        self._consults[consult.consult_id] = consult
        self._logs[consult.consult_id] = list(transition.events)
        self._index(None, consult)

    async def get(self, consult_id: str) -> Consult | None:
        return self._consults.get(consult_id)

    async def commit(self, transition: Transition, expected_version: int) -> None:
        consult = transition.consult
        current = self._consults.get(consult.consult_id)
        if current is None or current.version != expected_version:
            raise VersionConflict(consult.consult_id)
        if consult.version == expected_version and not transition.events:
            return
        self._consults[consult.consult_id] = replace(consult, version=expected_version + 1)
        self._logs[consult.consult_id].extend(transition.events)
        self._index(current, consult)
        if consult.state is ConsultState.ENDED and current.state is not ConsultState.ENDED:
            self._ended.append((self._clock() + self._ended_ttl, consult.consult_id))
        self._forget_expired()

    def _forget_expired(self) -> None:
        """Drop the consults that ended more than ``ended_ttl_seconds`` ago (checked on each write)."""
        now = self._clock()
        while self._ended and self._ended[0][0] <= now:
            _, consult_id = self._ended.popleft()
            self._consults.pop(consult_id, None)
            self._logs.pop(consult_id, None)
            self._numbered.pop(consult_id, None)

    async def log(self, consult_id: str) -> list[SessionEvent]:
        return list(self._logs.get(consult_id, ()))

    async def append_log(self, consult_id: str, events: Sequence[SessionEvent]) -> None:
        if consult_id in self._logs:
            self._logs[consult_id].extend(events)

    async def append_numbered(self, consult_id: str, event: SessionEvent, cap: int) -> int | None:
        count = self._numbered.get(consult_id, 0)
        if consult_id not in self._logs or count >= cap:
            return None
        self._numbered[consult_id] = count + 1
        self._logs[consult_id].append(numbered(event, count + 1))
        return count + 1

    async def open_consults(self) -> list[Consult]:
        return [self._consults[i] for i in sorted(self._open)]

    async def open_in_unit(self, unit: str) -> list[Consult]:
        return [self._consults[i] for i in sorted(self._by_unit.get(unit, ()))] if unit else []

    async def open_hosted_by(self, host_id: str) -> list[Consult]:
        return [self._consults[i] for i in sorted(self._by_host.get(host_id, ()))]

    async def invited_to(self, token_id: str) -> Consult | None:
        consult_id = self._invites.get(token_id)
        return self._consults[consult_id] if consult_id is not None else None

    async def revoke_token(self, token_id: str) -> None:
        self._revoked.add(token_id)

    async def is_token_revoked(self, token_id: str) -> bool:
        return token_id in self._revoked


class MemoryLoginSessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, StaffSession] = {}

    async def add(self, session: StaffSession) -> None:
        self._sessions[session.session_id] = session

    async def get(self, session_id: str) -> StaffSession | None:
        return self._sessions.get(session_id)

    async def remove(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def remove_staff(self, staff_id: str) -> int:
        ended = [key for key, session in self._sessions.items() if session.staff_id == staff_id]
        for key in ended:
            del self._sessions[key]
        return len(ended)


def memory_stores(staff: StaffStore, *, ended_ttl_seconds: float = ENDED_TTL_SECONDS) -> Stores:
    """Consults and login sessions in this process; ``staff`` is the record database's accounts."""
    return Stores(
        consults=MemoryConsultStore(ended_ttl_seconds=ended_ttl_seconds),
        staff=staff,
        sessions=MemoryLoginSessionStore(),
    )
