"""Inter-unit (hospital telemedicine) sessions: options, sessions and their sites."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rooms.consult import ConsultState
from rooms.interunit import Purpose
from rooms.roles import Role
from signaling.messages import PersonName
from web.schemas.base import Body, DateTimeText, Instant, View

Clues = Annotated[
    str,
    Field(min_length=1, max_length=20, description="CLUES code: 5 letters and 6 digits, e.g. DFIMS000123"),
]


class SessionRequest(Body):
    purpose: Purpose = Field(strict=False)
    specialty: str = Field(min_length=1, max_length=80, description="one of TC_INTERUNIT_SPECIALTIES")
    scheduled_at: Instant
    duration_minutes: int = Field(default=60, ge=15, le=720)
    clues: Clues
    unit_name: PersonName
    patient_nss: str | None = Field(
        default=None,
        max_length=32,
        description="the registered patient the session is about (11-digit NSS): the coordinator gets a "
        "role in their care; never shown to the sites",
    )


class SiteRequest(Body):
    clues: Clues
    unit_name: PersonName
    name: PersonName
    role: Literal["physician", "nurse", "coordinator", "observer"]


class Label(View):
    es: str
    en: str


class PurposeOption(View):
    value: Purpose
    label: Label


class OptionsView(View):
    """What the coordinator's page offers."""

    purposes: list[PurposeOption]
    specialties: list[str]
    site_roles: list[Role]
    max_sites: int


class SiteView(View):
    site_id: str
    clues: str
    unit_name: str
    name: str
    role: Role
    host: bool = Field(description="the coordinator's own site")
    in_call: bool
    token_id: str | None = Field(description="withdraws the site's link; null for the coordinator's own")


class SessionView(View):
    session_id: str
    purpose: Purpose
    purpose_label: Label
    specialty: str | None
    title: str
    scheduled_at: DateTimeText
    ends_at: DateTimeText
    state: ConsultState
    locked: bool
    coordinator_id: str | None
    coordinator_name: str | None
    about_a_patient: bool = Field(
        description="whether the session is about a patient (the NSS is never shown)"
    )
    max_sites: int
    sites: list[SiteView] = Field(description="the coordinator's own site first, then in invitation order")


class SessionsView(View):
    sessions: list[SessionView] = Field(description="the coordinator's open sessions, by scheduled time")


class NewSiteView(View):
    site: SiteView
    token: str
    link: str = Field(description="<origin>/paciente#t=<token>")
