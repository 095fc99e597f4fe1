from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.hours import OutsideServiceHours, ServiceHours
from rooms.slots import (
    NotASlot,
    SlotPolicy,
    TooFarAhead,
    check_bookable,
    slot_at,
    slots_between,
    slots_for_local_day,
)
from rooms.zones import localize, resolve_zone
from tests.rooms.test_zones import ZONES

HOURS = ServiceHours.program_default()
POLICY = SlotPolicy()
MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_weekday_has_36_slots_and_a_weekend_day_39() -> None:
    monday = list(slots_between(HOURS, POLICY, utc(2026, 3, 2, 6), utc(2026, 3, 3, 6)))
    assert len(monday) == 36
    assert monday[0].start == utc(2026, 3, 2, 14) and monday[-1].end == utc(2026, 3, 3, 2)
    saturday = list(slots_between(HOURS, POLICY, utc(2026, 3, 7, 6), utc(2026, 3, 8, 6)))
    assert len(saturday) == 39
    assert saturday[0].start == utc(2026, 3, 7, 13, 30) and saturday[-1].end == utc(2026, 3, 8, 2, 30)


def test_a_slot_never_runs_past_the_close() -> None:
    policy = SlotPolicy(length=timedelta(minutes=25))
    monday = list(slots_between(HOURS, policy, utc(2026, 3, 2, 6), utc(2026, 3, 3, 6)))
    assert len(monday) == 28  # 12 h / 25 min = 28.8
    assert monday[-1].end <= utc(2026, 3, 3, 2)
    with pytest.raises(OutsideServiceHours):
        slot_at(HOURS, policy, utc(2026, 3, 3, 1, 40))  # 19:40 + 25 min > 20:00


def test_the_grid_does_not_depend_on_where_the_range_starts() -> None:
    whole = list(slots_between(HOURS, POLICY, utc(2026, 3, 2), utc(2026, 3, 4)))
    part = list(slots_between(HOURS, POLICY, utc(2026, 3, 2, 15, 7), utc(2026, 3, 2, 16, 1)))
    assert [s.start for s in part] == [utc(2026, 3, 2, 15, 20), utc(2026, 3, 2, 15, 40), utc(2026, 3, 2, 16)]
    assert set(part) <= set(whole)


def test_slot_at_explains_why_a_time_is_not_a_slot() -> None:
    assert slot_at(HOURS, POLICY, utc(2026, 3, 2, 14, 20)).end == utc(2026, 3, 2, 14, 40)
    with pytest.raises(OutsideServiceHours) as outside:
        slot_at(HOURS, POLICY, utc(2026, 3, 2, 13, 40))  # 07:40 on a weekday
    assert outside.value.code == "slot_outside_hours"
    with pytest.raises(NotASlot) as misaligned:
        slot_at(HOURS, POLICY, utc(2026, 3, 2, 14, 5))
    assert misaligned.value.code == "not_a_slot"


def test_booking_is_open_up_to_the_horizon() -> None:
    now = utc(2026, 3, 2, 14)
    assert check_bookable(HOURS, POLICY, utc(2026, 5, 29, 14), now)  # 88 days ahead
    with pytest.raises(TooFarAhead) as caught:
        check_bookable(HOURS, POLICY, utc(2026, 6, 1, 14), now)
    assert "90" in caught.value.message_es


def test_policy_validation() -> None:
    for bad in (
        {"length": timedelta(seconds=30)},
        {"length": timedelta(minutes=20, seconds=1)},
        {"capacity": 0},
        {"horizon": timedelta(0)},
    ):
        with pytest.raises(ValueError):
            SlotPolicy(**bad)


# --- patients abroad and daylight-saving time ------------------------------------------------------


def labels(day: date, zone: str) -> list[str]:
    return [s.start.strftime("%H:%M") for s in slots_for_local_day(HOURS, POLICY, day, resolve_zone(zone))]


def test_a_madrid_patient_sees_two_different_slots_labelled_the_same_when_the_clocks_go_back() -> None:
    madrid = resolve_zone("Europe/Madrid")
    shown = slots_for_local_day(HOURS, POLICY, date(2026, 10, 25), madrid)
    counts = Counter(s.start.strftime("%H:%M") for s in shown)
    repeated = sorted(label for label, n in counts.items() if n == 2)
    assert repeated == ["02:10", "02:30", "02:50"]  # Mexico's Saturday evening, 00:10-01:50 UTC
    twins = [s for s in shown if s.start.strftime("%H:%M") == "02:10"]
    assert [s.start.isoformat() for s in twins] == ["2026-10-25T02:10:00+02:00", "2026-10-25T02:10:00+01:00"]
    assert twins[1].slot.start - twins[0].slot.start == timedelta(hours=1)
    # Their day has 25 hours: Mexico's Saturday evening, then Sunday from 07:30 to the 16:50 slot (23:50).
    assert len(shown) == len({s.slot for s in shown})
    assert shown[-1].start.isoformat() == "2026-10-25T23:50:00+01:00"


def test_a_madrid_patient_never_sees_a_slot_in_the_skipped_hour() -> None:
    madrid_day = labels(date(2026, 3, 29), "Europe/Madrid")
    assert not [label for label in madrid_day if label.startswith("02:")]
    assert "01:50" in madrid_day and "03:10" in madrid_day  # 20 minutes apart in real time
    shown = slots_for_local_day(HOURS, POLICY, date(2026, 3, 29), resolve_zone("Europe/Madrid"))
    starts = [s.slot.start for s in shown]
    saturday_evening = [s for s in starts if s < utc(2026, 3, 29, 3)]
    assert all(b - a == 20 * MINUTE for a, b in itertools.pairwise(saturday_evening))


def test_us_patients_follow_their_own_clock_and_the_appointment_instant_does_not() -> None:
    # Mexico City no longer changes its clocks; Chicago does (2026-03-08 and 2026-11-01).
    before = slots_for_local_day(HOURS, POLICY, date(2026, 3, 6), resolve_zone("America/Chicago"))
    after = slots_for_local_day(HOURS, POLICY, date(2026, 3, 9), resolve_zone("America/Chicago"))
    assert before[0].start.strftime("%H:%M %z") == "08:00 -0600"  # same wall time as Mexico City
    assert after[0].start.strftime("%H:%M %z") == "09:00 -0500"  # an hour later on the Chicago wall
    assert before[0].slot.start.astimezone(HOURS.zone).hour == after[0].slot.start.astimezone(HOURS.zone).hour
    la_spring_forward = slots_for_local_day(
        HOURS, POLICY, date(2026, 3, 8), resolve_zone("America/Los_Angeles")
    )
    assert len(la_spring_forward) == 39  # Mexico's Sunday, all of it on LA's 23-hour Sunday
    assert {s.start.utcoffset() for s in la_spring_forward} == {timedelta(hours=-7)}


def test_tijuana_keeps_us_daylight_saving_while_mexico_city_does_not() -> None:
    # Mexico's 2022 law kept DST in the border strip; a Tijuana patient's labels shift in March.
    march_6 = labels(date(2026, 3, 6), "America/Tijuana")
    march_9 = labels(date(2026, 3, 9), "America/Tijuana")
    assert march_6[0] == "06:00" and march_9[0] == "07:00"


@given(
    day=st.dates(min_value=date(2021, 1, 1), max_value=date(2031, 1, 1)),
    zone_name=st.sampled_from(ZONES),
)
def test_every_slot_a_patient_sees_is_in_hours_on_their_day_and_maps_back_exactly(
    day: date, zone_name: str
) -> None:
    zone = resolve_zone(zone_name)
    shown = slots_for_local_day(HOURS, POLICY, day, zone)
    for local in shown:
        assert local.start.date() == day
        assert HOURS.covers(local.slot.start, local.slot.end)
        assert slot_at(HOURS, POLICY, local.slot.start) == local.slot
        naive = local.start.replace(tzinfo=None)
        assert localize(naive, zone, fold=local.start.fold) == local.slot.start
    assert [s.slot.start for s in shown] == sorted({s.slot.start for s in shown})
