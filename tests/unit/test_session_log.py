from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent


def test_json_round_trip_and_frozen_detail() -> None:
    event = SessionEvent(
        "c", EventKind.LEFT, datetime(2026, 1, 1, tzinfo=UTC), "p", Role.PATIENT, "sid", {"reason": "x"}
    )
    assert SessionEvent.from_json(event.to_json()) == event
    with pytest.raises(TypeError):
        event.detail["reason"] = "changed"  # type: ignore[index]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        SessionEvent("c", EventKind.CREATED, datetime(2026, 1, 1), "p", None)
