"""Who may call each HTTP route: one table, stated once.

Each route's handler enforces its rule (through ``rooms`` for consult decisions, through
``records`` for the clinical record); this table says which rule that is, so the documentation
(docs/api.md) and the authorization matrix test (tests/integration/test_authorization_matrix.py)
are generated from one place. A route that is not listed here fails that test: nobody can add a
route without saying who may call it.

The rules, from the widest to the narrowest, are :class:`Access`; :data:`WHO` says what each
means (``/api/openapi.json`` shows it on every operation).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Access(StrEnum):
    PUBLIC = "public"
    PATIENT_LINK = "patient_link"
    STAFF = "staff"
    UNIT_STAFF = "unit_staff"
    UNIT_SUPERVISION = "unit_supervision"
    CONSULT_STAFF = "consult_staff"
    CONSULT_HOST = "consult_host"
    SESSION_HOST = "session_host"
    CARE_TEAM = "care_team"
    ADMIN = "admin"


WHO: Mapping[Access, str] = MappingProxyType(
    {
        Access.PUBLIC: "anyone, signed in or not (pages, service hours, free slots, the network check, "
        "the OpenAPI document, signing in, a message's unsubscribe link, whose signed token is the "
        "permission, and an SMS's short link, whose random code is); nothing personal is behind these "
        "routes",
        Access.PATIENT_LINK: "the bearer of a patient's link (Authorization: Bearer), for that patient's "
        "own appointment or summary only",
        Access.STAFF: "any signed-in staff member, about themselves or what their role alone allows (their "
        "availability, the note templates, creating an inter-unit session as a coordinator)",
        Access.UNIT_STAFF: "signed-in staff of the unit the route names, or that owns the appointment",
        Access.UNIT_SUPERVISION: "signed-in accounts of the unit the route names whose role may view its "
        "dashboard (supervisors and coordinators); aggregates only",
        Access.CONSULT_STAFF: "before anyone hosts the consult, signed-in staff of its unit; once it is "
        "hosted, its host only (rooms.consult._require_host)",
        Access.CONSULT_HOST: "the consult's host only (what the call produced: its log, its note, the "
        "patient's summary link, the follow-up appointment)",
        Access.SESSION_HOST: "the coordinator who hosts an inter-unit session",
        Access.CARE_TEAM: "staff with a care relation to the patient in the clinical record (granted when "
        "they admit the patient); every read and refusal leaves an AuditEvent",
        Access.ADMIN: "signed-in accounts with the admin role (the insurer's IT): units and staff "
        "accounts of every unit; every change leaves an AuditEvent",
    }
)
"""What each rule means, in the words the OpenAPI document shows."""


ROUTE_ACCESS: Mapping[tuple[str, str], Access] = MappingProxyType(
    {
        ("GET", "/"): Access.PUBLIC,
        ("GET", "/healthz"): Access.PUBLIC,
        ("GET", "/readyz"): Access.PUBLIC,
        ("GET", "/metrics"): Access.PUBLIC,
        ("GET", "/paciente"): Access.PUBLIC,
        ("GET", "/consola"): Access.PUBLIC,
        ("GET", "/resumen"): Access.PUBLIC,
        ("GET", "/supervision"): Access.PUBLIC,
        ("GET", "/baja"): Access.PUBLIC,
        ("GET", "/api/unsubscribe"): Access.PUBLIC,
        ("POST", "/api/unsubscribe"): Access.PUBLIC,
        ("GET", "/l/{code}"): Access.PUBLIC,
        ("GET", "/contrasena"): Access.PUBLIC,
        ("POST", "/api/password-setup"): Access.PUBLIC,
        ("GET", "/sesiones"): Access.PUBLIC,
        ("GET", "/api/openapi.json"): Access.PUBLIC,
        ("GET", "/api/service-hours"): Access.PUBLIC,
        ("GET", "/api/slots"): Access.PUBLIC,
        ("GET", "/api/network-check/ping"): Access.PUBLIC,
        ("GET", "/api/network-check/download"): Access.PUBLIC,
        ("POST", "/api/network-check/upload"): Access.PUBLIC,
        ("POST", "/api/session"): Access.PUBLIC,
        ("GET", "/api/session"): Access.PUBLIC,
        ("DELETE", "/api/session"): Access.PUBLIC,
        ("GET", "/fhir/metadata"): Access.PUBLIC,
        ("GET", "/api/queue/position"): Access.PATIENT_LINK,
        ("GET", "/api/summary"): Access.PATIENT_LINK,
        ("GET", "/api/nurses/me/state"): Access.STAFF,
        ("PUT", "/api/nurses/me/state"): Access.STAFF,
        ("GET", "/api/notes/templates"): Access.STAFF,
        ("GET", "/api/interunit-options"): Access.STAFF,
        ("GET", "/api/interunit-sessions"): Access.STAFF,
        ("POST", "/api/interunit-sessions"): Access.STAFF,
        ("POST", "/api/appointments"): Access.UNIT_STAFF,
        ("GET", "/api/appointments/{appointment_id}"): Access.UNIT_STAFF,
        ("PATCH", "/api/appointments/{appointment_id}"): Access.UNIT_STAFF,
        ("DELETE", "/api/appointments/{appointment_id}"): Access.UNIT_STAFF,
        ("GET", "/api/units/{unit}/queue"): Access.UNIT_STAFF,
        ("POST", "/api/units/{unit}/next"): Access.UNIT_STAFF,
        ("GET", "/api/units/{unit}/dashboard"): Access.UNIT_SUPERVISION,
        ("GET", "/api/units/{unit}/outbox"): Access.UNIT_STAFF,
        ("POST", "/api/consults/{consult_id}/invites"): Access.CONSULT_STAFF,
        ("POST", "/api/consults/{consult_id}/photos"): Access.PATIENT_LINK,
        ("GET", "/api/consults/{consult_id}/photos/{photo_id}"): Access.CONSULT_STAFF,
        ("POST", "/api/consults/{consult_id}/photos/{photo_id}/keep"): Access.CONSULT_HOST,
        ("DELETE", "/api/invites/{token_id}"): Access.CONSULT_STAFF,
        ("GET", "/api/consults/{consult_id}/log"): Access.CONSULT_HOST,
        ("GET", "/api/consults/{consult_id}/note"): Access.CONSULT_HOST,
        ("POST", "/api/consults/{consult_id}/note"): Access.CONSULT_HOST,
        ("GET", "/api/consults/{consult_id}/follow-up"): Access.CONSULT_HOST,
        ("POST", "/api/consults/{consult_id}/follow-up"): Access.CONSULT_HOST,
        ("DELETE", "/api/consults/{consult_id}/summary-link"): Access.UNIT_STAFF,
        ("GET", "/api/interunit-sessions/{session_id}"): Access.SESSION_HOST,
        ("POST", "/api/interunit-sessions/{session_id}/sites"): Access.SESSION_HOST,
        ("DELETE", "/api/interunit-sessions/{session_id}/sites/{site_id}"): Access.SESSION_HOST,
        ("GET", "/api/notes/{note_id}"): Access.CARE_TEAM,
        ("PUT", "/api/notes/{note_id}"): Access.CARE_TEAM,
        ("POST", "/api/notes/{note_id}/sign"): Access.CARE_TEAM,
        ("POST", "/api/notes/{note_id}/addenda"): Access.CARE_TEAM,
        ("GET", "/api/notes/{note_id}/seal"): Access.CARE_TEAM,
        ("GET", "/fhir/Patient/{id}/$everything"): Access.CARE_TEAM,
        ("GET", "/fhir/{type}"): Access.CARE_TEAM,
        ("GET", "/fhir/{type}/{id}"): Access.CARE_TEAM,
        ("GET", "/api/admin/units"): Access.ADMIN,
        ("PUT", "/api/admin/units/{unit}"): Access.ADMIN,
        ("GET", "/api/admin/staff"): Access.ADMIN,
        ("POST", "/api/admin/staff"): Access.ADMIN,
        ("POST", "/api/admin/staff/import"): Access.ADMIN,
        ("POST", "/api/admin/staff/{username}/disable"): Access.ADMIN,
        ("POST", "/api/admin/staff/{username}/enable"): Access.ADMIN,
        ("POST", "/api/admin/staff/{username}/reset-password"): Access.ADMIN,
        ("PUT", "/api/admin/staff/{username}/unit"): Access.ADMIN,
    }
)
"""(method, path template) -> who may call it. ``HEAD`` follows ``GET``; static files and the
socket.io endpoint (which authenticates each connection itself, see docs/protocol.md) are not
routes of the API."""

UNLISTED_PREFIXES = ("/static", "/socket.io/")
"""Paths that are not API routes: static assets, and the socket endpoint with its own rules."""
