"""Time zones: naming them strictly and turning wall-clock times into instants without guessing.

The domain stores instants as timezone-aware UTC datetimes; wall-clock times exist only at the
edges (service hours are written in the service's zone, patients read and pick slots in theirs).
Wall-clock times are where daylight-saving time bites: on the night clocks go back an hour
happens twice, and on the night they go forward an hour never happens. A patient in Madrid can
see two different slots labelled 02:20 on the last Sunday of October, so a local time is turned
into an instant only when it is unambiguous or the caller said which one it meant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from rooms.errors import DomainError

SERVICE_ZONE = "America/Mexico_City"
"""The zone the program's service hours are written in."""

_NOT_A_PLACE = frozenset({"localtime", "Factory", "posixrules"})
"""Entries of the zone database that are not a place: the host's own zone, a placeholder."""


class UnknownTimeZone(DomainError):
    CODE = "unknown_time_zone"

    def __init__(self, name: str) -> None:
        super().__init__(
            self.CODE,
            f"No reconocemos la zona horaria «{name[:64]}»; use un nombre IANA como America/Mexico_City.",
            f"Unknown time zone '{name[:64]}'; use an IANA name such as America/Mexico_City.",
        )
        self.name = name


class AmbiguousLocalTime(DomainError):
    CODE = "ambiguous_local_time"

    def __init__(self, local: datetime) -> None:
        super().__init__(
            self.CODE,
            f"La hora {local:%H:%M} del {local:%Y-%m-%d} ocurre dos veces por el cambio de horario; "
            "indique cuál de las dos.",
            f"{local:%H:%M} on {local:%Y-%m-%d} happens twice because the clocks go back; say which one.",
        )


class NonexistentLocalTime(DomainError):
    CODE = "nonexistent_local_time"

    def __init__(self, local: datetime) -> None:
        super().__init__(
            self.CODE,
            f"La hora {local:%H:%M} del {local:%Y-%m-%d} no existe por el cambio de horario.",
            f"{local:%H:%M} on {local:%Y-%m-%d} does not exist because the clocks go forward.",
        )


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_A_PLACE


@cache
def resolve_zone(name: str) -> ZoneInfo:
    """The zone called ``name`` (an IANA name, exact case), or :class:`UnknownTimeZone`.

    Only names in the zone database are accepted, so a typo, a path or the host's ``localtime``
    is a clear error instead of a silent UTC or a file read outside the database.
    """
    if name not in _known_zones():
        raise UnknownTimeZone(name)
    return ZoneInfo(name)


def require_utc(instant: datetime) -> datetime:
    """``instant`` as UTC; a naive datetime is a programming error, not a user's."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(UTC)


def localize(naive: datetime, zone: ZoneInfo, fold: int | None = None) -> datetime:
    """The instant (UTC) that ``naive`` wall-clock time in ``zone`` names.

    ``fold`` picks the first (0) or second (1) occurrence of a repeated time; without it a
    repeated time is :class:`AmbiguousLocalTime`. A time skipped by the clocks going forward is
    :class:`NonexistentLocalTime` either way, because any instant we picked would be a guess.
    """
    if naive.tzinfo is not None:
        raise ValueError("localize takes a naive wall-clock time")
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Either a repeated or a skipped time: a real one survives the round trip through UTC.
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
            raise NonexistentLocalTime(naive)
        if fold is None:
            raise AmbiguousLocalTime(naive)
        return (second if fold else first).astimezone(UTC)
    return first.astimezone(UTC)


def wall_time_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of ``at`` on ``day`` in ``zone``, for rules written in wall-clock time.

    Unlike :func:`localize` this never refuses: a rule such as "opens at 02:30" must still mean
    something on the night that time is skipped (it opens when the clocks jump, the standard
    reading) or repeated (the first occurrence).
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_day(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants (UTC) where calendar day ``day`` in ``zone`` starts and ends.

    A day is not always 24 hours long: it is 23 or 25 on the days clocks change.
    """
    return wall_time_instant(day, time(0), zone), wall_time_instant(day + timedelta(days=1), time(0), zone)
