"""The scheduling routes, wired to the live side: consoles hear of every change, a cancelled
consult closes, and a booked patient exists in the clinical record before their first note."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from notifications.recording import RecordOutbox
from records.access import AccessContext
from records.facts import PatientFacts
from records.repository import RecordRepository
from rooms.staff import StaffMember
from rooms.store.base import Stores
from services.consults import ConsultService
from services.ports import Outbox
from services.scheduling import Scheduling
from web.auth import Authenticator
from web.config import Settings
from web.scheduling.appointments import AppointmentsApi
from web.scheduling.calendar import CalendarApi
from web.scheduling.follow_up import FollowUpApi
from web.scheduling.position import PositionApi
from web.scheduling.queue import QueueApi


def scheduling_routes(
    settings: Settings,
    scheduling: Scheduling,
    auth: Authenticator,
    stores: Stores,
    consults: ConsultService,
    records: RecordRepository,
    clock: Callable[[], datetime],
    *,
    outbox: RecordOutbox,
) -> list[web.RouteDef]:
    async def cancelled(consult_id: str, at: datetime) -> None:
        # Like a consult its host ended: pages hear why and let go, the session log is archived.
        await consults.consult_closed(consult_id, at, "appointment_cancelled")

    def register_in_record(facts: PatientFacts, member: StaffMember, address: str) -> Outbox:
        """The booking's outbox, registering its patient in the record in the same transaction."""
        ctx = AccessContext.staff(member.staff_id, member.full_name, member.role, address)
        return outbox.registering(records, facts, ctx)

    announce = consults.publish_queue
    apis = (
        CalendarApi(scheduling=scheduling, clock=clock),
        AppointmentsApi(
            scheduling=scheduling,
            token_key=settings.secret_key,
            auth=auth,
            base_url=settings.public_url.rstrip("/"),
            clock=clock,
            announce=announce,
            on_cancelled=cancelled,
            register_in_record=register_in_record,
        ),
        QueueApi(scheduling=scheduling, auth=auth, clock=clock, announce=announce),
        PositionApi(
            scheduling=scheduling, consults=stores.consults, token_key=settings.secret_key, clock=clock
        ),
        FollowUpApi(
            scheduling=scheduling, auth=auth, consults=stores.consults, clock=clock, announce=announce
        ),
    )
    return [route for api in apis for route in api.routes()]
