"""Appointments and the unit queues, glued to the live consult.

Booking an appointment creates its consult (same id) and a signed patient link. The consult's
``patient_id`` is a new opaque participant id (the one in the link); the NSS stays in its
``patient_nss`` and in the appointment's ``patient_id`` (server side only). The patient's
``lobby:check_in`` checks the appointment's check-in window and the service hours and puts them in
their unit's queue; a nurse's "next patient" takes the head of that queue atomically and admits
the consult. The rules are all in ``rooms`` (appointments, queue, hours, slots); this module only
reads and writes the stores in the right order. It implements :class:`services.ports.Lobby`.

A join link is valid from booking until two hours after the slot ends, so a patient who opens it
early sees *when* the waiting room opens (``check_in_not_open`` with the time) instead of a bare
"not valid yet"; checking in is what the window restricts. Its token id is the appointment's link
id, so rescheduling or cancelling (a new link generation) makes older links stop working.

:class:`QueueSweep` runs in the background (started by the app's lifecycle): it marks no-shows and,
while the service is closed, closes the unit queues and tells the waiting patients when it opens.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from rooms import appointments as appts
from rooms import consult as consult_rules
from rooms import queue as queue_rules
from rooms.appointments import Appointment, AppointmentKind, AppointmentStatus, BookingRules
from rooms.consult import Actor, Consult, ConsultState, RuleViolation, Transition
from rooms.errors import DomainError
from rooms.hours import ServiceClosed, ServiceHours
from rooms.nurses import Nurse, NurseState
from rooms.patients import Patient
from rooms.queue import Pairing, QueuePolicy, QueuePosition, UnitQueue
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from rooms.staff import StaffMember
from rooms.store.appointments import AppointmentStore
from rooms.store.base import ConsultStore, VersionConflict
from rooms.store.commands import ConsultNotFound, execute
from rooms.store.queue import QueueStore
from rooms.tokens import JoinClaims, issue
from services import notifications as notices
from services.ports import NoOutbox, Outbox

logger = logging.getLogger(__name__)

LINK_GRACE = timedelta(hours=2)
"""Patient links stay valid this long after the slot's end (long calls, reconnections)."""
UNIT_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class AppointmentNotFound(DomainError):
    CODE = "not_found"

    def __init__(self) -> None:
        super().__init__(self.CODE, "Cita no encontrada.", "Appointment not found.")


class ConsultAlreadyStarted(DomainError):
    CODE = "invalid_appointment_state"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "La consulta de esta cita ya empezó o terminó; no se puede cambiar.",
            "This appointment's consult has already started or ended; it cannot be changed.",
        )


@dataclass(frozen=True, slots=True)
class Booking:
    appointment: Appointment
    consult: Consult
    token: str


def new_participant_id() -> str:
    """A patient's participant id in their consult: random, so it tells nobody who they are."""
    return "p-" + secrets.token_hex(8)


def next_opening(hours: ServiceHours, now: datetime) -> datetime | None:
    """When the service next opens after ``now`` (looking a few weeks ahead), or ``None``."""
    for interval in hours.intervals(now, now + timedelta(days=21)):
        if interval.start > now:
            return interval.start
    return None


def _new_consult(appointment: Appointment, patient: Patient, created_by: str, now: datetime) -> Transition:
    """The consult an appointment opens; the patient's participant id is opaque: everyone in the
    call sees it, never the NSS."""
    return consult_rules.create(
        consult_id=appointment.appointment_id,
        patient_id=new_participant_id(),
        patient_nss=patient.patient_id,
        patient_name=patient.name,
        appointment_start=appointment.start,
        appointment_end=appointment.end,
        created_by=created_by,
        at=now,
        unit=appointment.unit,
    )


class Scheduling:
    def __init__(
        self,
        *,
        appointments: AppointmentStore,
        queues: QueueStore,
        consults: ConsultStore,
        rules: BookingRules,
        token_key: bytes,
        clock: Callable[[], datetime],
        outbox: Outbox | None = None,
    ) -> None:
        self.appointments = appointments
        self.queues = queues
        self.consults = consults
        self.rules = rules
        """Replaced once by the demo (always open) before it books; otherwise fixed at start."""
        self._token_key = token_key
        self._clock = clock
        self.outbox: Outbox = outbox or NoOutbox()
        """Where appointment changes record the patient's messages (set by the composition root)."""

    @property
    def capacity(self) -> int:
        return self.rules.slots.capacity

    def link_token(self, appointment: Appointment, consult: Consult, now: datetime) -> str:
        claims = JoinClaims(
            consult_id=consult.consult_id,
            participant_id=consult.patient_id,
            role=Role.PATIENT,
            not_before=int((now - timedelta(minutes=1)).timestamp()),
            expires_at=int((appointment.end + LINK_GRACE).timestamp()),
            token_id=appointment.link_id,
        )
        return issue(self._token_key, claims)

    async def _existing(self, patient_id: str) -> list[Appointment]:
        """What the rules check a booking against before the store: the patient's own appointments.

        Not the slot's: the store counts a slot's holders as it writes (atomically, in constant
        time however full the slot is) and refuses a full one with the same ``SlotTaken``.
        """
        return await self.appointments.for_patient(patient_id)

    # -- booking -------------------------------------------------------------------------------

    async def book(
        self,
        *,
        patient: Patient,
        unit: str,
        kind: AppointmentKind,
        start: datetime,
        created_by: str,
        booked_at: datetime | None = None,
        channels: Sequence[str] | None = None,
        outbox: Outbox | None = None,
        appointment_id: str | None = None,
    ) -> Booking:
        """Book the slot, create its consult and sign the patient's link; nothing is stored on error.

        ``booked_at`` is for the demo only, which books the slot already running "just before" it began.
        ``channels``: where the patient wants messages (default: their reachable ones); the messages
        are recorded through ``outbox`` (default: this service's) with the stores' writes.
        ``appointment_id``: chosen by the caller (an idempotent booking derives it from the client's
        key; see services/idempotent_booking.py).
        """
        now = self._clock()
        at = booked_at or now
        appointment = appts.book(
            appointment_id=appointment_id or "c-" + secrets.token_hex(6),
            patient=patient,
            unit=unit,
            kind=kind,
            start=start,
            rules=self.rules,
            existing=await self._existing(patient.patient_id),
            now=at,
        )
        created = _new_consult(appointment, patient, created_by, now)
        token = self.link_token(appointment, created.consult, now)

        async def write() -> None:
            await self.appointments.add(appointment, self.capacity)
            await self.appointments.put_patient(patient)
            await self.consults.add(created)

        change = notices.booked(
            appointment, patient, token=token, now=now, channels=channels, chosen_by=created_by
        )
        await (outbox or self.outbox).record(change, write)
        return Booking(appointment, created.consult, token)

    async def complete_booking(
        self, appointment: Appointment, patient: Patient, created_by: str, now: datetime
    ) -> Booking:
        """Store the patient and the consult of an appointment whose booking stopped after storing
        it (an idempotent retry finishes it), and sign the link."""
        await self.appointments.put_patient(patient)
        created = _new_consult(appointment, patient, created_by, now)
        await self.consults.add(created)
        return Booking(appointment, created.consult, self.link_token(appointment, created.consult, now))

    async def _require(self, appointment_id: str) -> tuple[Appointment, Consult]:
        appointment = await self.appointments.get(appointment_id)
        consult = await self.consults.get(appointment_id)
        if appointment is None or consult is None:
            raise AppointmentNotFound()
        return appointment, consult

    async def reschedule(self, appointment_id: str, start: datetime) -> Booking:
        """Move to another slot: the old link is revoked, the patient leaves the queue, a new link is made."""
        now = self._clock()
        current, consult = await self._require(appointment_id)
        if consult.state not in (ConsultState.SCHEDULED, ConsultState.WAITING):
            raise ConsultAlreadyStarted()
        moved = appts.reschedule(
            current,
            start=start,
            rules=self.rules,
            existing=await self._existing(current.patient_id),
            now=now,
        )

        def move(c: Consult) -> Transition:
            if c.state not in (ConsultState.SCHEDULED, ConsultState.WAITING):
                raise ConsultAlreadyStarted()
            return Transition(
                replace(
                    c,
                    appointment_start=moved.start,
                    appointment_end=moved.end,
                    state=ConsultState.SCHEDULED,
                    checked_in_at=None,
                    version=c.version + 1,
                ),
                (),
            )

        async def write() -> Transition:
            await self.appointments.save(moved, current.version, self.capacity)
            await self.consults.revoke_token(current.link_id)
            await self.queues.cancel(current.unit, appointment_id)
            return await execute(self.consults, appointment_id, move)

        token = self.link_token(moved, consult, now)  # the patient's participant id does not change
        transition = await self.outbox.record(
            await self._change(
                moved, lambda patient: notices.rescheduled(moved, patient, token=token, now=now)
            ),
            write,
        )
        return Booking(moved, transition.consult, token)

    async def _change(
        self, appointment: Appointment, plan: Callable[[Patient], notices.AppointmentChange]
    ) -> notices.AppointmentChange:
        """``plan``'s messages to the appointment's patient; none if the store lacks the patient."""
        patient = await self.appointments.get_patient(appointment.patient_id)
        if patient is None:
            return notices.AppointmentChange(appointment.appointment_id, appointment.link_generation, ())
        return plan(patient)

    async def cancel(self, appointment_id: str, staff: StaffMember) -> tuple[Appointment, Consult]:
        """Give the slot back: the link is revoked, the patient leaves the queue and the consult ends."""
        now = self._clock()
        current, consult = await self._require(appointment_id)
        cancelled = appts.cancel(current, now)
        if cancelled is current:
            return current, consult
        if consult.state not in (ConsultState.SCHEDULED, ConsultState.WAITING):
            raise ConsultAlreadyStarted()
        actor = Actor(staff.staff_id, staff.role, unit=staff.unit)

        async def write() -> Transition:
            await self.appointments.save(cancelled, current.version, self.capacity)
            await self.consults.revoke_token(current.link_id)
            await self.queues.cancel(current.unit, appointment_id)
            return await execute(self.consults, appointment_id, lambda c: consult_rules.end(c, actor, now))

        change = await self._change(cancelled, lambda patient: notices.cancelled(cancelled, patient, now=now))
        transition = await self.outbox.record(change, write)
        return cancelled, transition.consult

    # -- the waiting room (services.ports.Lobby) ---------------------------------------------------

    async def check_in(self, consult_id: str, token_id: str | None, now: datetime) -> None:
        appointment = await self.appointments.get(consult_id)
        if appointment is None:
            return  # a consult without an appointment: nothing to check
        if appointment.status is AppointmentStatus.CANCELLED:
            raise appts.AppointmentCancelled()
        if token_id is not None and token_id != appointment.link_id:
            raise appts.LinkRevoked()
        if appointment.status is AppointmentStatus.CHECKED_IN:
            # A reload or a reconnection: same place in the queue, whatever the time.
            if await self.queues.rejoin(appointment.unit, consult_id) is not None:
                return
            if await self._paired(appointment):
                return  # a nurse just took them ("next patient"); her admission follows
        refusal = self._refusal(appointment, now)
        if refusal is not None:
            raise refusal
        if appointment.status is not AppointmentStatus.BOOKED:
            return  # admitted: the consult's own state decides
        checked = appts.check_in(appointment, now)
        await self.appointments.save(checked, appointment.version, self.capacity)  # VersionConflict: conflict
        await self.queues.check_in(queue_rules.entry_for(checked, self.queue_policy))

    async def _paired(self, appointment: Appointment) -> bool:
        nurses = await self.queues.nurses(appointment.unit)
        return any(n.appointment_id == appointment.appointment_id for n in nurses.values())

    def _refusal(self, appointment: Appointment, now: datetime) -> DomainError | None:
        """Why the patient may not check in now (``None``: they may), without changing anything.

        Also what a patient who is checked in but no longer queued (the service closed before a
        nurse was free) is told: the service is closed, or their time is over.
        """
        status = appointment.status
        if status is AppointmentStatus.CANCELLED:
            return appts.AppointmentCancelled()
        if status is AppointmentStatus.ADMITTED:
            return None
        window = appointment.check_in_window
        closed = appts.CheckInClosed()
        if status is not AppointmentStatus.CHECKED_IN and now >= window.not_after:
            return closed
        hours = self.rules.hours
        if not hours.is_open(now):
            opens = next_opening(hours, now)
            if opens is not None and opens < window.not_before:
                opens = window.not_before
            return ServiceClosed(opens)
        if status is not AppointmentStatus.BOOKED:
            return closed
        if now < window.not_before:
            return appts.CheckInNotOpen(window.not_before)
        return None

    async def check_in_refusal(self, appointment: Appointment, now: datetime) -> DomainError | None:
        """For the patient's page before they check in: what checking in now would answer."""
        if appointment.status is AppointmentStatus.CHECKED_IN:
            entry_or_pair = await self.queues.position(appointment.unit, appointment.appointment_id, now)
            if entry_or_pair is not None or await self._paired(appointment):
                return None
        return self._refusal(appointment, now)

    async def dropped(self, consult_id: str, now: datetime) -> None:
        appointment = await self.appointments.get(consult_id)
        if appointment is not None and appointment.status is AppointmentStatus.CHECKED_IN:
            await self.queues.drop(appointment.unit, consult_id, now)

    async def returned(self, consult_id: str) -> None:
        appointment = await self.appointments.get(consult_id)
        if appointment is not None and appointment.status is AppointmentStatus.CHECKED_IN:
            await self.queues.rejoin(appointment.unit, consult_id)

    async def admitted(self, consult_id: str, host_id: str, now: datetime) -> None:
        """The patient is in the call: their appointment is admitted, they leave the queue, and the
        admitting staff member is in that consult (availability follows what she does)."""
        appointment = await self._save_appointment(consult_id, appts.admit, AppointmentStatus.CHECKED_IN)
        if appointment is None:
            return
        await self.outbox.record(
            await self._nurse_ready(appointment, now),
            lambda: self.queues.cancel(appointment.unit, consult_id),
        )
        host = (await self.queues.nurses(appointment.unit)).get(host_id)
        if host is None:
            # Not one of the unit's queue nurses (e.g. a physician admitting from the list): she
            # is not counted on duty, but a nurse paired with this patient is free again.
            await self._release_paired(appointment.unit, consult_id, now, keep=None)
            return
        await self._reconcile_nurse(host, now, keep=consult_id)
        await self.queues.take_directly(appointment.unit, host_id, consult_id, now)

    async def _nurse_ready(self, appointment: Appointment, now: datetime) -> notices.AppointmentChange:
        """Tell a patient admitted while their page was not connected that the nurse is ready (they
        dropped while waiting: only the list admits them, as "next patient" takes connected patients
        only); nothing for a patient who is there."""
        place = await self.queues.position(appointment.unit, appointment.appointment_id, now)
        consult = (
            None if place is None or place.connected else await self.consults.get(appointment.appointment_id)
        )
        if consult is None:
            return notices.AppointmentChange(appointment.appointment_id, appointment.link_generation, ())
        token = self.link_token(appointment, consult, now)
        return await self._change(
            appointment, lambda p: notices.nurse_ready(appointment, p, token=token, now=now)
        )

    async def _save_appointment(
        self,
        consult_id: str,
        change: Callable[[Appointment, datetime], Appointment],
        *only: AppointmentStatus,
    ) -> Appointment | None:
        """Apply ``change`` to the consult's appointment with compare-and-set, retrying a few times;
        ``None`` when it has no appointment or is in none of ``only`` (when given)."""
        for _ in range(5):
            appointment = await self.appointments.get(consult_id)
            if appointment is None or (only and appointment.status not in only):
                return None
            changed = change(appointment, self._clock())
            if changed is appointment:
                return appointment
            try:
                await self.appointments.save(changed, appointment.version, self.capacity)
                return changed
            except VersionConflict:
                continue
        raise VersionConflict(consult_id)

    async def _release_paired(self, unit: str, consult_id: str, now: datetime, keep: str | None) -> None:
        """Free every nurse of ``unit`` whom "next patient" paired with ``consult_id`` (but ``keep``)."""
        for nurse in (await self.queues.nurses(unit)).values():
            if nurse.appointment_id == consult_id and nurse.nurse_id != keep:
                await self.queues.release_nurse(unit, nurse.nurse_id, consult_id, now)

    async def _reconcile_nurse(self, nurse: Nurse, now: datetime, keep: str | None = None) -> None:
        """Make the nurse's queue state agree with the consult she is marked as in.

        A nurse "in consult" on a consult that ended, that someone else hosts, or that went back to
        scheduled (denied, sent home) is released; one paired by "next patient" with a patient she
        has not admitted yet gives the patient back to their place in the queue. A nurse hosting
        her live consult stays in it. ``keep``: the consult she is about to take; left alone. ``nurse``
        is her state as the store just answered it (no second read of the whole unit).
        """
        if nurse.state is not NurseState.IN_CONSULT or nurse.appointment_id is None:
            return
        unit, nurse_id = nurse.unit, nurse.nurse_id
        paired = nurse.appointment_id
        if paired == keep:
            return
        consult = await self.consults.get(paired)
        if consult is not None and consult.state is ConsultState.LIVE and consult.host_id == nurse_id:
            return
        requeue = None
        if consult is not None and consult.state is ConsultState.WAITING:
            appointment = await self.appointments.get(paired)
            if appointment is not None and appointment.status is AppointmentStatus.CHECKED_IN:
                requeue = queue_rules.entry_for(appointment, self.queue_policy)
        await self.queues.release_nurse(unit, nurse_id, paired, now, requeue)

    async def _is_patient(self, consult_id: str, participant_id: str) -> bool:
        """Whether ``participant_id`` is the consult's patient (an appointment's own ``patient_id``
        is the NSS, never a participant id)."""
        consult = await self.consults.get(consult_id)
        return consult is not None and consult.patient_id == participant_id

    async def denied(self, consult_id: str, participant_id: str) -> None:
        # A denied patient must not be handed to the next nurse who presses "next patient", and a
        # nurse already paired with them is free again.
        appointment = await self.appointments.get(consult_id)
        if appointment is not None and await self._is_patient(consult_id, participant_id):
            await self.queues.cancel(appointment.unit, consult_id)
            await self._release_paired(appointment.unit, consult_id, self._clock(), keep=None)

    async def reinvited(self, consult_id: str, participant_id: str) -> None:
        appointment = await self.appointments.get(consult_id)
        if (
            appointment is not None
            and appointment.status is AppointmentStatus.CHECKED_IN
            and await self._is_patient(consult_id, participant_id)
        ):
            # Ordered by appointment and check-in time as before: re-invited, not sent to the back.
            await self.queues.check_in(queue_rules.entry_for(appointment, self.queue_policy))

    async def ended(self, consult_id: str, host_id: str | None, now: datetime) -> None:
        """The consult ended (by its host, a cancellation, a no-show, the unit's staff): the
        appointment, the queue and the nurses follow, so none of them still shows it as to come.

        The host's consult time is over (wrap-up starts); any other nurse paired with it by
        "next patient" before it was admitted is available again. Idempotent.
        """
        appointment = await self.appointments.get(consult_id)
        if appointment is None:
            return
        await self.queues.cancel(appointment.unit, consult_id)
        await self._save_appointment(consult_id, appts.consult_ended)
        for nurse in (await self.queues.nurses(appointment.unit)).values():
            if nurse.state is not NurseState.IN_CONSULT or nurse.appointment_id != consult_id:
                continue
            if nurse.nurse_id == host_id:
                await self.queues.finish_consult(appointment.unit, nurse.nurse_id, now)
            else:
                await self.queues.release_nurse(appointment.unit, nurse.nurse_id, consult_id, now)

    # -- nurses and the queue ------------------------------------------------------------------

    @property
    def queue_policy(self) -> QueuePolicy:
        store_policy = getattr(self.queues, "policy", None)
        return store_policy if isinstance(store_policy, QueuePolicy) else QueuePolicy()

    async def set_nurse_state(self, member: StaffMember, state: NurseState) -> Nurse:
        """Available or away; a nurse marked in a consult that is over (or never happened) is
        released first, so she can always go available unless she is hosting a live call."""
        now = self._clock()
        await self._reconcile_nurse(await self.queues.register_nurse(member.unit, member.staff_id), now)
        return await self.queues.set_nurse_state(member.unit, member.staff_id, state, now)

    async def nurse(self, member: StaffMember) -> Nurse:
        return await self.queues.register_nurse(member.unit, member.staff_id)

    async def next_patient(self, member: StaffMember, unit: str) -> Pairing | None:
        """The head of the unit's eligible queue for this nurse, atomically (WrongUnit if not hers)."""
        if member.unit != unit:
            raise queue_rules.WrongUnit(unit)
        now = self._clock()
        await self._reconcile_nurse(await self.queues.register_nurse(unit, member.staff_id), now)
        while True:
            pairing = await self.queues.next_patient(unit, member.staff_id, now)
            if pairing is None:
                return None
            consult_id = pairing.entry.appointment_id
            consult = await self.consults.get(consult_id)
            if consult is not None and consult.state is ConsultState.WAITING:
                return pairing
            # The queue still held a consult that is no longer waiting (it ended or was denied on
            # another path): it is gone from the queue now; free the nurse and take the next one.
            logger.warning("queue of unit %s held consult %s that is not waiting", unit, consult_id)
            await self.queues.release_nurse(unit, member.staff_id, consult_id, now)

    async def queue(self, unit: str, host_id: str) -> tuple[UnitQueue, list[Consult]]:
        """A console's snapshot: the unit's queue at its version, and the consults its list shows
        (the unit's open ones and those ``host_id`` hosts), read after the queue's version so the
        numbered changes that follow it bring the list up to date."""
        state = await self.queues.snapshot(unit)
        listed = {c.consult_id: c for c in await self.consults.open_in_unit(unit)}
        for hosted in await self.consults.open_hosted_by(host_id):
            listed.setdefault(hosted.consult_id, hosted)
        return state, list(listed.values())

    async def position(
        self, consult_id: str, participant_id: str
    ) -> tuple[Appointment | None, QueuePosition | None]:
        """The appointment and queue place of ``consult_id`` for its patient ``participant_id``;
        ``(None, None)`` when the consult has no appointment or that is not its patient."""
        appointment = await self.appointments.get(consult_id)
        if appointment is None or not await self._is_patient(consult_id, participant_id):
            return None, None
        return appointment, await self.queues.position(appointment.unit, consult_id, self._clock())

    async def consult_for(self, consult_id: str) -> Consult:
        consult = await self.consults.get(consult_id)
        if consult is None:
            raise ConsultNotFound(consult_id)
        return consult


SWEEP_ACTOR = "system:queue-sweep"
"""Who the session log names for what the sweep did (no person decided it)."""


class LiveNotices(Protocol):
    """What the sweep tells the live side (:class:`services.consults.ConsultService` implements it)."""

    async def consult_closed(self, consult_id: str, at: datetime, reason: str) -> None: ...

    async def tell_participant(self, participant_id: str, event: str, payload: dict[str, object]) -> None: ...

    async def publish_queue(self, unit: str, consult_id: str | None = None) -> None:
        """``unit``'s list changed (by ``consult_id``'s change): tell that unit's staff consoles."""


@dataclass(frozen=True, slots=True)
class SweepResult:
    no_shows: tuple[str, ...] = ()
    """Appointments (consults) marked as no-shows; their consults ended."""
    sent_home: tuple[str, ...] = ()
    """Patients still waiting when the service closed, in queue order per unit."""


def _by_sweep(event: SessionEvent, **detail: str) -> SessionEvent:
    return replace(event, actor_id=SWEEP_ACTOR, actor_role=None, detail={**event.detail, **detail})


class QueueSweep:
    """Every ``interval`` seconds: mark due no-shows and, while the service is closed, close the queues.

    * A booked appointment whose check-in window closed without a check-in becomes a no-show: it
      leaves its unit's queue, its consult ends (``ended`` with ``reason: no_show`` in the session
      log, which is archived like any ended consult) and an open page hears ``consult:ended``.
    * While the service is closed, every unit queue with someone waiting is closed: each patient's
      consult goes back to ``scheduled`` (``queue_closed`` in its log), their appointment stays
      checked in so staff can offer a new slot (reschedule), and their page hears ``lobby:closed``
      with the next opening.

    Every step is a compare-and-set or an atomic store operation, so several nodes may sweep at
    once; whatever one of them did first the others skip. :meth:`run_once` is what tests call.
    """

    def __init__(
        self,
        scheduling: Scheduling,
        notices: LiveNotices,
        *,
        clock: Callable[[], datetime],
        interval: float = 60.0,
    ) -> None:
        self._scheduling = scheduling
        self._notices = notices
        self._clock = clock
        self._interval = interval

    async def run_once(self) -> SweepResult:
        now = self._clock()
        scheduling = self._scheduling
        no_shows: list[str] = []
        # Only what is due: the head of the stores' indexes, never the whole service.
        for appointment in await scheduling.appointments.due(now):
            consult = await scheduling.consults.get(appointment.appointment_id)
            if consult is None or consult.state is not ConsultState.SCHEDULED:
                continue
            if appts.no_show_due(appointment, now) and await self._no_show(appointment, now):
                no_shows.append(appointment.appointment_id)
        sent_home: list[str] = []
        hours = scheduling.rules.hours
        if not hours.is_open(now):
            opens = next_opening(hours, now)
            for unit in await scheduling.queues.occupied():
                for entry in await scheduling.queues.close(unit):
                    if await self._send_home(entry.appointment_id, now, opens):
                        sent_home.append(entry.appointment_id)
                        # Its row changes (back to scheduled); the no-shows' went with consult_closed.
                        await self._notices.publish_queue(unit, entry.appointment_id)
        return SweepResult(tuple(no_shows), tuple(sent_home))

    async def _no_show(self, appointment: Appointment, now: datetime) -> bool:
        scheduling = self._scheduling
        try:
            await scheduling.appointments.save(
                appts.mark_no_show(appointment, now), appointment.version, scheduling.capacity
            )
        except (VersionConflict, DomainError):
            return False  # it changed meanwhile (checked in, cancelled, another node's sweep)
        await scheduling.queues.cancel(appointment.unit, appointment.appointment_id)

        def end(c: Consult) -> Transition:
            # The sweep acts for the consult's own unit: no person decided it.
            ended = consult_rules.end(c, Actor(SWEEP_ACTOR, Role.COORDINATOR, unit=c.unit), now)
            return Transition(ended.consult, tuple(_by_sweep(e, reason="no_show") for e in ended.events))

        try:
            await execute(scheduling.consults, appointment.appointment_id, end)
        except (ConsultNotFound, RuleViolation, VersionConflict):
            return True  # the appointment is a no-show; its consult had already ended
        await self._notices.consult_closed(appointment.appointment_id, now, "no_show")
        return True

    async def _send_home(self, consult_id: str, now: datetime, opens: datetime | None) -> bool:
        def back(c: Consult) -> Transition:
            if c.state is not ConsultState.WAITING:
                return Transition(c, ())
            event = SessionEvent(
                c.consult_id,
                EventKind.QUEUE_CLOSED,
                now,
                SWEEP_ACTOR,
                None,
                None,
                {"reason": "service_closed", "previous_state": c.state.value},
            )
            home = replace(c, state=ConsultState.SCHEDULED, checked_in_at=None, version=c.version + 1)
            return Transition(home, (event,))

        try:
            transition = await execute(self._scheduling.consults, consult_id, back)
        except (ConsultNotFound, VersionConflict):
            return False
        if not transition.events:
            return False
        payload: dict[str, object] = {
            "consult_id": consult_id,
            "code": ServiceClosed.CODE,
            "opens_at": opens.isoformat() if opens is not None else None,
        }
        await self._notices.tell_participant(transition.consult.patient_id, "lobby:closed", payload)
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception as error:  # the next round tries again
                logger.error("queue sweep failed: %s", type(error).__name__, exc_info=error)

    async def lifecycle(self, _: object) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``: sweep in the background while the app runs (never if interval is 0)."""
        task = asyncio.get_running_loop().create_task(self._loop()) if self._interval > 0 else None
        yield
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
