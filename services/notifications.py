"""Which messages an appointment change sends the patient, on which channels, and when.

Pure planning: the use cases (:mod:`services.scheduling`) hand the result to the
:class:`services.ports.Outbox` port together with their own store writes, so the messages are
recorded in the same transaction as the change. Sending is the ``notifications`` edge's business.

A booking sends a confirmation now and reminders 24 hours and 1 hour before the slot (instants,
so each reaches the patient at the right local time whatever their zone's DST does); a reschedule
sends "moved" and the new reminders (the old ones are withdrawn); a cancellation sends "cancelled".
Each message's idempotency key is ``<appointment>/<link generation>:<kind>:<channel>``: recording
the same change twice stores it once, and a message is never sent twice under two keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rooms.appointments import Appointment
from rooms.patients import InvalidPatient, Patient


class MessageKind(StrEnum):
    CONFIRMATION = "confirmation"
    REMINDER_24H = "reminder_24h"
    REMINDER_1H = "reminder_1h"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    NURSE_READY = "nurse_ready"
    SUMMARY_READY = "summary_ready"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


REMINDERS = ((MessageKind.REMINDER_24H, timedelta(hours=24)), (MessageKind.REMINDER_1H, timedelta(hours=1)))


def same_kind(kind: MessageKind) -> tuple[MessageKind, ...]:
    """The kinds a patient stops by stopping ``kind`` from its unsubscribe link: "no more reminders"
    means neither of them, whichever reminder carried the link."""
    reminders = tuple(reminder for reminder, _ in REMINDERS)
    return reminders if kind in reminders else (kind,)


@dataclass(frozen=True, slots=True)
class PatientMessage:
    """One message to send: field for field what the outbox stores (``records.outbox.OutboxEntry``)."""

    idempotency_key: str
    unit: str
    appointment_id: str
    generation: int
    kind: str
    channel: str
    address: str
    patient_nss: str
    first_name: str
    language: str
    time_zone: str
    starts_at: datetime
    ends_at: datetime
    token: str | None
    due_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    """A patient's choice of one channel, and who recorded it (``booking:<staff id>``)."""

    patient_nss: str
    channel: str
    enabled: bool
    source: str


@dataclass(frozen=True, slots=True)
class AppointmentChange:
    """What a change of an appointment records in the outbox, beside the stores' own writes.

    ``choices`` are recorded as they are; ``default_choices`` only for a channel the patient has
    never chosen either way (a booking that names no channels keeps the patient's earlier choices).
    """

    appointment_id: str
    generation: int
    messages: tuple[PatientMessage, ...]
    choices: tuple[ChannelChoice, ...] = ()
    default_choices: tuple[ChannelChoice, ...] = ()


def reachable(patient: Patient) -> tuple[Channel, ...]:
    """The channels the patient's contact allows: e-mail with an address, SMS and WhatsApp with a phone."""
    channels: list[Channel] = []
    if patient.contact.email:
        channels.append(Channel.EMAIL)
    if patient.contact.phone:
        channels += [Channel.SMS, Channel.WHATSAPP]
    return tuple(channels)


def default_channels(patient: Patient) -> tuple[Channel, ...]:
    """Without a choice: e-mail if there is one, SMS if there is a phone (WhatsApp only when asked)."""
    return tuple(c for c in reachable(patient) if c is not Channel.WHATSAPP)


def first_name(name: str) -> str:
    """The most a message says about who it is for: the first given name."""
    return name.split()[0] if name.split() else ""


def _address(patient: Patient, channel: Channel) -> str | None:
    return patient.contact.email if channel is Channel.EMAIL else patient.contact.phone


def messages(
    kind: MessageKind,
    appointment: Appointment,
    patient: Patient,
    *,
    token: str | None,
    due_at: datetime,
) -> tuple[PatientMessage, ...]:
    """``kind`` on every channel the patient can be reached on (their choices filter it when recorded)."""
    planned: list[PatientMessage] = []
    for channel in reachable(patient):
        address = _address(patient, channel)
        if address is None:
            continue
        key = f"{appointment.appointment_id}/{appointment.link_generation}:{kind.value}:{channel.value}"
        planned.append(
            PatientMessage(
                idempotency_key=key,
                unit=appointment.unit,
                appointment_id=appointment.appointment_id,
                generation=appointment.link_generation,
                kind=kind.value,
                channel=channel.value,
                address=address,
                patient_nss=patient.patient_id,
                first_name=first_name(patient.name),
                language=patient.language.value,
                time_zone=appointment.patient_zone,
                starts_at=appointment.start,
                ends_at=appointment.end,
                token=token,
                due_at=due_at,
            )
        )
    return tuple(planned)


def _with_reminders(
    kind: MessageKind, appointment: Appointment, patient: Patient, token: str, now: datetime
) -> tuple[PatientMessage, ...]:
    planned = list(messages(kind, appointment, patient, token=token, due_at=now))
    for reminder, before in REMINDERS:
        due = appointment.start - before
        if due > now:  # a reminder whose moment has passed would only arrive late
            planned += messages(reminder, appointment, patient, token=token, due_at=due)
    return tuple(planned)


def booked(
    appointment: Appointment,
    patient: Patient,
    *,
    token: str,
    now: datetime,
    channels: Sequence[str] | None,
    chosen_by: str,
) -> AppointmentChange:
    """The confirmation and the reminders, and the patient's choice of channels.

    ``channels=None`` (the booking names none): the patient's recorded choices stand, and only a
    channel never chosen gets the default (:func:`default_channels`). A chosen channel the patient's
    contact cannot reach (SMS without a phone) is refused.
    """
    chosen = set(channels) if channels is not None else set(default_channels(patient))
    if not chosen <= set(reachable(patient)):
        raise InvalidPatient(
            "channels",
            "no hay teléfono o correo para ese medio de aviso",
            "there is no phone or e-mail for that channel",
        )
    choices = tuple(
        ChannelChoice(patient.patient_id, channel.value, channel.value in chosen, f"booking:{chosen_by}")
        for channel in reachable(patient)
    )
    return AppointmentChange(
        appointment.appointment_id,
        appointment.link_generation,
        _with_reminders(MessageKind.CONFIRMATION, appointment, patient, token, now),
        choices=choices if channels is not None else (),
        default_choices=choices if channels is None else (),
    )


def rescheduled(
    appointment: Appointment, patient: Patient, *, token: str, now: datetime
) -> AppointmentChange:
    """ "Your appointment moved" with the new link, and the new slot's reminders."""
    return AppointmentChange(
        appointment.appointment_id,
        appointment.link_generation,
        _with_reminders(MessageKind.RESCHEDULED, appointment, patient, token, now),
    )


def cancelled(appointment: Appointment, patient: Patient, *, now: datetime) -> AppointmentChange:
    """ "Your appointment was cancelled" (no link: it no longer works)."""
    return AppointmentChange(
        appointment.appointment_id,
        appointment.link_generation,
        messages(MessageKind.CANCELLED, appointment, patient, token=None, due_at=now),
    )


def nurse_ready(
    appointment: Appointment, patient: Patient, *, token: str, now: datetime
) -> AppointmentChange:
    """ "Your nurse is ready, join now" with the patient's (still valid) link."""
    return AppointmentChange(
        appointment.appointment_id,
        appointment.link_generation,
        messages(MessageKind.NURSE_READY, appointment, patient, token=token, due_at=now),
    )


def summary_ready(
    appointment: Appointment, patient: Patient, *, summary_token: str, now: datetime
) -> AppointmentChange:
    """ "Your summary is ready" with the lasting summary link (a token that reads the summary only)."""
    return AppointmentChange(
        appointment.appointment_id,
        appointment.link_generation,
        messages(MessageKind.SUMMARY_READY, appointment, patient, token=summary_token, due_at=now),
    )
