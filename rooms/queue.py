"""A unit's waiting queue and the pairing of its patients with its nurses.

Checked-in patients wait in their unit's queue, ordered by their **order key**: urgent first, then
appointment time, then check-in time (then appointment id, so the order is total). The key is
fixed when the patient checks in and never changes except by the urgent flag, so a patient whose
connection drops keeps their place: dropping only marks them disconnected (they cannot be taken
while away, and after ``absent_after`` they show as absent), and coming back makes them eligible
again, ahead of everyone who came later.

"Next patient" gives a nurse the first *eligible* entry in that order:

* the patient is connected;
* the patient is not pinned to another nurse. A pin (continuity of care: the nurse who saw them
  before) holds until ``pinned_until`` and only while the pinned nurse is on duty in the unit;
  after that anyone may take them.

A nurse only takes patients from their own unit's queue, must be available (or wrapping up), and
goes into the consult in the same step, so one nurse never gets two patients and one patient
never gets two nurses. Paired appointments are remembered (``served``) so a late reload of the
patient's page cannot queue them again.

Every function here is pure: it takes a :class:`UnitQueue` and returns the next one. The stores
in :mod:`rooms.store` apply these same rules atomically (in memory by calling them; in Redis in
a Lua script checked against them by a shared test suite).
"""

from __future__ import annotations

import bisect
import heapq
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from rooms.appointments import Appointment, AppointmentStatus, InvalidAppointmentState
from rooms.errors import DomainError
from rooms.nurses import (
    ALLOWED_FROM,
    ON_DUTY,
    InvalidNurseTransition,
    Nurse,
    NurseNotAvailable,
    NurseState,
    finish_consult,
    take_patient,
    transition,
)
from rooms.zones import require_utc


class WrongUnit(DomainError):
    CODE = "wrong_unit"

    def __init__(self, unit: str) -> None:
        super().__init__(
            self.CODE,
            f"No pertenece a la unidad «{unit}»; solo puede atender la fila de su unidad.",
            f"Not a member of unit '{unit}'; nurses take patients only from their own unit's queue.",
        )
        self.unit = unit


class NotInQueue(DomainError):
    CODE = "not_in_queue"

    def __init__(self) -> None:
        super().__init__(self.CODE, "El paciente no está en la fila.", "The patient is not in the queue.")


class AlreadyServed(DomainError):
    CODE = "already_served"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Esta cita ya fue atendida por una enfermera.",
            "A nurse has already taken this appointment.",
        )


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """Tunables of the queue; defaults suit 20-minute slots."""

    pin_fallback: timedelta = timedelta(minutes=10)
    """How long a pinned patient waits for their nurse before anyone may take them."""
    absent_after: timedelta = timedelta(minutes=3)
    """A dropped patient shows as absent after this long (their place is kept all the same)."""
    served_ttl: timedelta = timedelta(hours=36)
    """How long paired appointments are remembered, to refuse queuing them again."""
    recent_consults: int = 20
    """How many recent consult durations the wait estimate learns from."""
    min_samples: int = 5
    """Below this many recent consults, the estimate uses ``default_consult`` instead."""
    default_consult: timedelta = timedelta(minutes=20)
    """A consult's expected length before there is data: the slot length."""
    wrap_up: timedelta = timedelta(minutes=3)
    """Typical time a nurse spends on the note after a call, before taking the next patient."""

    def __post_init__(self) -> None:
        if self.recent_consults < 1 or self.min_samples < 1:
            raise ValueError("the estimate needs at least one recent consult")
        if self.default_consult <= timedelta(0):
            raise ValueError("a consult takes some time")


OrderKey = tuple[bool, datetime, datetime, str]


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One checked-in patient waiting in a unit's queue. Times are UTC."""

    appointment_id: str
    patient_id: str
    unit: str
    appointment_start: datetime
    checked_in_at: datetime
    urgent: bool = False
    pinned_nurse: str | None = None
    pinned_until: datetime | None = None
    connected: bool = True
    dropped_at: datetime | None = None

    @property
    def order_key(self) -> OrderKey:
        """Urgent first (``False`` sorts first), then appointment time, check-in time and id."""
        return (not self.urgent, self.appointment_start, self.checked_in_at, self.appointment_id)

    def is_absent(self, now: datetime, policy: QueuePolicy) -> bool:
        return self.dropped_at is not None and now - self.dropped_at >= policy.absent_after


def entry_for(appointment: Appointment, policy: QueuePolicy, *, urgent: bool = False) -> QueueEntry:
    """The queue entry of a checked-in appointment.

    A pin lasts ``pin_fallback`` from when the patient could first be seen: the later of their
    check-in and their appointment's start (waiting before one's own slot is not waiting).
    """
    if appointment.status is not AppointmentStatus.CHECKED_IN or appointment.checked_in_at is None:
        raise InvalidAppointmentState(appointment.status, "poner en la fila", "queue")
    pinned_until = None
    if appointment.preferred_nurse is not None:
        pinned_until = max(appointment.checked_in_at, appointment.start) + policy.pin_fallback
    return QueueEntry(
        appointment_id=appointment.appointment_id,
        patient_id=appointment.patient_id,
        unit=appointment.unit,
        appointment_start=appointment.start,
        checked_in_at=appointment.checked_in_at,
        urgent=urgent,
        pinned_nurse=appointment.preferred_nurse,
        pinned_until=pinned_until,
    )


@dataclass(frozen=True, slots=True)
class Pairing:
    """A nurse took a patient: the entry as it left the queue and the nurse now in the consult."""

    entry: QueueEntry
    nurse: Nurse
    at: datetime

    @property
    def waited(self) -> timedelta:
        """From when the patient could be seen (check-in, or their slot's start if they came early)."""
        return max(self.at - max(self.entry.checked_in_at, self.entry.appointment_start), timedelta(0))


@dataclass(frozen=True, slots=True)
class UnitQueue:
    """Everything the queue of one unit knows: who waits (in order), its nurses, recent history."""

    unit: str
    waiting: tuple[QueueEntry, ...] = ()
    nurses: Mapping[str, Nurse] = field(default_factory=lambda: MappingProxyType({}))
    served: Mapping[str, datetime] = field(default_factory=lambda: MappingProxyType({}))
    """Appointment id → when it was paired, for ``served_ttl``."""
    durations: tuple[timedelta, ...] = ()
    """Recent consult durations, oldest first, at most ``recent_consults``."""
    version: int = field(default=0, compare=False)
    """How many changes the unit's list has seen (:class:`QueueChange`): consoles that hold this
    state apply the changes numbered after it, in order. Not part of equality: two stores that
    hold the same queue may have numbered their changes differently."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "nurses", MappingProxyType(dict(self.nurses)))
        object.__setattr__(self, "served", MappingProxyType(dict(self.served)))

    def entry(self, appointment_id: str) -> QueueEntry | None:
        return next((e for e in self.waiting if e.appointment_id == appointment_id), None)

    def nurse(self, nurse_id: str) -> Nurse:
        nurse = self.nurses.get(nurse_id)
        if nurse is None:
            raise WrongUnit(self.unit)
        return nurse


@dataclass(frozen=True, slots=True)
class QueueChange:
    """What one change did to a unit's list, numbered: the unit's version after it.

    Consoles hold a snapshot (at :attr:`UnitQueue.version`) and apply each change numbered one
    more than what they hold; a gap means they missed one and fetch a snapshot again. Entries are
    whole (an added, moved or updated entry alike: consoles place it by its order key), so applying
    a change twice does no harm. A change of the list outside the queue (a consult's state) has a
    number and no entries.
    """

    unit: str
    version: int
    entries: tuple[QueueEntry, ...] = ()
    """Entries added to the queue or changed (connection, urgency: a move)."""
    removed: tuple[str, ...] = ()
    """Appointment ids that left the queue."""
    nurses: tuple[Nurse, ...] = ()
    """Nurses who joined the unit or whose state changed."""
    nurses_removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing in the queue changed: the number stands for a change of the list elsewhere."""
        return not (self.entries or self.removed or self.nurses or self.nurses_removed)


def changes_between(before: UnitQueue, after: UnitQueue, version: int) -> QueueChange:
    """The change that turns ``before`` into ``after`` (what the in-memory store announces)."""
    old = {e.appointment_id: e for e in before.waiting}
    entries = []
    for entry in after.waiting:
        previous = old.pop(entry.appointment_id, None)
        if previous is not entry and previous != entry:
            entries.append(entry)
    nurses = tuple(n for k, n in after.nurses.items() if before.nurses.get(k) != n)
    gone = tuple(k for k in before.nurses if k not in after.nurses)
    return QueueChange(after.unit, version, tuple(entries), tuple(old), nurses, gone)


def apply_change(state: UnitQueue, change: QueueChange) -> UnitQueue:
    """``state`` with ``change`` applied, as a console does it (what the shared store suite checks
    the consoles' view against): entries replaced whole and put in order, removed ones dropped."""
    changed = {e.appointment_id for e in change.entries} | set(change.removed)
    waiting = [e for e in state.waiting if e.appointment_id not in changed]
    for entry in change.entries:
        bisect.insort(waiting, entry, key=lambda e: e.order_key)
    nurses = {k: v for k, v in state.nurses.items() if k not in change.nurses_removed}
    nurses.update((n.nurse_id, n) for n in change.nurses)
    return replace(state, waiting=tuple(waiting), nurses=nurses, version=change.version)


def _with_entry(state: UnitQueue, entry: QueueEntry) -> UnitQueue:
    """``state`` with ``entry`` in its place (replacing the entry of the same appointment)."""
    waiting = [e for e in state.waiting if e.appointment_id != entry.appointment_id]
    bisect.insort(waiting, entry, key=lambda e: e.order_key)
    return replace(state, waiting=tuple(waiting))


def _with_nurse(state: UnitQueue, nurse: Nurse) -> UnitQueue:
    return replace(state, nurses={**state.nurses, nurse.nurse_id: nurse})


# --- nurses -------------------------------------------------------------------------------------


def register_nurse(state: UnitQueue, nurse_id: str) -> tuple[UnitQueue, Nurse]:
    """Make ``nurse_id`` a member of this unit's queue (away until they say they are available).

    Registering again changes nothing, so it is safe to do on every login.
    """
    existing = state.nurses.get(nurse_id)
    if existing is not None:
        return state, existing
    nurse = Nurse(nurse_id, state.unit)
    return _with_nurse(state, nurse), nurse


def remove_nurse(state: UnitQueue, nurse_id: str) -> UnitQueue:
    """Take a nurse off this unit (moving to another unit, leaving the program); not mid-consult."""
    nurse = state.nurses.get(nurse_id)
    if nurse is None:
        return state
    if nurse.state is NurseState.IN_CONSULT:
        raise InvalidNurseTransition(nurse.state, NurseState.AWAY)
    return replace(state, nurses={k: v for k, v in state.nurses.items() if k != nurse_id})


def set_nurse_state(
    state: UnitQueue, nurse_id: str, target: NurseState, now: datetime
) -> tuple[UnitQueue, Nurse]:
    """A nurse says they are available or away; consults start and end only through the queue."""
    if target not in (NurseState.AVAILABLE, NurseState.AWAY):
        raise ValueError("nurses enter and leave consults through next_patient and finish_consult")
    nurse = transition(state.nurse(nurse_id), target, now)
    return _with_nurse(state, nurse), nurse


def end_consult(
    state: UnitQueue, nurse_id: str, now: datetime, policy: QueuePolicy
) -> tuple[UnitQueue, Nurse, timedelta]:
    """The nurse ends the call: wrap-up starts and the consult's duration feeds the wait estimate."""
    nurse, duration = finish_consult(state.nurse(nurse_id), now)
    durations = (*state.durations, duration)[-policy.recent_consults :]
    return replace(_with_nurse(state, nurse), durations=durations), nurse, duration


def release_nurse(
    state: UnitQueue, nurse_id: str, appointment_id: str, now: datetime, requeue: QueueEntry | None = None
) -> tuple[UnitQueue, Nurse]:
    """The consult a nurse was paired with will not happen with her: it ended or was denied before
    she admitted it, another nurse admitted it, or she stepped back before admitting.

    She is available again (no consult duration is recorded: none took place). With ``requeue``
    the patient goes back to their place in the queue (they are still waiting). A nurse who is not
    in a consult on ``appointment_id`` is left as she is, so releasing twice changes nothing.
    """
    nurse = state.nurse(nurse_id)
    if nurse.state is not NurseState.IN_CONSULT or nurse.appointment_id != appointment_id:
        return state, nurse
    freed = replace(nurse, state=NurseState.AVAILABLE, since=require_utc(now), appointment_id=None)
    after = _with_nurse(state, freed)
    if requeue is not None:
        if requeue.unit != state.unit or requeue.appointment_id != appointment_id:
            raise WrongUnit(state.unit)
        served = {k: v for k, v in state.served.items() if k != appointment_id}
        after = replace(after, served=served)
        if after.entry(appointment_id) is None:
            after = _with_entry(after, requeue)
    return after, freed


def take_directly(
    state: UnitQueue, nurse_id: str, appointment_id: str, now: datetime, policy: QueuePolicy
) -> tuple[UnitQueue, Nurse]:
    """A nurse admits a patient straight from the list, not through :func:`next_patient`.

    Whatever she was (away included), she is in that consult now, so her availability follows
    what she does; the patient leaves the queue and counts as served, and any other nurse whom
    "next patient" had paired with the same appointment is released.
    """
    now = require_utc(now)
    nurse = state.nurse(nurse_id)
    after = state
    for other in state.nurses.values():
        if other.nurse_id != nurse_id and other.appointment_id == appointment_id:
            after, _ = release_nurse(after, other.nurse_id, appointment_id, now)
    if nurse.state is not NurseState.IN_CONSULT or nurse.appointment_id != appointment_id:
        nurse = replace(nurse, state=NurseState.IN_CONSULT, since=now, appointment_id=appointment_id)
    cutoff = now - policy.served_ttl
    served = {k: v for k, v in after.served.items() if v >= cutoff}
    served[appointment_id] = now
    after = replace(
        _with_nurse(after, nurse),
        waiting=tuple(e for e in after.waiting if e.appointment_id != appointment_id),
        served=served,
    )
    return after, nurse


# --- patients -----------------------------------------------------------------------------------


def check_in(state: UnitQueue, entry: QueueEntry) -> tuple[UnitQueue, QueueEntry]:
    """Put a checked-in patient in the queue.

    Checking in again while waiting keeps the original entry (and place) and reconnects it; an
    appointment a nurse already took cannot come back.
    """
    if entry.unit != state.unit:
        raise WrongUnit(state.unit)
    if entry.appointment_id in state.served:
        raise AlreadyServed()
    existing = state.entry(entry.appointment_id)
    if existing is not None:
        if existing.connected:
            return state, existing
        back = replace(existing, connected=True, dropped_at=None)
        return _with_entry(state, back), back
    return _with_entry(state, entry), entry


def drop(state: UnitQueue, appointment_id: str, now: datetime) -> tuple[UnitQueue, QueueEntry | None]:
    """The patient's connection dropped: they stay in place but cannot be taken until they return.

    ``None`` (and no change) when they are not waiting, e.g. a nurse took them a moment before.
    A second drop keeps the first drop's time, which is what ``absent_after`` counts from.
    """
    entry = state.entry(appointment_id)
    if entry is None:
        return state, None
    if not entry.connected:
        return state, entry
    dropped = replace(entry, connected=False, dropped_at=require_utc(now))
    return _with_entry(state, dropped), dropped


def rejoin(state: UnitQueue, appointment_id: str) -> tuple[UnitQueue, QueueEntry | None]:
    """The patient is back: same place as before the drop. ``None`` when they are not waiting."""
    entry = state.entry(appointment_id)
    if entry is None:
        return state, None
    if entry.connected:
        return state, entry
    back = replace(entry, connected=True, dropped_at=None)
    return _with_entry(state, back), back


def cancel(state: UnitQueue, appointment_id: str) -> tuple[UnitQueue, QueueEntry | None]:
    """Take the patient out of the queue (cancelled, rescheduled); the removed entry, or ``None``."""
    entry = state.entry(appointment_id)
    if entry is None:
        return state, None
    return replace(state, waiting=tuple(e for e in state.waiting if e is not entry)), entry


def set_urgent(state: UnitQueue, appointment_id: str, urgent: bool) -> tuple[UnitQueue, QueueEntry]:
    """Triage: flag (or unflag) a waiting patient as urgent, which moves them ahead of the non-urgent."""
    entry = state.entry(appointment_id)
    if entry is None:
        raise NotInQueue()
    if entry.urgent is urgent:
        return state, entry
    changed = replace(entry, urgent=urgent)
    return _with_entry(state, changed), changed


def close(state: UnitQueue) -> tuple[UnitQueue, tuple[QueueEntry, ...]]:
    """The service closes: nobody is left waiting. Returns who was still waiting, in order.

    The caller offers them a new slot first (they checked in and were not seen); it is not a
    no-show.
    """
    return replace(state, waiting=()), state.waiting


# --- pairing ------------------------------------------------------------------------------------


def pin_holds(state: UnitQueue, entry: QueueEntry, now: datetime) -> bool:
    """Whether ``entry`` is still reserved for its pinned nurse at ``now``."""
    if entry.pinned_nurse is None or entry.pinned_until is None or now >= entry.pinned_until:
        return False
    pinned = state.nurses.get(entry.pinned_nurse)
    return pinned is not None and pinned.state in ON_DUTY


def is_eligible(state: UnitQueue, entry: QueueEntry, nurse_id: str, now: datetime) -> bool:
    if not entry.connected:
        return False
    return entry.pinned_nurse == nurse_id or not pin_holds(state, entry, now)


def eligible_for(state: UnitQueue, nurse_id: str, now: datetime) -> list[QueueEntry]:
    """The entries ``nurse_id`` could take at ``now``, in the order they should be taken."""
    return [e for e in state.waiting if is_eligible(state, e, nurse_id, now)]


CAN_TAKE_PATIENT = ALLOWED_FROM[NurseState.IN_CONSULT]


def next_patient(
    state: UnitQueue, nurse_id: str, now: datetime, policy: QueuePolicy
) -> tuple[UnitQueue, Pairing | None]:
    """Give ``nurse_id`` the head of their eligible queue and put them in the consult.

    :class:`WrongUnit` if the nurse is not a member of this unit; :class:`NurseNotAvailable` if
    they are away or in a consult. ``None`` (and no change) when nobody eligible is waiting.
    """
    now = require_utc(now)
    nurse = state.nurse(nurse_id)
    if nurse.state not in CAN_TAKE_PATIENT:
        raise NurseNotAvailable(nurse.state)
    entry = next((e for e in state.waiting if is_eligible(state, e, nurse_id, now)), None)
    if entry is None:
        return state, None
    busy = take_patient(nurse, entry.appointment_id, now)
    cutoff = now - policy.served_ttl
    served = {k: v for k, v in state.served.items() if v >= cutoff}
    served[entry.appointment_id] = now
    after = replace(
        _with_nurse(state, busy),
        waiting=tuple(e for e in state.waiting if e is not entry),
        served=served,
    )
    return after, Pairing(entry, busy, now)


# --- what the patient sees ----------------------------------------------------------------------


class WaitBasis(StrEnum):
    RECENT_CONSULTS = "recent_consults"
    """Learned from this unit's recent consult durations."""
    SLOT_LENGTH = "slot_length"
    """Too few recent consults: assumes each takes a slot."""
    NO_NURSE_ON_DUTY = "no_nurse_on_duty"
    """Nobody is working the queue right now: there is no honest number to give."""


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    """Expected wait with a likely range (from the quartiles of recent consults), or no number at all."""

    basis: WaitBasis
    nurses_on_duty: int
    expected: timedelta | None = None
    low: timedelta | None = None
    high: timedelta | None = None
    nurses_available: int = 0
    """Of those on duty, how many are free right now: the patient is told a nurse is free, or that
    every nurse on duty is with someone, not only a number."""

    @property
    def expected_minutes(self) -> int | None:
        """Rounded up: telling someone "0 minutes" and making them wait one is worse than the reverse."""
        if self.expected is None:
            return None
        return -(-self.expected // timedelta(minutes=1))


@dataclass(frozen=True, slots=True)
class QueuePosition:
    appointment_id: str
    place: int
    """1-based place among everyone waiting in the unit, kept while the patient is away."""
    ahead: int
    """People ahead expected to be taken first: connected, or dropped too briefly to count as absent."""
    connected: bool
    absent: bool
    estimate: WaitEstimate


def _quartiles(durations: tuple[timedelta, ...]) -> tuple[timedelta, timedelta, timedelta]:
    seconds = [d.total_seconds() for d in durations]
    if len(seconds) == 1:
        only = durations[0]
        return only, only, only
    low, median, high = statistics.quantiles(seconds, n=4, method="inclusive")
    return timedelta(seconds=low), timedelta(seconds=median), timedelta(seconds=high)


def _free_in(nurse: Nurse, now: datetime, consult: timedelta, policy: QueuePolicy) -> timedelta:
    """How soon ``nurse`` can take a patient, assuming consults of length ``consult``."""
    elapsed = now - nurse.since if nurse.since is not None else timedelta(0)
    zero = timedelta(0)
    if nurse.state is NurseState.AVAILABLE:
        return zero
    if nurse.state is NurseState.WRAP_UP:
        return max(policy.wrap_up - elapsed, zero)
    return max(consult - elapsed, zero) + policy.wrap_up


def _simulate(
    on_duty: list[Nurse], ahead: int, now: datetime, consult: timedelta, policy: QueuePolicy
) -> timedelta:
    """When the ``ahead``+1-th patient in line gets a nurse, if each nurse takes the next one when free."""
    free = [_free_in(n, now, consult, policy) for n in on_duty]
    heapq.heapify(free)
    for _ in range(ahead):
        heapq.heappush(free, heapq.heappop(free) + consult + policy.wrap_up)
    return free[0]


def expected_wait(state: UnitQueue, ahead: int, now: datetime, policy: QueuePolicy) -> WaitEstimate:
    """An honest estimate for someone with ``ahead`` people before them.

    It replays the live queue: each nurse on duty takes the next patient when free (available:
    now; in a consult: after the rest of a typical consult and a wrap-up), and a typical consult is
    the median of the unit's recent ones, or the slot length until there are ``min_samples``.
    The range uses the quartiles instead of the median. It does not foresee urgent patients
    jumping ahead or pins, so it can only err on the short side when those happen; with no nurse
    on duty it gives no number rather than a made-up one.
    """
    on_duty = [n for n in state.nurses.values() if n.state in ON_DUTY]
    if not on_duty:
        return WaitEstimate(WaitBasis.NO_NURSE_ON_DUTY, 0)
    if len(state.durations) >= policy.min_samples:
        low, typical, high = _quartiles(state.durations)
        basis = WaitBasis.RECENT_CONSULTS
    else:
        low = typical = high = policy.default_consult
        basis = WaitBasis.SLOT_LENGTH
    return WaitEstimate(
        basis,
        len(on_duty),
        expected=_simulate(on_duty, ahead, now, typical, policy),
        low=_simulate(on_duty, ahead, now, low, policy),
        high=_simulate(on_duty, ahead, now, high, policy),
        nurses_available=sum(1 for n in on_duty if n.state is NurseState.AVAILABLE),
    )


def position(
    state: UnitQueue, appointment_id: str, now: datetime, policy: QueuePolicy
) -> QueuePosition | None:
    """Where ``appointment_id`` stands and how long it should wait; ``None`` when it is not waiting."""
    ahead = 0
    for place, entry in enumerate(state.waiting, start=1):
        if entry.appointment_id == appointment_id:
            return QueuePosition(
                appointment_id=appointment_id,
                place=place,
                ahead=ahead,
                connected=entry.connected,
                absent=entry.is_absent(now, policy),
                estimate=expected_wait(state, ahead, now, policy),
            )
        if not entry.is_absent(now, policy):
            ahead += 1
    return None
