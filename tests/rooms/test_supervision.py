"""The supervisor's figures (``rooms.supervision``): a worked day, the edges of "today", and
properties over random days (every appointment counted once, every wait in its hour, percentiles
that are waits, first names only)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.quality import QualityLevel
from rooms.appointments import Appointment, AppointmentKind, AppointmentStatus, TimeWindow
from rooms.consult import Consult, ConsultKind, ConsultState
from rooms.nurses import Nurse, NurseState
from rooms.queue import QueueEntry, QueuePolicy, UnitQueue
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from rooms.supervision import (
    QUALITY_LEVELS,
    UnitDashboard,
    WaitStats,
    completed_wait,
    first_name,
    median,
    percentile,
    unit_dashboard,
    wait_stats,
)
from rooms.zones import local_day

UNIT, OTHER = "UMF-1", "UMF-2"
MX = ZoneInfo("America/Mexico_City")
NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # Monday 12:00 in Mexico City
MIN = timedelta(minutes=1)


def at(hour: int, minute: int = 0) -> datetime:
    """Today (2 March 2026) at ``hour:minute`` in Mexico City, as UTC."""
    return datetime(2026, 3, 2, hour, minute, tzinfo=MX).astimezone(UTC)


def appointment(
    name: str,
    start: datetime,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    *,
    checked_in: datetime | None = None,
    admitted: datetime | None = None,
    unit: str = UNIT,
) -> Appointment:
    return Appointment(
        appointment_id=f"c-{name}",
        patient_id="99000000001",
        unit=unit,
        kind=AppointmentKind.FIRST,
        start=start,
        end=start + 20 * MIN,
        service_zone="America/Mexico_City",
        service_wall_start=start.astimezone(MX).replace(tzinfo=None),
        patient_zone="America/Mexico_City",
        check_in_window=TimeWindow(start - 30 * MIN, start + 20 * MIN),
        booked_at=start - timedelta(days=2),
        status=status,
        checked_in_at=checked_in,
        admitted_at=admitted,
    )


def consult(name: str, full_name: str, state: ConsultState, start: datetime, unit: str = UNIT) -> Consult:
    return Consult(
        consult_id=f"c-{name}",
        patient_id=f"p-{name}",
        patient_name=full_name,
        appointment_start=start,
        appointment_end=start + 20 * MIN,
        state=state,
        unit=unit,
    )


def event(consult_id: str, kind: EventKind, when: datetime, actor: str, **detail: str) -> SessionEvent:
    return SessionEvent(
        consult_id, kind, when, actor, Role.NURSE if actor.startswith("n") else None, None, detail
    )


def quality(consult_id: str, when: datetime, actor: str, level: str) -> SessionEvent:
    return event(consult_id, EventKind.MEDIA_QUALITY, when, actor, level=level, loss_pct="0.0")


def empty_queue() -> UnitQueue:
    return UnitQueue(UNIT)


# -- a worked day ------------------------------------------------------------------------------


def worked_day() -> UnitDashboard:
    appointments = [
        appointment("a", at(9), AppointmentStatus.COMPLETED, checked_in=at(8, 55), admitted=at(9, 10)),
        appointment("b", at(9, 20), AppointmentStatus.COMPLETED, checked_in=at(9, 30), admitted=at(9, 50)),
        appointment("c", at(10), AppointmentStatus.COMPLETED, checked_in=at(9, 59), admitted=at(10, 40)),
        appointment("d", at(10, 20), AppointmentStatus.NO_SHOW),
        appointment("e", at(11, 40), AppointmentStatus.CHECKED_IN, checked_in=at(11, 45)),
        appointment("f", at(11, 40), AppointmentStatus.ADMITTED, checked_in=at(11, 41), admitted=at(11, 50)),
        appointment("g", at(11, 20), AppointmentStatus.CHECKED_IN, checked_in=at(11, 0)),
        appointment("h", at(13), AppointmentStatus.BOOKED),
        appointment("y", at(9) - timedelta(days=1), AppointmentStatus.NO_SHOW),  # yesterday
        appointment("o", at(9), AppointmentStatus.NO_SHOW, unit=OTHER),  # another unit
    ]
    queue = UnitQueue(
        UNIT,
        waiting=(
            QueueEntry("c-g", "p-g", UNIT, at(11, 20), at(11, 0), connected=False, dropped_at=at(11, 50)),
            QueueEntry("c-e", "p-e", UNIT, at(11, 40), at(11, 45)),
        ),
        nurses={
            "n-1": Nurse("n-1", UNIT, NurseState.IN_CONSULT, at(11, 50), "c-f"),
            "n-2": Nurse("n-2", UNIT, NurseState.AVAILABLE, at(8)),
            "n-3": Nurse("n-3", UNIT, NurseState.AWAY, at(8)),
            "n-4": Nurse("n-4", UNIT, NurseState.AVAILABLE, at(8)),
        },
    )
    consults = [
        consult("e", "Lucía Fernández Ruiz", ConsultState.WAITING, at(11, 40)),
        consult("g", "Ana", ConsultState.WAITING, at(11, 20)),
        consult("f", "José Luis Pérez", ConsultState.LIVE, at(11, 40)),
        consult("x", "Otra Persona", ConsultState.LIVE, at(11, 40), unit=OTHER),
    ]
    logs = {
        "c-a": [
            quality("c-a", at(9, 11), "p-a", "good"),
            quality("c-a", at(9, 12), "n-1", "good"),
            quality("c-a", at(9, 13), "p-a", "fair"),
            event("c-a", EventKind.REFUSED, at(9, 14), "n-9", action="lobby:admit", code="forbidden"),
        ],
        "c-f": [
            event("c-f", EventKind.ADMITTED, at(11, 50), "n-1"),
            quality("c-f", at(11, 51), "p-f", "good"),
            quality("c-f", at(11, 52), "n-1", "fair"),
            quality("c-f", at(11, 53), "p-f", "poor"),
            quality("c-f", at(11, 54), "p-f", "unheard-of"),  # not a level: not counted
        ],
        "c-y": [quality("c-y", at(9, 10) - timedelta(days=1), "p-y", "bad")],  # yesterday's call
    }
    return unit_dashboard(
        unit=UNIT, now=NOW, zone=MX, appointments=appointments, queue=queue, consults=consults, logs=logs
    )


def test_a_worked_day() -> None:
    board = worked_day()
    assert (board.day_start, board.day_end) == (at(0), datetime(2026, 3, 3, 6, tzinfo=UTC))
    # Waiting now, in queue order: since their slot (g came early) or their check-in (e came late).
    assert [(w.first_name, w.waited, w.connected, w.absent) for w in board.waiting] == [
        ("Ana", 40 * MIN, False, True),
        ("Lucía", 15 * MIN, True, False),
    ]
    [live] = board.in_consult
    assert (live.first_name, live.since, live.duration, live.quality) == (
        "José",
        at(11, 50),
        10 * MIN,
        "poor",
    )
    # Waits of those admitted: a 10 min (from her slot at 09:00) and b 20 min (from her check-in
    # at 09:30) in the 09:00 hour; c 40 min (checked in at 09:59, her slot began at 10:00) in the
    # 10:00 hour; f 9 min in the 11:00 hour.
    hours = {h.start: h.waits for h in board.waits_by_hour}
    assert (hours[at(9)].count, hours[at(9)].median, hours[at(9)].p90) == (2, 15 * MIN, 20 * MIN)
    assert (hours[at(10)].count, hours[at(10)].median, hours[at(10)].p90) == (1, 40 * MIN, 40 * MIN)
    assert (hours[at(11)].count, hours[at(11)].median, hours[at(11)].p90) == (1, 9 * MIN, 9 * MIN)
    assert (hours[at(8)].count, hours[at(8)].median) == (0, None)
    assert board.waits_today.count == 4
    assert (board.waits_today.median, board.waits_today.p90) == (15 * MIN, 40 * MIN)
    assert len(board.waits_by_hour) == 24 and board.waits_by_hour[0].start == at(0)
    assert board.no_shows == 1
    assert board.appointments[AppointmentStatus.COMPLETED] == 3
    assert sum(board.appointments.values()) == 8  # not yesterday's, not the other unit's
    assert dict(board.nurses) == {
        NurseState.AVAILABLE: 2,
        NurseState.IN_CONSULT: 1,
        NurseState.WRAP_UP: 0,
        NurseState.AWAY: 1,
    }
    assert dict(board.quality) == {"good": 3, "fair": 2, "poor": 1, "bad": 0}


def test_nothing_today_is_all_zeros() -> None:
    board = unit_dashboard(
        unit=UNIT, now=NOW, zone=MX, appointments=[], queue=empty_queue(), consults=[], logs={}
    )
    assert board.waiting == () and board.in_consult == ()
    assert board.waits_today.count == 0 and board.waits_today.median is None
    assert all(h.waits.count == 0 for h in board.waits_by_hour)
    assert sum(board.appointments.values()) == 0 and board.no_shows == 0
    assert set(board.quality) == set(QUALITY_LEVELS) and sum(board.quality.values()) == 0


def test_today_is_the_viewers_calendar_day() -> None:
    late = appointment("late", datetime(2026, 3, 3, 4, tzinfo=UTC), AppointmentStatus.NO_SHOW)  # 22:00 in MX
    tokyo = ZoneInfo("Asia/Tokyo")  # NOW is 03:00 on 3 March there
    seen_from_mexico = unit_dashboard(
        unit=UNIT, now=NOW, zone=MX, appointments=[late], queue=empty_queue(), consults=[], logs={}
    )
    seen_from_tokyo = unit_dashboard(
        unit=UNIT, now=NOW, zone=tokyo, appointments=[late], queue=empty_queue(), consults=[], logs={}
    )
    assert seen_from_mexico.no_shows == 1
    assert seen_from_tokyo.no_shows == 1  # 13:00 on 3 March in Tokyo: today there too
    assert seen_from_tokyo.day_start == datetime(2026, 3, 2, 15, tzinfo=UTC)
    earlier = replace(late, appointment_id="c-early", start=at(8))  # 23:00 on 2 March in Tokyo
    from_tokyo = unit_dashboard(
        unit=UNIT, now=NOW, zone=tokyo, appointments=[earlier], queue=empty_queue(), consults=[], logs={}
    )
    assert from_tokyo.no_shows == 0


@pytest.mark.parametrize(
    ("zone", "now", "hours"),
    [
        ("America/New_York", datetime(2026, 3, 8, 17, tzinfo=UTC), 23),  # clocks go forward
        ("Europe/Madrid", datetime(2026, 10, 25, 12, tzinfo=UTC), 25),  # clocks go back
        ("Asia/Kolkata", datetime(2026, 3, 2, 12, tzinfo=UTC), 24),  # a half-hour offset
    ],
)
def test_the_hours_of_a_day_follow_the_viewers_clock(zone: str, now: datetime, hours: int) -> None:
    board = unit_dashboard(
        unit=UNIT, now=now, zone=ZoneInfo(zone), appointments=[], queue=empty_queue(), consults=[], logs={}
    )
    assert len(board.waits_by_hour) == hours
    local_starts = [h.start.astimezone(ZoneInfo(zone)) for h in board.waits_by_hour]
    assert local_starts[0].hour == 0 and local_starts[0].minute == 0
    assert all(start.minute == 0 for start in local_starts)


def test_percentiles_are_nearest_rank_and_medians_average_the_middle() -> None:
    minutes = [n * MIN for n in range(1, 11)]
    random.Random(4).shuffle(minutes)
    assert percentile(minutes, 90) == 9 * MIN  # 90 % of 10 is exactly 9, not 9.000000000000002
    assert percentile(minutes, 100) == 10 * MIN
    assert median(minutes) == 5.5 * MIN
    assert wait_stats([7 * MIN]) == WaitStats(1, 7 * MIN, 7 * MIN)
    assert wait_stats([]) == WaitStats(0, None, None)
    with pytest.raises(ValueError):
        percentile([], 90)
    with pytest.raises(ValueError):
        median([])


def test_first_names_only() -> None:
    assert first_name("María José Pérez López") == "María"
    assert first_name("  Ana  ") == "Ana"
    assert first_name("") == ""


def test_the_quality_levels_are_the_media_planes() -> None:
    assert QUALITY_LEVELS == tuple(level.value for level in QualityLevel)


def test_a_wait_runs_from_when_the_patient_could_be_seen() -> None:
    early = appointment("early", at(10), checked_in=at(9, 40), admitted=at(10, 5))
    late = appointment("late", at(10), checked_in=at(10, 10), admitted=at(10, 15))
    before_slot = appointment("odd", at(10), checked_in=at(9, 40), admitted=at(9, 50))
    assert completed_wait(early) == (at(10), 5 * MIN)
    assert completed_wait(late) == (at(10, 10), 5 * MIN)
    assert completed_wait(before_slot) == (at(10), timedelta(0))  # admitted early: no wait
    assert completed_wait(appointment("never", at(10))) is None


# -- properties --------------------------------------------------------------------------------

ZONES = [
    "America/Mexico_City",
    "America/Tijuana",
    "Europe/Madrid",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "UTC",
]
MOMENTS = [
    datetime(2026, 3, 2, 18, tzinfo=UTC),
    datetime(2026, 3, 8, 12, tzinfo=UTC),
    datetime(2026, 10, 25, 12, tzinfo=UTC),
    datetime(2026, 4, 5, 3, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
]
NAMES = ["María José", "Ana", "Lucía Fernández", "Zoë", "李 小龙", "Jean-Luc Picard"]


@st.composite
def days(draw: st.DrawFn) -> dict[str, object]:
    now = draw(st.sampled_from(MOMENTS)) + draw(st.integers(-720, 720)) * MIN
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    appointments = []
    consults = []
    logs: dict[str, list[SessionEvent]] = {}
    for index in range(draw(st.integers(0, 16))):
        start = now + draw(st.integers(-40, 30)) * 30 * MIN
        status = draw(st.sampled_from(list(AppointmentStatus)))
        checked_in = start + draw(st.integers(-30, 60)) * MIN if draw(st.booleans()) else None
        admitted = (checked_in or start) + draw(st.integers(0, 90)) * MIN if draw(st.booleans()) else None
        unit = draw(st.sampled_from([UNIT, UNIT, OTHER]))
        made = appointment(str(index), start, status, checked_in=checked_in, admitted=admitted, unit=unit)
        appointments.append(made)
        state = draw(st.sampled_from(list(ConsultState)))
        consults.append(consult(str(index), draw(st.sampled_from(NAMES)), state, start, unit))
        samples = draw(
            st.lists(st.tuples(st.integers(-1500, 1500), st.sampled_from([*QUALITY_LEVELS, "?"])), max_size=6)
        )
        logs[made.appointment_id] = [
            quality(made.appointment_id, now + m * MIN, f"p-{index}", level) for m, level in samples
        ]
    waiting = tuple(
        QueueEntry(
            f"c-{i}",
            f"p-{i}",
            UNIT,
            now + draw(st.integers(-120, 60)) * MIN,
            now - draw(st.integers(0, 180)) * MIN,
            connected=draw(st.booleans()),
        )
        for i in range(draw(st.integers(0, 8)))
    )
    nurses = {
        f"n-{i}": Nurse(f"n-{i}", UNIT, draw(st.sampled_from(list(NurseState))), now)
        for i in range(draw(st.integers(0, 6)))
    }
    queue = UnitQueue(UNIT, waiting=tuple(sorted(waiting, key=lambda e: e.order_key)), nurses=nurses)
    return {
        "unit": UNIT,
        "now": now,
        "zone": zone,
        "appointments": appointments,
        "queue": queue,
        "consults": consults,
        "logs": logs,
    }


def _today(day: dict[str, object], board: UnitDashboard) -> list[Appointment]:
    appointments: Sequence[Appointment] = day["appointments"]  # type: ignore[assignment]
    return [a for a in appointments if a.unit == UNIT and board.day_start <= a.start < board.day_end]


@settings(max_examples=100, deadline=None)
@given(days())
def test_every_figure_adds_up(day: dict[str, object]) -> None:
    board = unit_dashboard(**day)  # type: ignore[arg-type]
    zone: ZoneInfo = day["zone"]  # type: ignore[assignment]
    now: datetime = day["now"]  # type: ignore[assignment]
    queue: UnitQueue = day["queue"]  # type: ignore[assignment]
    assert (board.day_start, board.day_end) == local_day(now.astimezone(zone).date(), zone)
    assert board.day_start <= now < board.day_end
    today = _today(day, board)
    # Every appointment of the unit today is counted once, under its status.
    assert sum(board.appointments.values()) == len(today)
    assert board.no_shows == sum(a.status is AppointmentStatus.NO_SHOW for a in today)
    # Every completed wait of today is in exactly one hour, and the hours tile the day.
    waits = [w for w in (completed_wait(a) for a in today) if w is not None and w[0] < board.day_end]
    assert board.waits_today.count == len(waits) == sum(h.waits.count for h in board.waits_by_hour)
    starts = [h.start for h in board.waits_by_hour]
    assert starts[0] == board.day_start and starts[-1] < board.day_end <= starts[-1] + timedelta(hours=1)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts))
    for hour in board.waits_by_hour:
        in_hour = [w for began, w in waits if hour.start <= began < hour.start + timedelta(hours=1)]
        assert hour.waits.count == len(in_hour)
        if in_hour:
            assert hour.waits.p90 in in_hour  # nearest rank: always one of the waits
            assert hour.waits.median is not None and hour.waits.p90 is not None
            assert min(in_hour) <= hour.waits.median <= hour.waits.p90 <= max(in_hour)
        else:
            assert hour.waits.median is None and hour.waits.p90 is None
    # Waiting now: everyone in the queue, in its order, with a wait that is never negative.
    assert len(board.waiting) == len(queue.waiting)
    assert all(w.waited >= timedelta(0) for w in board.waiting)
    assert [w.appointment_start for w in board.waiting] == [e.appointment_start for e in queue.waiting]
    # Names: first names only, of the unit's own patients.
    consults: list[Consult] = day["consults"]  # type: ignore[assignment]
    own = {first_name(c.patient_name) for c in consults if c.unit == UNIT}
    shown = [w.first_name for w in board.waiting] + [c.first_name for c in board.in_consult]
    assert all(name == "" or (name in own and " " not in name) for name in shown)
    live = [
        c
        for c in consults
        if c.unit == UNIT and c.state is ConsultState.LIVE and c.kind is ConsultKind.CONSULT
    ]
    assert len(board.in_consult) == len(live)
    # Nurses and quality samples: each counted once.
    assert sum(board.nurses.values()) == len(queue.nurses)
    logs: dict[str, list[SessionEvent]] = day["logs"]  # type: ignore[assignment]
    mine = {a.appointment_id for a in today} | {c.consult_id for c in live}
    samples = [
        e
        for consult_id in mine
        for e in logs.get(consult_id, [])
        if e.detail.get("level") in QUALITY_LEVELS and board.day_start <= e.at < board.day_end
    ]
    assert sum(board.quality.values()) == len(samples)


@settings(max_examples=50, deadline=None)
@given(days(), st.randoms(use_true_random=False))
def test_the_order_of_the_stores_answers_does_not_matter(day: dict[str, object], rng: random.Random) -> None:
    board = unit_dashboard(**day)  # type: ignore[arg-type]
    shuffled = dict(day)
    for key in ("appointments", "consults"):
        items = list(day[key])  # type: ignore[call-overload]
        rng.shuffle(items)
        shuffled[key] = items
    assert unit_dashboard(**shuffled) == board  # type: ignore[arg-type]


@given(st.lists(st.integers(0, 10_000), min_size=1), st.integers(1, 100))
def test_a_percentile_is_a_value_with_enough_at_or_below_it(seconds: list[int], percent: int) -> None:
    values = [timedelta(seconds=s) for s in seconds]
    result = percentile(values, percent)
    assert result in values
    at_or_below = sum(v <= result for v in values)
    below = sum(v < result for v in values)
    assert at_or_below * 100 >= percent * len(values) > below * 100
    assert min(values) <= median(values) <= percentile(values, 90) <= max(values)


def test_the_queue_policy_decides_who_is_absent() -> None:
    entry = QueueEntry("c-e", "p-e", UNIT, at(11), at(11), connected=False, dropped_at=NOW - 2 * MIN)
    queue = UnitQueue(UNIT, waiting=(entry,))
    strict = QueuePolicy(absent_after=MIN)
    lenient = unit_dashboard(
        unit=UNIT, now=NOW, zone=MX, appointments=[], queue=queue, consults=[], logs={}
    ).waiting[0]
    quick = unit_dashboard(
        unit=UNIT, now=NOW, zone=MX, appointments=[], queue=queue, consults=[], logs={}, policy=strict
    ).waiting[0]
    assert (lenient.absent, quick.absent) == (False, True)
    assert lenient.first_name == ""  # its consult was not among the open ones: no name to show
