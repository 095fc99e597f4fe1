"""A unit's day at a glance, for its supervisors and coordinators: figures, never records.

:func:`unit_dashboard` is pure: it takes what the stores hold about one unit (the day's
appointments, the queue, the open consults and their session logs) and returns figures. Only
aggregates leave it, plus the *first names* of the unit's own patients who are waiting or in a
call, so a supervisor can say "María has waited 40 minutes" while full names, NSS, contact
details and notes never reach the dashboard.

What the figures mean (docs/api.md says the same):

* **today** is the viewer's calendar day in their own time zone (23 or 25 hours long on the days
  the clocks change); appointments count for the day their slot starts;
* a **wait** runs from when the patient could be seen (their check-in, or their slot's start if
  they came early) to their admission: the queue's own rule (``rooms.queue.Pairing.waited``);
* **waits by hour**: today's completed waits (the patient was admitted), grouped by the hour in
  which the wait began; each hour gives the median and the 90th percentile (nearest rank, so it
  is always one of the waits);
* **no-shows**: today's appointments the sweep marked ``no_show``;
* **call quality**: the ``media_quality`` samples of today's calls, counted by ``level``. A sample
  is logged when a participant's level changes and every 30 s while it holds, so the counts are
  roughly proportional to the time spent at each level;
* **nurses**: the unit queue's nurses by state (available, in a consult, wrapping up, away).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from rooms.appointments import Appointment, AppointmentStatus
from rooms.consult import Consult, ConsultKind, ConsultState
from rooms.nurses import NurseState
from rooms.queue import QueueEntry, QueuePolicy, UnitQueue
from rooms.session_log import EventKind, SessionEvent
from rooms.zones import local_day, require_utc

QUALITY_LEVELS: tuple[str, ...] = ("good", "fair", "poor", "bad")
"""The media plane's quality levels, best first (``media.quality.QualityLevel``; ``rooms`` does
not import ``media``, and a test keeps the two the same)."""

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class WaitStats:
    """How long patients waited: how many waits, their median and 90th percentile."""

    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True, slots=True)
class HourOfWaits:
    start: datetime
    """The instant (UTC) the viewer's local hour begins."""
    waits: WaitStats


@dataclass(frozen=True, slots=True)
class WaitingPatient:
    first_name: str
    appointment_start: datetime
    waiting_since: datetime
    """When they could be seen: their check-in, or their slot's start if they came early."""
    waited: timedelta
    urgent: bool
    connected: bool
    absent: bool


@dataclass(frozen=True, slots=True)
class ConsultInProgress:
    first_name: str
    since: datetime | None
    """The admission (the first ``admitted`` of its log); ``None`` if the log does not say."""
    duration: timedelta | None
    quality: str | None
    """The worst of the participants' latest quality levels; ``None`` before any sample."""


@dataclass(frozen=True, slots=True)
class UnitDashboard:
    unit: str
    at: datetime
    day_start: datetime
    day_end: datetime
    waiting: tuple[WaitingPatient, ...]
    """In queue order."""
    in_consult: tuple[ConsultInProgress, ...]
    """Longest-running first."""
    waits_today: WaitStats
    waits_by_hour: tuple[HourOfWaits, ...]
    """Every local hour of the day, in order; hours without a completed wait have ``count`` 0."""
    appointments: Mapping[AppointmentStatus, int]
    """Today's appointments by status (every status, zeros included)."""
    nurses: Mapping[NurseState, int]
    """The unit's queue nurses by state (every state, zeros included)."""
    quality: Mapping[str, int]
    """Today's quality samples by level (every level of :data:`QUALITY_LEVELS`)."""

    @property
    def no_shows(self) -> int:
        return self.appointments[AppointmentStatus.NO_SHOW]


def first_name(full_name: str) -> str:
    """The first word of a stored name (names are cleaned on entry, see ``rooms/names.py``)."""
    words = full_name.split()
    return words[0] if words else ""


def percentile(values: Sequence[timedelta], percent: int) -> timedelta:
    """The nearest-rank percentile (one of ``values``): the smallest value with at least
    ``percent`` % of the values at or below it. Integer arithmetic, so 90 % of 10 is exactly 9."""
    if not values or not 0 < percent <= 100:
        raise ValueError("a percentile needs values and a percent in (0, 100]")
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)  # ceiling
    return ordered[rank - 1]


def median(values: Sequence[timedelta]) -> timedelta:
    if not values:
        raise ValueError("a median needs values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def wait_stats(waits: Sequence[timedelta]) -> WaitStats:
    if not waits:
        return WaitStats(0, None, None)
    return WaitStats(len(waits), median(waits), percentile(waits, 90))


def wait_began(appointment_start: datetime, checked_in_at: datetime | None) -> datetime:
    """When a patient could be seen: their check-in, or their slot's start if they came early."""
    return max(checked_in_at or appointment_start, appointment_start)


def completed_wait(appointment: Appointment) -> tuple[datetime, timedelta] | None:
    """When an admitted patient's wait began and how long it lasted; ``None`` if never admitted."""
    if appointment.admitted_at is None:
        return None
    began = wait_began(appointment.start, appointment.checked_in_at)
    return began, max(appointment.admitted_at - began, timedelta(0))


def worst_level(levels: Iterable[str]) -> str | None:
    known = [level for level in levels if level in QUALITY_LEVELS]
    return max(known, key=QUALITY_LEVELS.index) if known else None


def _quality_samples(log: Iterable[SessionEvent]) -> Iterable[SessionEvent]:
    return (e for e in log if e.kind is EventKind.MEDIA_QUALITY and e.detail.get("level") in QUALITY_LEVELS)


def _waiting(
    entry: QueueEntry, names: Mapping[str, str], now: datetime, policy: QueuePolicy
) -> WaitingPatient:
    since = wait_began(entry.appointment_start, entry.checked_in_at)
    return WaitingPatient(
        first_name=first_name(names.get(entry.appointment_id, "")),
        appointment_start=entry.appointment_start,
        waiting_since=since,
        waited=max(now - since, timedelta(0)),
        urgent=entry.urgent,
        connected=entry.connected,
        absent=entry.is_absent(now, policy),
    )


def _in_progress(consult: Consult, log: Sequence[SessionEvent], now: datetime) -> ConsultInProgress:
    since = next((e.at for e in log if e.kind is EventKind.ADMITTED), None)
    latest: dict[str, str] = {}
    for sample in _quality_samples(log):
        latest[sample.actor_id] = sample.detail["level"]
    return ConsultInProgress(
        first_name=first_name(consult.patient_name),
        since=since,
        duration=max(now - since, timedelta(0)) if since is not None else None,
        quality=worst_level(latest.values()),
    )


def _todays_waits(today: Iterable[Appointment], day_end: datetime) -> list[tuple[datetime, timedelta]]:
    """Today's completed waits (when each began, how long). A wait that began after today
    (checked in after midnight for a slot before it) is not today's."""
    return [w for w in (completed_wait(a) for a in today) if w is not None and w[0] < day_end]


def _waits_by_hour(
    waits: Sequence[tuple[datetime, timedelta]], day_start: datetime, day_end: datetime
) -> tuple[HourOfWaits, ...]:
    """Every hour of the day with the waits that began in it, hours without one included."""
    hours = []
    start = day_start
    while start < day_end:
        in_hour = [wait for began, wait in waits if start <= began < start + HOUR]
        hours.append(HourOfWaits(start, wait_stats(in_hour)))
        start += HOUR
    return tuple(hours)


def _live_calls(consults: Iterable[Consult]) -> list[Consult]:
    """The patients' calls going on (not inter-unit sessions), by consult id."""
    return sorted(
        (c for c in consults if c.state is ConsultState.LIVE and c.kind is ConsultKind.CONSULT),
        key=lambda c: c.consult_id,
    )


def _in_consult(
    live: Iterable[Consult], logs: Mapping[str, Sequence[SessionEvent]], now: datetime
) -> tuple[ConsultInProgress, ...]:
    """The calls in progress, longest-running first; those whose log has no admission last."""
    in_consult = [_in_progress(c, logs.get(c.consult_id, ()), now) for c in live]
    in_consult.sort(key=lambda c: (c.since is None, c.since or now))  # stable: ties by consult id
    return tuple(in_consult)


def _quality_counts(
    consult_ids: Iterable[str],
    logs: Mapping[str, Sequence[SessionEvent]],
    day_start: datetime,
    day_end: datetime,
) -> dict[str, int]:
    """The consults' quality samples logged today, by level (every level, zeros included)."""
    quality = dict.fromkeys(QUALITY_LEVELS, 0)
    for consult_id in sorted(consult_ids):
        for sample in _quality_samples(logs.get(consult_id, ())):
            if day_start <= sample.at < day_end:
                quality[sample.detail["level"]] += 1
    return quality


def _status_counts(today: Iterable[Appointment]) -> dict[AppointmentStatus, int]:
    """Today's appointments by status (every status, zeros included)."""
    statuses = dict.fromkeys(AppointmentStatus, 0)
    for appointment in today:
        statuses[appointment.status] += 1
    return statuses


def _nurse_counts(queue: UnitQueue) -> dict[NurseState, int]:
    """The queue's nurses by state (every state, zeros included)."""
    nurses = dict.fromkeys(NurseState, 0)
    for nurse in queue.nurses.values():
        nurses[nurse.state] += 1
    return nurses


def unit_dashboard(
    *,
    unit: str,
    now: datetime,
    zone: ZoneInfo,
    appointments: Iterable[Appointment],
    queue: UnitQueue,
    consults: Iterable[Consult],
    logs: Mapping[str, Sequence[SessionEvent]],
    policy: QueuePolicy | None = None,
) -> UnitDashboard:
    """The dashboard of ``unit`` at ``now`` for a viewer in ``zone``.

    ``appointments``: the unit's appointments (those starting outside today are ignored);
    ``queue``: its queue snapshot; ``consults``: its open consults (first names, calls in
    progress); ``logs``: consult id → session log, for today's admitted appointments and the calls
    in progress (a consult without one counts no quality samples). ``policy``: the queue's, so
    "absent" here means what it means on the nurse's console.
    """
    now = require_utc(now)
    day_start, day_end = local_day(now.astimezone(zone).date(), zone)
    today = [a for a in appointments if a.unit == unit and day_start <= a.start < day_end]
    mine = [c for c in consults if c.unit == unit]
    names = {c.consult_id: c.patient_name for c in mine}
    waits = _todays_waits(today, day_end)
    live = _live_calls(mine)
    seen = {a.appointment_id for a in today} | {c.consult_id for c in live}
    return UnitDashboard(
        unit=unit,
        at=now,
        day_start=day_start,
        day_end=day_end,
        waiting=tuple(_waiting(entry, names, now, policy or QueuePolicy()) for entry in queue.waiting),
        in_consult=_in_consult(live, logs, now),
        waits_today=wait_stats([wait for _, wait in waits]),
        waits_by_hour=_waits_by_hour(waits, day_start, day_end),
        appointments=MappingProxyType(_status_counts(today)),
        nurses=MappingProxyType(_nurse_counts(queue)),
        quality=MappingProxyType(_quality_counts(seen, logs, day_start, day_end)),
    )
