"""``GET /api/units/{unit}/dashboard``: a unit's figures for its supervisors and coordinators.

Only accounts whose role holds ``VIEW_DASHBOARD`` (``rooms/roles.py``: supervisor, coordinator),
for their own unit. The figures are computed by ``rooms.supervision`` (aggregates and the first
names of the unit's own waiting and in-call patients; nothing else about a patient).

Every attempt, allowed or refused, leaves one audit line on the ``teleconsulta.audit`` logger:
``dashboard_view {"unit", "staff_id", "role", "outcome", "named"}`` (``outcome`` is ``ok`` or the
refusal's code, ``named`` how many first names the answer held). The line holds the viewer's
account id, never a name or a patient's data; the access log line of the same request holds the
client address. The record store's ``AuditEvent``\\ s are about the clinical record, which this
route does not read, so it does not write them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from rooms.errors import DomainError
from rooms.roles import Action, may
from rooms.staff import StaffMember
from rooms.supervision import UnitDashboard, WaitStats
from rooms.zones import resolve_zone
from services.supervision import UnitOverview
from web.errors import ApiError
from web.payloads import answer
from web.schemas.supervision import DashboardView

audit_log = logging.getLogger("teleconsulta.audit")

StaffOf = Callable[[web.Request], Awaitable[StaffMember | None]]


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else round(value.total_seconds())


def _stats(stats: WaitStats) -> dict[str, object]:
    return {
        "count": stats.count,
        "median_seconds": _seconds(stats.median),
        "p90_seconds": _seconds(stats.p90),
    }


def dashboard_view(dashboard: UnitDashboard, zone: str) -> dict[str, object]:
    return {
        "unit": dashboard.unit,
        "at": dashboard.at.isoformat(),
        "zone": zone,
        "day": {"start": dashboard.day_start.isoformat(), "end": dashboard.day_end.isoformat()},
        "waiting": [
            {
                "first_name": w.first_name,
                "appointment_start": w.appointment_start.isoformat(),
                "waiting_since": w.waiting_since.isoformat(),
                "waited_seconds": _seconds(w.waited),
                "urgent": w.urgent,
                "connected": w.connected,
                "absent": w.absent,
            }
            for w in dashboard.waiting
        ],
        "in_consult": [
            {
                "first_name": c.first_name,
                "since": c.since.isoformat() if c.since else None,
                "duration_seconds": _seconds(c.duration),
                "quality": c.quality,
            }
            for c in dashboard.in_consult
        ],
        "waits_today": _stats(dashboard.waits_today),
        "waits_by_hour": [{"start": h.start.isoformat(), **_stats(h.waits)} for h in dashboard.waits_by_hour],
        "appointments": {status.value: n for status, n in dashboard.appointments.items()},
        "no_shows": dashboard.no_shows,
        "nurses": {state.value: n for state, n in dashboard.nurses.items()},
        "quality": dict(dashboard.quality),
    }


class SupervisionApi:
    def __init__(self, overview: UnitOverview, staff_of: StaffOf) -> None:
        self._overview = overview
        self._staff_of = staff_of

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/units/{unit}/dashboard", self.dashboard)]

    async def dashboard(self, request: web.Request) -> web.Response:
        member = await self._staff_of(request)
        unit = request.match_info["unit"]
        try:
            allowed = _allowed(member, unit)
            zone = request.query.get("zone", allowed.time_zone)
            try:
                found = resolve_zone(zone)
            except DomainError as error:
                raise ApiError(400, error.code, f"{error.message_es} / {error.message_en}") from None
            dashboard = await self._overview.dashboard(unit, found)
        except ApiError as refusal:
            _audit(member, unit, refusal.code, 0)
            raise
        _audit(member, unit, "ok", len(dashboard.waiting) + len(dashboard.in_consult))
        return answer(DashboardView.model_validate(dashboard_view(dashboard, zone)))


def _allowed(member: StaffMember | None, unit: str) -> StaffMember:
    """The signed-in viewer, if their role may view dashboards and ``unit`` is theirs."""
    if member is None:
        raise ApiError(401, "auth_required", "Inicie sesión. / Please sign in.")
    if not may(member.role, Action.VIEW_DASHBOARD):
        raise ApiError(
            403,
            "forbidden",
            "Solo supervisión y coordinación ven el tablero de la unidad. / "
            "Only supervisors and coordinators see the unit's dashboard.",
        )
    if member.unit != unit:
        raise ApiError(
            403,
            "wrong_unit",
            f"No pertenece a la unidad «{unit[:64]}». / You are not a member of unit '{unit[:64]}'.",
        )
    return member


def _audit(member: StaffMember | None, unit: str, outcome: str, named: int) -> None:
    line = {
        "unit": unit[:64],
        "staff_id": member.staff_id if member is not None else "anonymous",
        "role": member.role.value if member is not None else None,
        "outcome": outcome,
        "named": named,
    }
    audit_log.info("dashboard_view %s", json.dumps(line, ensure_ascii=False, separators=(",", ":")))
