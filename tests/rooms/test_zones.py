from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.zones import (
    AmbiguousLocalTime,
    NonexistentLocalTime,
    UnknownTimeZone,
    local_day,
    localize,
    require_utc,
    resolve_zone,
)

ZONES = [
    "America/Mexico_City",
    "America/Tijuana",
    "America/Cancun",
    "America/Chicago",
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "Europe/Madrid",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "UTC",
]


@pytest.mark.parametrize("name", ZONES)
def test_real_zones_resolve(name: str) -> None:
    assert resolve_zone(name).key == name


@pytest.mark.parametrize(
    "name",
    ["", "Mars/Olympus_Mons", "america/mexico_city", "America/Mexico_City ", "America", "localtime",
     "Factory", "posixrules", "../etc/passwd", "/usr/share/zoneinfo/UTC", "x" * 5000],
)  # fmt: skip
def test_anything_else_is_a_clear_domain_error(name: str) -> None:
    with pytest.raises(UnknownTimeZone) as caught:
        resolve_zone(name)
    assert caught.value.code == "unknown_time_zone"
    assert "IANA" in caught.value.message_en and "IANA" in caught.value.message_es
    assert len(caught.value.message_en) < 200  # a huge input is not echoed back whole


def test_require_utc_converts_and_refuses_naive_times() -> None:
    assert require_utc(datetime(2026, 1, 1, 6, tzinfo=timezone(timedelta(hours=-6)))) == datetime(
        2026, 1, 1, 12, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="aware"):
        require_utc(datetime(2026, 1, 1))


def test_a_repeated_wall_time_needs_a_fold() -> None:
    madrid = resolve_zone("Europe/Madrid")
    repeated = datetime(2026, 10, 25, 2, 30)
    with pytest.raises(AmbiguousLocalTime) as caught:
        localize(repeated, madrid)
    assert caught.value.code == "ambiguous_local_time"
    assert localize(repeated, madrid, fold=0) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # CEST
    assert localize(repeated, madrid, fold=1) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # CET


def test_a_skipped_wall_time_is_refused_whatever_the_fold() -> None:
    madrid = resolve_zone("Europe/Madrid")
    for fold in (None, 0, 1):
        with pytest.raises(NonexistentLocalTime) as caught:
            localize(datetime(2026, 3, 29, 2, 30), madrid, fold)
        assert caught.value.code == "nonexistent_local_time"


def test_localize_refuses_aware_input() -> None:
    with pytest.raises(ValueError, match="naive"):
        localize(datetime(2026, 1, 1, tzinfo=UTC), resolve_zone("UTC"))


@pytest.mark.parametrize(
    ("name", "day", "hours"),
    [
        ("America/Mexico_City", date(2026, 3, 8), 24),  # no DST since 2022
        ("America/Mexico_City", date(2022, 4, 3), 23),  # its last spring forward
        ("America/Mexico_City", date(2022, 10, 30), 25),  # its last fall back
        ("America/Chicago", date(2026, 3, 8), 23),
        ("America/Chicago", date(2026, 11, 1), 25),
        ("Europe/Madrid", date(2026, 3, 29), 23),
        ("Europe/Madrid", date(2026, 10, 25), 25),
        ("Australia/Sydney", date(2026, 4, 5), 25),
    ],
)
def test_a_local_day_is_as_long_as_the_clocks_say(name: str, day: date, hours: int) -> None:
    start, end = local_day(day, resolve_zone(name))
    assert end - start == timedelta(hours=hours)


@given(
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
)
def test_an_instant_shown_in_any_zone_maps_back_to_itself_with_its_fold(name: str, instant: datetime) -> None:
    zone = resolve_zone(name)
    local = instant.astimezone(zone)
    assert localize(local.replace(tzinfo=None), zone, fold=local.fold) == instant
