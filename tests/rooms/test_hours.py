from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.hours import Interval, ServiceHours, Window

HOURS = ServiceHours.program_default()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_the_program_rule() -> None:
    weekday = (Window(time(8), time(20)),)
    weekend = (Window(time(7, 30), time(20, 30)),)
    assert HOURS.zone_name == "America/Mexico_City"
    assert HOURS.weekly == (weekday,) * 5 + (weekend,) * 2


@pytest.mark.parametrize(
    ("day", "opens", "closes"),
    [
        (date(2026, 3, 2), utc(2026, 3, 2, 14), utc(2026, 3, 3, 2)),  # Monday, CST all year now
        (date(2026, 3, 7), utc(2026, 3, 7, 13, 30), utc(2026, 3, 8, 2, 30)),  # Saturday
        (date(2026, 7, 5), utc(2026, 7, 5, 13, 30), utc(2026, 7, 6, 2, 30)),  # Sunday in summer: still UTC-6
        (date(2022, 10, 28), utc(2022, 10, 28, 13), utc(2022, 10, 29, 1)),  # Friday under the old CDT
        (date(2022, 10, 31), utc(2022, 10, 31, 14), utc(2022, 11, 1, 2)),  # the Monday after the last change
        (date(2023, 4, 3), utc(2023, 4, 3, 14), utc(2023, 4, 4, 2)),  # would have been CDT before the law
    ],
)
def test_wall_clock_hours_follow_mexicos_offsets_including_the_2022_abolition(
    day: date, opens: datetime, closes: datetime
) -> None:
    assert HOURS.intervals_on(day) == (Interval(opens, closes),)


def test_open_and_closed_instants() -> None:
    monday_open = utc(2026, 3, 2, 14)
    assert HOURS.is_open(monday_open)
    assert not HOURS.is_open(monday_open - timedelta(microseconds=1))
    assert HOURS.is_open(utc(2026, 3, 3, 2) - timedelta(microseconds=1))  # 19:59:59.999999
    assert not HOURS.is_open(utc(2026, 3, 3, 2))  # 20:00 closes
    assert HOURS.is_open(utc(2026, 3, 8, 2, 29))  # Saturday 20:29 (the UTC date is already Sunday)


def test_closures_and_special_days() -> None:
    hours = ServiceHours.from_config(
        {
            "weekly": {
                "mon": ["08:00-20:00"],
                "tue": ["08:00-14:00", "15:00-20:00"],
                "sat": ["07:30-20:30"],
            },
            "closed": ["2026-03-02"],
            "special": {"2026-03-04": ["09:00-12:00"]},
        }
    )
    assert hours.intervals_on(date(2026, 3, 2)) == ()  # a Monday closure
    assert hours.intervals_on(date(2026, 3, 9)) == (Interval(utc(2026, 3, 9, 14), utc(2026, 3, 10, 2)),)
    assert len(hours.intervals_on(date(2026, 3, 3))) == 2  # lunch break
    assert not hours.is_open(utc(2026, 3, 3, 20, 30))  # 14:30 local, in the break
    assert hours.intervals_on(date(2026, 3, 4)) == (Interval(utc(2026, 3, 4, 15), utc(2026, 3, 4, 18)),)
    assert hours.intervals_on(date(2026, 3, 5)) == ()  # Thursday is not configured: closed
    assert not hours.covers(utc(2026, 3, 3, 19, 50), utc(2026, 3, 3, 20, 10))  # straddles the break


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"weekly": {"monday": ["08:00-20:00"]}}, "unknown weekdays"),
        ({"weekly": {"mon": ["8-20"]}}, "HH:MM-HH:MM"),
        ({"weekly": {"mon": ["20:00-08:00"]}}, "close after it opens"),
        ({"weekly": {"mon": ["08:00-12:00", "11:00-13:00"]}}, "overlap"),
        ({"weekly": {"mon": "08:00-20:00"}}, "list"),
        ({"zone": "Mexico/Nowhere"}, "Unknown time zone"),
        ({"closed": "2026-01-01"}, "list of dates"),
    ],
)
def test_bad_configuration_says_what_is_wrong(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServiceHours.from_config(config)


def test_the_weekly_rule_has_seven_days() -> None:
    with pytest.raises(ValueError, match="seven"):
        ServiceHours(weekly=((),) * 6)


def test_intervals_are_clipped_to_the_range_and_in_order() -> None:
    found = list(HOURS.intervals(utc(2026, 3, 2, 20), utc(2026, 3, 4, 15)))
    assert found == [
        Interval(utc(2026, 3, 2, 20), utc(2026, 3, 3, 2)),
        Interval(utc(2026, 3, 3, 14), utc(2026, 3, 4, 2)),
        Interval(utc(2026, 3, 4, 14), utc(2026, 3, 4, 15)),
    ]


@given(st.datetimes(min_value=datetime(2021, 1, 1), max_value=datetime(2031, 1, 1), timezones=st.just(UTC)))
def test_open_means_inside_the_local_rule(instant: datetime) -> None:
    local = instant.astimezone(HOURS.zone)
    window = HOURS.weekly[local.weekday()][0]
    assert HOURS.is_open(instant) == (window.opens <= local.time().replace(tzinfo=None) < window.closes)


def test_a_window_until_midnight_joins_the_next_day_and_is_written_24_00() -> None:
    from datetime import UTC, datetime, time

    from rooms.hours import ServiceHours, Window
    from rooms.slots import SlotPolicy, slot_at

    assert Window.parse("20:00-24:00") == Window(time(20), time(0))
    assert str(Window.parse("00:00-24:00")) == "00:00-24:00"
    hours = ServiceHours.always_open()
    for hour in range(0, 48, 5):
        assert hours.is_open(datetime(2026, 3, 2, 0, tzinfo=UTC).replace(hour=hour % 24, minute=hour))
    midnight_mx = datetime(2026, 3, 3, 6, tzinfo=UTC)  # 00:00 in Mexico City
    late = slot_at(hours, SlotPolicy(), midnight_mx.replace(hour=5, minute=40))
    assert late.end == midnight_mx  # the last slot of the day runs to midnight
    with pytest.raises(ValueError, match="overlap"):
        ServiceHours.from_config({"weekly": {"mon": ["20:00-24:00", "21:00-22:00"]}})


def test_openings_that_touch_are_one_span_within_the_reach() -> None:
    day = timedelta(days=1)
    always = ServiceHours.always_open()
    night = utc(2026, 3, 3, 5, 50)  # 23:50 in Mexico City
    assert always.open_span(night, day) == Interval(night - day, night + day)  # no break at midnight
    split = ServiceHours.from_config({"weekly": {"mon": ["08:00-12:00", "12:00-14:00", "15:00-20:00"]}})
    morning = utc(2026, 3, 2, 15)  # Monday 09:00
    assert split.open_span(morning, day) == Interval(utc(2026, 3, 2, 14), utc(2026, 3, 2, 20))
    assert split.open_span(morning, timedelta(hours=2)) == Interval(utc(2026, 3, 2, 14), utc(2026, 3, 2, 17))
    assert split.open_span(utc(2026, 3, 2, 20, 30), day) is None  # 14:30: the lunch break
    assert HOURS.open_span(utc(2026, 3, 3, 1, 59), day) == Interval(utc(2026, 3, 2, 14), utc(2026, 3, 3, 2))


@given(
    st.datetimes(min_value=datetime(2021, 1, 1), max_value=datetime(2031, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=48 * 60),
    st.sampled_from([HOURS, ServiceHours.always_open(), ServiceHours.always_open("Europe/Madrid")]),
)
def test_an_open_span_is_open_throughout_and_holds_its_instant(
    instant: datetime, reach_minutes: int, hours: ServiceHours
) -> None:
    reach = timedelta(minutes=reach_minutes)
    span = hours.open_span(instant, reach)
    assert (span is None) == (not hours.is_open(instant))
    if span is None:
        return
    assert span.contains(instant) and instant - reach <= span.start and span.end <= instant + reach
    step = (span.end - span.start) / 7
    assert all(hours.is_open(span.start + step * k) for k in range(7))
    assert span.start == instant - reach or not hours.is_open(span.start - timedelta(microseconds=1))
    assert span.end == instant + reach or not hours.is_open(span.end)
