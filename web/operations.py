"""The REST API as data: one row per route, with its messages and the codes it refuses with.

Each row names the route (``"METHOD /path"``), its request model (body or query), its answer
model per status and the error codes it may answer (``"403 forbidden, wrong_unit; 404 not_found"``,
as docs/api.md writes them); who may call it is ``web/access.py``'s table, stated once there.
``web/openapi.py`` turns the rows into ``/api/openapi.json``, adding what every route of a kind
answers (a body's ``400``/``413``/``415``, a staff route's ``401 auth_required``), and
``tests/integration/test_openapi.py`` checks that the rows and the router name the same routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pydantic import BaseModel

from rooms.interunit import MAX_SITES
from web.schemas.admin import (
    AccountChanged,
    AccountsView,
    ImportView,
    PasswordSet,
    PasswordSetupRequest,
    ProvisionedView,
    StaffRequest,
    UnitChange,
    UnitPut,
    UnitRequest,
    UnitsView,
)
from web.schemas.appointments import (
    AppointmentAnswer,
    BookingAnswer,
    BookingRequest,
    FollowUpRequest,
    FollowUpView,
    RescheduleRequest,
)
from web.schemas.base import Query
from web.schemas.calendar import ServiceHoursView, SlotsQuery, SlotsView, ZoneQuery
from web.schemas.interunit import (
    NewSiteView,
    OptionsView,
    SessionRequest,
    SessionsView,
    SessionView,
    SiteRequest,
)
from web.schemas.invitations import InvitationView, InviteRequest, Revoked
from web.schemas.meta import OpenApiDocument
from web.schemas.network_check import DownloadQuery, Pong, Uploaded
from web.schemas.notes import (
    AddendumRequest,
    ConsultNote,
    NoteAnswer,
    OpenNoteRequest,
    SaveNoteRequest,
    SealView,
    Signed,
    SignNoteRequest,
    StaleNote,
    TemplatesView,
)
from web.schemas.outbox import OutboxView, Unsubscribed, UnsubscribeOffer, UnsubscribeRequest
from web.schemas.photos import KeepPhotoRequest, KeptPhoto, SharedPhoto
from web.schemas.queue import NextPatientView, NurseStateRequest, NurseView, PositionView, QueueView
from web.schemas.session_log import SessionLogView
from web.schemas.staff import LoginRequest, SessionState, SignedOff, StaffView
from web.schemas.summary import AfterVisitSummary, SummaryLinkRevoked
from web.schemas.supervision import DashboardQuery, DashboardView


class Octets:
    """Raw bytes (``application/octet-stream``) instead of JSON: the network check's transfers."""


OCTETS = Octets()
Message = type[BaseModel] | Octets


@dataclass(frozen=True, slots=True)
class Operation:
    route: str
    """``"METHOD /path"``, the path as the router spells it."""
    summary: str
    answers: Mapping[int, Message]
    """Status -> what a successful (or, as for a stale note, a telling) answer holds."""
    refusals: str = ""
    """``"status code, code; status code"``: the error codes the route itself may answer with."""
    body: Message | None = None
    query: type[Query] | None = None
    tag: str = ""

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.route.split(" ", 1)[1]

    def codes(self) -> dict[int, list[str]]:
        """:attr:`refusals` as status -> codes."""
        found: dict[int, list[str]] = {}
        for part in filter(None, (p.strip() for p in self.refusals.split(";"))):
            status, _, codes = part.partition(" ")
            found.setdefault(int(status), []).extend(code.strip() for code in codes.split(","))
        return found


def _tagged(tag: str, *rows: Operation) -> tuple[Operation, ...]:
    return tuple(replace(row, tag=tag) for row in rows)


SLOT = "past_time, slot_outside_hours, not_a_slot, too_far_ahead"
"""Why a start is not a bookable slot."""
LINK = "auth_required, auth_invalid, auth_expired, auth_not_yet_valid, auth_revoked"
"""Why a patient's link is refused."""
CALL = "room_full, room_locked, invalid_state, consult_ended, denied, conflict"
"""Why a consult in its present state refuses an invitation."""

ACCOUNT = "invalid_account, invalid_identifier, invalid_name"
"""Why a unit's or an account's field is refused."""

OPERATIONS: tuple[Operation, ...] = (
    *_tagged(
        "admin",
        Operation("GET /api/admin/units", "Every unit with its CLUES, name and time zone", {200: UnitsView}),
        Operation(
            "PUT /api/admin/units/{unit}",
            "Create a unit (201) or update its CLUES, name and time zone (200); audited",
            {200: UnitPut, 201: UnitPut},
            f"403 forbidden; 422 {ACCOUNT}; 400 unknown_time_zone",
            body=UnitRequest,
        ),
        Operation(
            "GET /api/admin/staff",
            "Staff accounts, of one unit with ?unit=",
            {200: AccountsView},
            "403 forbidden; 422 invalid_account",
        ),
        Operation(
            "POST /api/admin/staff",
            "Create an account with a one-time set-password link (201), or update it by username (200)",
            {200: ProvisionedView, 201: ProvisionedView},
            f"403 forbidden; 404 unknown_unit; 422 {ACCOUNT}",
            body=StaffRequest,
        ),
        Operation(
            "POST /api/admin/staff/import",
            "Import accounts from CSV (text/csv): all or none, every bad row named, idempotent by username",
            {200: ImportView, 422: ImportView},
            "403 forbidden; 413 payload_too_large; 415 bad_payload",
            body=OCTETS,
        ),
        Operation(
            "POST /api/admin/staff/{username}/disable",
            "Disable an account: it cannot sign in and its sessions end",
            {200: AccountChanged},
            "403 forbidden; 404 unknown_account",
        ),
        Operation(
            "POST /api/admin/staff/{username}/enable",
            "Enable a disabled account",
            {200: AccountChanged},
            "403 forbidden; 404 unknown_account",
        ),
        Operation(
            "POST /api/admin/staff/{username}/reset-password",
            "The password stops working, sessions end; a new one-time set-password link",
            {200: AccountChanged},
            "403 forbidden; 404 unknown_account",
        ),
        Operation(
            "PUT /api/admin/staff/{username}/unit",
            "Move an account to another unit",
            {200: AccountChanged},
            "403 forbidden; 404 unknown_account, unknown_unit; 422 invalid_account",
            body=UnitChange,
        ),
        Operation(
            "POST /api/password-setup",
            "Choose one's password with a one-time link's token (the link is spent)",
            {200: PasswordSet},
            "400 weak_password, setup_link_invalid",
            body=PasswordSetupRequest,
        ),
    ),
    *_tagged(
        "session",
        Operation(
            "POST /api/session",
            "Staff sign-in (sets the tc_session cookie)",
            {200: StaffView},
            "400 payload_too_large; 401 auth_invalid; 429 rate_limited",
            body=LoginRequest,
        ),
        Operation("GET /api/session", "Who is signed in, if anyone", {200: SessionState}),
        Operation("DELETE /api/session", "Sign out", {200: SignedOff}),
    ),
    *_tagged(
        "consults",
        Operation(
            "GET /api/consults/{consult_id}/log",
            "A consult's session log, for its host",
            {200: SessionLogView},
            "403 forbidden; 404 not_found",
        ),
    ),
    *_tagged(
        "network check",
        Operation("GET /api/network-check/ping", "Round-trip probe", {200: Pong}, "429 rate_limited"),
        Operation(
            "GET /api/network-check/download",
            "Random bytes for the download estimate",
            {200: OCTETS},
            "429 rate_limited",
            query=DownloadQuery,
        ),
        Operation(
            "POST /api/network-check/upload",
            "Upload probe (up to 512 KiB)",
            {200: Uploaded},
            "413 payload_too_large; 429 rate_limited",
            body=OCTETS,
        ),
    ),
    *_tagged("meta", Operation("GET /api/openapi.json", "This document", {200: OpenApiDocument})),
    *_tagged(
        "scheduling",
        Operation(
            "GET /api/service-hours",
            "Weekly service hours and closures, and the next 7 days in ?zone=",
            {200: ServiceHoursView},
            "400 unknown_time_zone",
            query=ZoneQuery,
        ),
        Operation(
            "GET /api/slots",
            "Free slots of a unit on a date of the patient's calendar, shown in their zone",
            {200: SlotsView},
            "400 unknown_time_zone",
            query=SlotsQuery,
        ),
        Operation(
            "POST /api/appointments",
            "Book an appointment; returns it and the patient's join link. Idempotent with the "
            "Idempotency-Key header (or request_id): a retry answers the same booking and link",
            {201: BookingAnswer},
            f"400 invalid_nss, invalid_patient, invalid_identifier, unknown_time_zone, {SLOT}; "
            "403 wrong_unit; 409 slot_taken, double_booking, request_id_reused",
            body=BookingRequest,
        ),
        Operation(
            "GET /api/appointments/{appointment_id}",
            "One appointment",
            {200: AppointmentAnswer},
            "403 wrong_unit; 404 not_found",
        ),
        Operation(
            "PATCH /api/appointments/{appointment_id}",
            "Reschedule: the old link is revoked, a new one is returned",
            {200: BookingAnswer},
            f"400 {SLOT}; 403 wrong_unit; 404 not_found; "
            "409 slot_taken, double_booking, invalid_appointment_state, check_in_closed, conflict",
            body=RescheduleRequest,
        ),
        Operation(
            "DELETE /api/appointments/{appointment_id}",
            "Cancel: the link is revoked, the slot freed, the consult ended",
            {200: AppointmentAnswer},
            "403 wrong_unit; 404 not_found; 409 invalid_appointment_state, conflict",
        ),
        Operation(
            "GET /api/consults/{consult_id}/follow-up",
            "For the consult's host: its unit, the patient's time zone and upcoming appointments",
            {200: FollowUpView},
            "403 not_your_consult; 404 not_found; 409 no_patient",
        ),
        Operation(
            "POST /api/consults/{consult_id}/follow-up",
            "The consult's host books its patient's follow-up; returns the appointment (no link)",
            {201: AppointmentAnswer},
            f"400 {SLOT}; 403 not_your_consult; 404 not_found; 409 no_patient, slot_taken, double_booking",
            body=FollowUpRequest,
        ),
    ),
    *_tagged(
        "queue",
        Operation(
            "GET /api/units/{unit}/queue",
            "The unit's waiting queue, in order",
            {200: QueueView},
            "400 bad_payload; 403 wrong_unit",
        ),
        Operation(
            "GET /api/units/{unit}/dashboard",
            "A unit's figures today, for its supervisors and coordinators (every view is audited)",
            {200: DashboardView},
            "400 unknown_time_zone; 403 forbidden, wrong_unit",
            query=DashboardQuery,
        ),
        Operation(
            "POST /api/units/{unit}/next",
            "Next patient: atomically pairs the nurse with the head of her eligible queue",
            {200: NextPatientView},
            "400 bad_payload; 403 wrong_unit, forbidden; 404 queue_empty, not_found; "
            "409 nurse_not_available, already_served",
        ),
        Operation("GET /api/nurses/me/state", "The signed-in nurse's queue state", {200: NurseView}),
        Operation(
            "PUT /api/nurses/me/state",
            "Available or away",
            {200: NurseView},
            "409 invalid_nurse_transition",
            body=NurseStateRequest,
        ),
        Operation(
            "GET /api/queue/position",
            "The patient's place and expected wait (join token in Authorization: Bearer)",
            {200: PositionView},
            f"401 {LINK}; 403 forbidden; 404 not_found",
        ),
    ),
    *_tagged(
        "notes",
        Operation(
            "GET /api/notes/templates",
            "The note templates the console draws its form from",
            {200: TemplatesView},
        ),
        Operation(
            "GET /api/consults/{consult_id}/note",
            "The host's current note for the consult (latest draft, else the signed one)",
            {200: ConsultNote},
            "403 forbidden; 404 not_found",
        ),
        Operation(
            "POST /api/consults/{consult_id}/note",
            "Open (or return) the host's draft with a template",
            {200: NoteAnswer},
            "403 forbidden; 404 not_found, unknown_patient; 409 note_signed",
            body=OpenNoteRequest,
        ),
        Operation(
            "GET /api/notes/{note_id}",
            "A note: drafts to their author, signed notes to the care team",
            {200: NoteAnswer},
            "403 forbidden, not_note_author; 404 not_found",
        ),
        Operation(
            "PUT /api/notes/{note_id}",
            "Autosave: the next version of a draft, based on the version the page last saw",
            {200: NoteAnswer, 409: StaleNote},
            "403 forbidden, not_note_author; 409 note_signed; 413 note_too_large; "
            "422 invalid_note, unsafe_text",
            body=SaveNoteRequest,
        ),
        Operation(
            "POST /api/notes/{note_id}/sign",
            "Sign a draft into a FHIR transaction Bundle; idempotent by request_id (200: replayed)",
            {200: Signed, 201: Signed},
            "403 forbidden, not_note_author; "
            "409 stale_version, note_signed, consent_missing, session_log_missing, request_id_reused; "
            "422 incomplete_note, invalid_note, staff_facts_missing, invalid_identifier, invalid_record",
            body=SignNoteRequest,
        ),
        Operation(
            "POST /api/notes/{note_id}/addenda",
            "Add a signed addendum to a signed note; idempotent by request_id (200: replayed)",
            {200: Signed, 201: Signed},
            "403 forbidden; 409 note_not_signed, request_id_reused; "
            "422 unsafe_text, invalid_note, staff_facts_missing",
            body=AddendumRequest,
        ),
        Operation(
            "GET /api/notes/{note_id}/seal",
            "Check a signed note against its seal with this server's current and old keys",
            {200: SealView},
            "403 forbidden; 404 not_found",
        ),
    ),
    *_tagged(
        "summary",
        Operation(
            "GET /api/summary",
            "The patient's after-visit summary; the bearer token is their join token or their summary "
            "link's token (s1.…), which reads this summary and nothing else",
            {200: AfterVisitSummary},
            f"401 {LINK}, summary_link_expired, summary_link_revoked; 403 forbidden; 404 summary_not_ready",
        ),
        Operation(
            "DELETE /api/consults/{consult_id}/summary-link",
            "Cancel the patient's summary link of this consult; revoking again changes nothing",
            {200: SummaryLinkRevoked},
            "403 forbidden; 404 not_found",
        ),
    ),
    *_tagged(
        "invitations",
        Operation(
            "POST /api/consults/{consult_id}/invites",
            "Invite someone into a consult by link",
            {201: InvitationView},
            f"403 forbidden, not_your_consult, wrong_unit; 404 not_found; 409 {CALL}",
            body=InviteRequest,
        ),
        Operation(
            "DELETE /api/invites/{token_id}",
            "Revoke an invitation: the link fails from now on and the invitee leaves the call",
            {200: Revoked},
            f"403 forbidden, not_your_consult; 404 not_found; 409 {CALL}",
        ),
    ),
    *_tagged(
        "photos",
        Operation(
            "POST /api/consults/{consult_id}/photos",
            "The patient shares a photo (JPEG, PNG or WebP bytes as the body, at most 8 MB); it is "
            "re-encoded without EXIF or GPS and announced in the consult's chat",
            {201: SharedPhoto},
            f"401 {LINK}; 403 forbidden, not_your_consult, denied; 404 not_found; "
            "409 invalid_state, consult_ended, chat_full, photos_full; 413 photo_too_large; "
            "415 photo_type; 429 rate_limited",
            body=OCTETS,
        ),
        Operation(
            "GET /api/consults/{consult_id}/photos/{photo_id}",
            "A shared photo, served only as its image type, inline, with nosniff and default-src 'none'",
            {200: OCTETS},
            "403 forbidden, not_your_consult, wrong_unit; 404 not_found",
        ),
        Operation(
            "POST /api/consults/{consult_id}/photos/{photo_id}/keep",
            "The host keeps a photo in the record, the patient's consent noted (a FHIR Media at signing)",
            {200: KeptPhoto},
            "403 forbidden, not_your_consult; 404 not_found; 409 consent_missing",
            body=KeepPhotoRequest,
        ),
    ),
    *_tagged(
        "inter-unit sessions",
        Operation(
            "GET /api/interunit-options",
            "Purposes (Spanish and English labels), specialties, site roles, the site limit",
            {200: OptionsView},
        ),
        Operation(
            "GET /api/interunit-sessions", "The signed-in coordinator's open sessions", {200: SessionsView}
        ),
        Operation(
            "POST /api/interunit-sessions",
            "Create an inter-unit session (coordinators only), live at once, hosted by them",
            {201: SessionView},
            "400 unknown_specialty, invalid_nss; 403 forbidden; 404 unknown_patient",
            body=SessionRequest,
        ),
        Operation(
            "GET /api/interunit-sessions/{session_id}",
            "One inter-unit session with its sites",
            {200: SessionView},
            "403 not_your_consult; 404 not_found",
        ),
        Operation(
            "POST /api/interunit-sessions/{session_id}/sites",
            f"Invite a unit or specialist by link ({MAX_SITES} sites at most, the coordinator's own too)",
            {201: NewSiteView},
            f"403 not_your_consult; 404 not_found; 409 too_many_sites, {CALL}",
            body=SiteRequest,
        ),
        Operation(
            "DELETE /api/interunit-sessions/{session_id}/sites/{site_id}",
            "Withdraw a site: its link fails from now on and it leaves the call",
            {200: SessionView},
            "403 not_your_consult; 404 not_found; 409 invalid_state, conflict",
        ),
    ),
    *_tagged(
        "messages",
        Operation(
            "GET /api/units/{unit}/outbox",
            "The unit's messages to patients and every attempt to send each (sent, failed and why)",
            {200: OutboxView},
            "403 wrong_unit",
        ),
        Operation(
            "GET /api/unsubscribe",
            "What a message's unsubscribe link (its token in Authorization: Bearer) can stop: its kind "
            "on its channel, or the whole channel",
            {200: UnsubscribeOffer},
            "401 auth_required, auth_invalid; 404 not_found",
        ),
        Operation(
            "POST /api/unsubscribe",
            "A message's unsubscribe link (its token in Authorization: Bearer): no more messages of "
            "that kind (stop: kind), or none at all (stop: channel, the default), on that channel to "
            "that patient",
            {200: Unsubscribed},
            "401 auth_required, auth_invalid; 404 not_found",
            body=UnsubscribeRequest,
        ),
    ),
)
