"""A nurse's working state, as the queue sees it.

    away <--> available --next patient--> in_consult --finish--> wrap_up --> available | away
                  ^-------------------------next patient-----------------/

A nurse belongs to one unit and only takes patients from that unit's queue. ``wrap_up`` is the
time after a call spent signing the note; a nurse in wrap-up may take the next patient directly
(that ends the wrap-up). A nurse in a consult cannot go away or take another patient until the
consult is finished, so one click on two tabs cannot pair one nurse with two patients.

The allowed transitions are data (:data:`ALLOWED_FROM`) so the Redis store's scripts enforce
exactly this table instead of a copy of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from rooms.errors import DomainError
from rooms.zones import require_utc


class NurseState(StrEnum):
    AVAILABLE = "available"
    IN_CONSULT = "in_consult"
    WRAP_UP = "wrap_up"
    AWAY = "away"


ON_DUTY = frozenset({NurseState.AVAILABLE, NurseState.IN_CONSULT, NurseState.WRAP_UP})
"""States of a nurse who is working the queue (counts for the expected wait)."""

ALLOWED_FROM: Mapping[NurseState, frozenset[NurseState]] = MappingProxyType(
    {
        NurseState.AVAILABLE: frozenset({NurseState.AWAY, NurseState.AVAILABLE, NurseState.WRAP_UP}),
        NurseState.AWAY: frozenset({NurseState.AVAILABLE, NurseState.AWAY, NurseState.WRAP_UP}),
        NurseState.IN_CONSULT: frozenset({NurseState.AVAILABLE, NurseState.WRAP_UP}),
        NurseState.WRAP_UP: frozenset({NurseState.IN_CONSULT}),
    }
)
"""For each target state, the states a nurse may enter it from."""


class InvalidNurseTransition(DomainError):
    CODE = "invalid_nurse_transition"

    def __init__(self, current: NurseState, target: NurseState) -> None:
        super().__init__(
            self.CODE,
            f"No es posible pasar de «{_STATE_ES[current]}» a «{_STATE_ES[target]}».",
            f"Cannot go from {current.value.replace('_', ' ')} to {target.value.replace('_', ' ')}.",
        )
        self.current = current
        self.target = target


class NurseNotAvailable(DomainError):
    CODE = "nurse_not_available"

    def __init__(self, current: NurseState) -> None:
        super().__init__(
            self.CODE,
            f"Para tomar al siguiente paciente debe estar disponible (ahora: «{_STATE_ES[current]}»).",
            f"To take the next patient you must be available (now: {current.value.replace('_', ' ')}).",
        )
        self.current = current


_STATE_ES = {
    NurseState.AVAILABLE: "disponible",
    NurseState.IN_CONSULT: "en consulta",
    NurseState.WRAP_UP: "cerrando nota",
    NurseState.AWAY: "ausente",
}


@dataclass(frozen=True, slots=True)
class Nurse:
    nurse_id: str
    unit: str
    state: NurseState = NurseState.AWAY
    since: datetime | None = None
    """When the current state began (UTC); ``None`` for a nurse never seen on duty."""
    appointment_id: str | None = None
    """The patient being seen, while in a consult."""


def transition(nurse: Nurse, target: NurseState, now: datetime, appointment_id: str | None = None) -> Nurse:
    """Move ``nurse`` to ``target``; staying in the same state keeps ``since`` (it is not a new start)."""
    if nurse.state not in ALLOWED_FROM[target]:
        if target is NurseState.IN_CONSULT:
            raise NurseNotAvailable(nurse.state)
        raise InvalidNurseTransition(nurse.state, target)
    if nurse.state is target:
        return nurse
    return replace(
        nurse,
        state=target,
        since=require_utc(now),
        appointment_id=appointment_id if target is NurseState.IN_CONSULT else None,
    )


def take_patient(nurse: Nurse, appointment_id: str, now: datetime) -> Nurse:
    return transition(nurse, NurseState.IN_CONSULT, now, appointment_id)


def finish_consult(nurse: Nurse, now: datetime) -> tuple[Nurse, timedelta]:
    """End the consult: the nurse goes to wrap-up; returns how long the consult took."""
    if nurse.state is not NurseState.IN_CONSULT or nurse.since is None:
        raise InvalidNurseTransition(nurse.state, NurseState.WRAP_UP)
    return transition(nurse, NurseState.WRAP_UP, now), max(require_utc(now) - nurse.since, timedelta(0))
