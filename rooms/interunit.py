"""Inter-unit sessions (hospital telemedicine): pure rules, no I/O.

A coordinator opens a session between hospital sites for a purpose (an emergency assessment,
surgical planning, a hospitalized case presentation, a second opinion) and a specialty, at a
scheduled time, and invites other units and specialists by link, each with a role. A session is
an ordinary consult room (``rooms/consult.py``) of kind ``interunit`` that the coordinator hosts
from the start, so the multi-party media, the lobby controls and the session log all apply.

Sites: the coordinator's own unit is the first site; every invitation by link is one more. A
session joins at most :data:`MAX_SITES` sites (the SFU's 8 publishers per room), so at most 7
invitations; the 8th is refused with ``too_many_sites``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar

from rooms import consult as rules
from rooms.consult import Actor, Consult, ConsultKind, ConsultState, Invitee, RuleViolation, Transition
from rooms.errors import DomainError
from rooms.nss import parse_nss
from rooms.roles import Action, Role, may
from rooms.session_log import EventKind, SessionEvent


class Purpose(StrEnum):
    EMERGENCY_ASSESSMENT = "emergency_assessment"
    SURGICAL_PLANNING = "surgical_planning"
    CASE_PRESENTATION = "case_presentation"
    SECOND_OPINION = "second_opinion"


PURPOSE_LABELS: Mapping[Purpose, Mapping[str, str]] = MappingProxyType(
    {
        Purpose.EMERGENCY_ASSESSMENT: {"es": "Valoración de urgencia", "en": "Emergency assessment"},
        Purpose.SURGICAL_PLANNING: {"es": "Planeación quirúrgica", "en": "Surgical planning"},
        Purpose.CASE_PRESENTATION: {
            "es": "Presentación de caso hospitalizado",
            "en": "Hospitalized case presentation",
        },
        Purpose.SECOND_OPINION: {"es": "Segunda opinión", "en": "Second opinion"},
    }
)

DEFAULT_SPECIALTIES: tuple[str, ...] = (
    "Cardiología",
    "Cirugía general",
    "Dermatología",
    "Endocrinología",
    "Gastroenterología",
    "Ginecología y obstetricia",
    "Hematología",
    "Infectología",
    "Medicina interna",
    "Nefrología",
    "Neumología",
    "Neurocirugía",
    "Neurología",
    "Oncología",
    "Ortopedia y traumatología",
    "Pediatría",
    "Psiquiatría",
    "Terapia intensiva",
    "Urgencias",
    "Urología",
)
"""The specialties offered when ``TC_INTERUNIT_SPECIALTIES`` is not set."""

MAX_SITES = 8
"""Sites in one session at most, the coordinator's own included (the SFU forwards 8 publishers)."""

SITE_ROLES: frozenset[Role] = frozenset({Role.PHYSICIAN, Role.NURSE, Role.COORDINATOR, Role.OBSERVER})
"""Roles a site may be invited with (each person arrives by link, see ``roles.LINK_ACTIONS``)."""

MIN_DURATION = timedelta(minutes=15)
MAX_DURATION = timedelta(hours=12)

_CLUES = re.compile(r"^[A-Z]{5}[0-9]{6}$")
"""CLUES (Clave Única de Establecimientos de Salud): 2 letters of the state, 3 of the institution,
6 digits, e.g. ``DFIMS000123``."""


class InterunitErrorCode(StrEnum):
    BAD_INPUT = "bad_payload"
    UNKNOWN_SPECIALTY = "unknown_specialty"
    TOO_MANY_SITES = "too_many_sites"
    NOT_FOUND = "not_found"


class InterunitError(DomainError):
    """Input the inter-unit rules refuse; nothing was changed (a :class:`DomainError`)."""

    CODES: ClassVar[frozenset[str]] = frozenset(InterunitErrorCode)

    def __init__(self, code: InterunitErrorCode, message_es: str, message_en: str) -> None:
        super().__init__(code, message_es, message_en)


def normalize_clues(text: str) -> str:
    """A CLUES code in upper case without spaces, or :class:`InterunitError`."""
    code = text.strip().upper().replace(" ", "").replace("-", "")
    if not _CLUES.match(code):
        raise InterunitError(
            InterunitErrorCode.BAD_INPUT,
            "Una CLUES tiene 5 letras y 6 dígitos, p. ej. DFIMS000123.",
            "A CLUES code is 5 letters and 6 digits, e.g. DFIMS000123.",
        )
    return code


def title(purpose: Purpose, specialty: str) -> str:
    return f"{PURPOSE_LABELS[purpose]['es']} · {specialty}"


def create(
    *,
    session_id: str,
    coordinator: Actor,
    coordinator_name: str,
    purpose: Purpose,
    specialty: str,
    specialties: Sequence[str],
    scheduled_at: datetime,
    duration: timedelta,
    host_clues: str,
    host_unit: str,
    at: datetime,
    unit: str = "",
    patient_nss: str = "",
) -> Transition:
    """The coordinator opens a session; it is live at once with them as host and first site.

    ``host_unit`` is the site's name as shown to the other sites; ``unit`` is the coordinator's unit
    (``StaffMember.unit``), whose staff list shows the session. ``patient_nss`` names the patient a
    case presentation or second opinion is about, so its conclusions go into their record; it is
    never shown to the invited sites.
    """
    if not may(coordinator.role, Action.CREATE_INTERUNIT, via_link=coordinator.via_link):
        raise RuleViolation(
            rules.ViolationCode.FORBIDDEN,
            "Solo una coordinación puede crear una sesión interunidades.",
            "Only a coordinator may create an inter-unit session.",
        )
    if specialty not in specialties:
        raise InterunitError(
            InterunitErrorCode.UNKNOWN_SPECIALTY,
            "Esa especialidad no está en la lista.",
            "That specialty is not on the list.",
        )
    if scheduled_at.tzinfo is None:
        raise InterunitError(
            InterunitErrorCode.BAD_INPUT,
            "La hora programada necesita zona horaria.",
            "The scheduled time needs a time zone.",
        )
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise InterunitError(
            InterunitErrorCode.BAD_INPUT,
            "Una sesión dura de 15 minutos a 12 horas.",
            "A session lasts from 15 minutes to 12 hours.",
        )
    clues = normalize_clues(host_clues)
    nss = parse_nss(patient_nss).value if patient_nss else ""
    created = rules.create(
        consult_id=session_id,
        patient_id=f"none-{session_id}",
        patient_name=title(purpose, specialty),
        appointment_start=scheduled_at,
        appointment_end=scheduled_at + duration,
        created_by=coordinator.participant_id,
        at=at,
        unit=unit,
        patient_nss=nss,
    ).consult
    room = replace(
        created,
        kind=ConsultKind.INTERUNIT,
        state=ConsultState.LIVE,
        host_id=coordinator.participant_id,
        host_name=coordinator_name or None,
        admitted=frozenset({coordinator.participant_id}),
        meta=(
            ("purpose", purpose.value),
            ("specialty", specialty),
            ("host_clues", clues),
            ("host_unit", host_unit),
        ),
    )
    event = SessionEvent(
        session_id,
        EventKind.CREATED,
        at,
        coordinator.participant_id,
        coordinator.role,
        coordinator.connection_id,
        {"kind": ConsultKind.INTERUNIT.value, "purpose": purpose.value, "specialty": specialty},
    )
    return Transition(room, (event,))


def site_invitee(
    participant_id: str, token_id: str, *, role: Role, name: str, clues: str, unit: str
) -> Invitee:
    """The invitee standing for one invited site (its CLUES code checked and normalised)."""
    return Invitee(participant_id, role, name, token_id, normalize_clues(clues), unit)


def add_site(consult: Consult, actor: Actor, site: Invitee, at: datetime) -> Transition:
    """The coordinator invites one more site; the session holds :data:`MAX_SITES` at most."""
    require_session(consult)
    if 1 + len(consult.invitees) >= MAX_SITES:
        raise InterunitError(
            InterunitErrorCode.TOO_MANY_SITES,
            f"Una sesión interunidades une como máximo {MAX_SITES} sedes.",
            f"An inter-unit session joins at most {MAX_SITES} sites.",
        )
    return rules.invite(consult, actor, site, at, roles=SITE_ROLES)


def remove_site(consult: Consult, actor: Actor, site_id: str, at: datetime) -> Transition:
    """The coordinator withdraws a site's invitation: its link stops working, it leaves the call."""
    require_session(consult)
    return rules.revoke_invite(consult, actor, site_id, at)


def find_site(consult: Consult, site_id: str) -> Invitee | None:
    """An invited site of the session (the coordinator's own site is not an invitation)."""
    require_session(consult)
    return rules.find_invitee(consult, site_id)


def require_session(consult: Consult) -> None:
    if consult.kind is not ConsultKind.INTERUNIT:
        raise InterunitError(
            InterunitErrorCode.NOT_FOUND, "No existe esa sesión interunidades.", "No such inter-unit session."
        )


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    clues: str
    unit_name: str
    name: str
    role: Role
    host: bool
    in_call: bool
    token_id: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "site_id": self.site_id,
            "clues": self.clues,
            "unit_name": self.unit_name,
            "name": self.name,
            "role": self.role.value,
            "host": self.host,
            "in_call": self.in_call,
            "token_id": self.token_id,
        }


def sites(consult: Consult) -> list[Site]:
    """The coordinator's own site first, then every invited site in invitation order."""
    require_session(consult)
    host = Site(
        site_id=consult.host_id or "",
        clues=consult.meta_value("host_clues") or "",
        unit_name=consult.meta_value("host_unit") or "",
        name=consult.host_name or "",
        role=Role.COORDINATOR,
        host=True,
        in_call=consult.host_id in consult.in_call,
        token_id=None,
    )
    return [host] + [
        Site(
            site_id=i.participant_id,
            clues=i.unit_clues or "",
            unit_name=i.unit_name or "",
            name=i.name,
            role=i.role,
            host=False,
            in_call=i.participant_id in consult.in_call,
            token_id=i.token_id,
        )
        for i in consult.invitees
    ]


def to_json(consult: Consult) -> dict[str, object]:
    """What the REST API shows of a session (no clinical content)."""
    require_session(consult)
    purpose = Purpose(consult.meta_value("purpose") or Purpose.SECOND_OPINION.value)
    return {
        "session_id": consult.consult_id,
        "purpose": purpose.value,
        "purpose_label": dict(PURPOSE_LABELS[purpose]),
        "specialty": consult.meta_value("specialty"),
        "title": consult.patient_name,
        "scheduled_at": consult.appointment_start.isoformat(),
        "ends_at": consult.appointment_end.isoformat(),
        "state": consult.state.value,
        "locked": consult.locked,
        "coordinator_id": consult.host_id,
        "coordinator_name": consult.host_name,
        "about_a_patient": bool(consult.patient_nss),
        "max_sites": MAX_SITES,
        "sites": [site.to_json() for site in sites(consult)],
    }
