"""Inter-unit (hospital telemedicine) sessions: a coordinator opens one and invites other sites.

The rules are ``rooms/interunit.py``'s; a session is an ordinary consult room its coordinator
hosts from the start, so its sites are invitations (:mod:`services.invitations`).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rooms import interunit
from rooms.consult import Actor, Consult, ConsultKind, RuleViolation, ViolationCode
from rooms.errors import DomainError
from rooms.interunit import InterunitError, InterunitErrorCode, Purpose, Site
from rooms.roles import Role
from rooms.store.base import ConsultStore
from services.consults import ConsultService
from services.invitations import Invitations, new_invitee


class UnknownPatient(DomainError):
    CODE = "unknown_patient"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Ese paciente no está registrado en el expediente.",
            "That patient is not in the clinical record.",
        )


class OwnSiteStays(DomainError):
    CODE = "invalid_state"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "La sede de la coordinación no se puede quitar; termine la sesión.",
            "The coordinator's own site cannot be removed; end the session.",
        )


@dataclass(frozen=True, slots=True)
class SessionPatients:
    """What the clinical record tells and grants about the patient a session is about."""

    known: Callable[[str], Awaitable[bool]]
    """Whether the record has a patient with this NSS."""
    grant_care: Callable[[Consult, str], Awaitable[None]]
    """Give the session's host a role in its patient's care (session, client address)."""


@dataclass(frozen=True, slots=True)
class NewSession:
    purpose: Purpose
    specialty: str
    scheduled_at: datetime
    duration: timedelta
    clues: str
    unit_name: str
    patient_nss: str = ""


class InterunitSessions:
    def __init__(
        self,
        *,
        store: ConsultStore,
        consults: ConsultService,
        invitations: Invitations,
        specialties: Sequence[str],
        clock: Callable[[], datetime],
        patients: SessionPatients | None = None,
    ) -> None:
        self._store = store
        self._consults = consults
        self._invitations = invitations
        self._specialties = specialties
        self._clock = clock
        self._patients = patients

    async def create(
        self, coordinator: Actor, coordinator_name: str, session: NewSession, address: str
    ) -> Consult:
        """Open a session hosted by ``coordinator``; about a registered patient or none."""
        transition = interunit.create(
            session_id="iu-" + secrets.token_hex(6),
            coordinator=coordinator,
            coordinator_name=coordinator_name,
            purpose=session.purpose,
            specialty=session.specialty,
            specialties=self._specialties,
            scheduled_at=session.scheduled_at,
            duration=session.duration,
            host_clues=session.clues,
            host_unit=session.unit_name,
            at=self._clock(),
            unit=coordinator.unit,
            patient_nss=session.patient_nss,
        )
        opened = transition.consult
        if opened.patient_nss and (
            self._patients is None or not await self._patients.known(opened.patient_nss)
        ):
            raise UnknownPatient()
        await self._store.add(transition)
        if opened.patient_nss and self._patients is not None:
            # The coordinator hosts from the start (no admission): her role in the patient's care
            # begins here, so she may write the session's conclusions into their record.
            await self._patients.grant_care(opened, address)
        await self._consults.live.room_opened(opened)
        return opened

    async def hosted(self, coordinator: Actor, session_id: str) -> Consult:
        """The session, for the coordinator who hosts it (anyone else: ``not_your_consult``)."""
        session = await self._store.get(session_id)
        if session is None or session.kind is not ConsultKind.INTERUNIT:
            raise InterunitError(
                InterunitErrorCode.NOT_FOUND,
                "No existe esa sesión interunidades.",
                "No such inter-unit session.",
            )
        if session.host_id != coordinator.participant_id:
            raise RuleViolation(
                ViolationCode.NOT_YOUR_CONSULT,
                "Esta sesión la coordina otra persona.",
                "Another coordinator runs this session.",
            )
        return session

    async def add_site(
        self, coordinator: Actor, session_id: str, *, role: Role, name: str, clues: str, unit_name: str
    ) -> tuple[Site, str]:
        """Invite one more site: its view and its link's token."""
        session = await self.hosted(coordinator, session_id)
        now = self._clock()
        guest = new_invitee(role, name)
        site = interunit.site_invitee(
            guest.participant_id, guest.token_id or "", role=role, name=name, clues=clues, unit=unit_name
        )
        token = await self._invitations.issue(
            session.consult_id, site, lambda c: interunit.add_site(c, coordinator, site, now)
        )
        updated = await self._consults.get(session.consult_id)
        [view] = [s for s in interunit.sites(updated) if s.site_id == site.participant_id]
        return view, token

    async def remove_site(self, coordinator: Actor, session_id: str, site_id: str) -> Consult:
        session = await self.hosted(coordinator, session_id)
        if site_id == session.host_id:
            raise OwnSiteStays()
        if interunit.find_site(session, site_id) is None:
            raise InterunitError(InterunitErrorCode.NOT_FOUND, "No existe esa sede.", "No such site.")
        return await self._invitations.revoke(coordinator, session.consult_id, site_id)

    async def of(self, coordinator: Actor) -> list[Consult]:
        """The open sessions ``coordinator`` hosts."""
        hosted = await self._store.open_hosted_by(coordinator.participant_id)
        return [c for c in hosted if c.kind is ConsultKind.INTERUNIT]
