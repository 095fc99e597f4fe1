"""What each message says, in Spanish or English, and clinical-free.

A message names at most the patient's first name and the appointment's time, shown in the
patient's own zone with the zone's abbreviation (so "09:00 CST" is never read as the service's
time). The links (join, summary, unsubscribe) are added by the caller. Nothing else about the
patient or the consult is ever put in a message: SMS and e-mail pass through other hands.

An e-mail has room for whole sentences (:data:`_TEXTS`); an SMS or WhatsApp message gets the short
form (:data:`_SHORT`), whose words leave room for two short links (``/l/<code>``) in one 160-character
SMS: a second part doubles the price and may arrive out of order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rooms.zones import resolve_zone
from services.notifications import MessageKind

_TEXTS: dict[str, dict[MessageKind, tuple[str, str]]] = {
    "es": {
        MessageKind.CONFIRMATION: (
            "Cita de teleconsulta confirmada",
            "Hola {name}: su teleconsulta es el {when}. Entre desde su teléfono: {link}",
        ),
        MessageKind.REMINDER_24H: (
            "Su teleconsulta es mañana",
            "Hola {name}: le recordamos su teleconsulta mañana {when}. Enlace: {link}",
        ),
        MessageKind.REMINDER_1H: (
            "Su teleconsulta es en una hora",
            "Hola {name}: su teleconsulta empieza en una hora ({when}). Enlace: {link}",
        ),
        MessageKind.RESCHEDULED: (
            "Su teleconsulta cambió de hora",
            "Hola {name}: su teleconsulta se cambió al {when}. Nuevo enlace: {link}",
        ),
        MessageKind.CANCELLED: (
            "Su teleconsulta fue cancelada",
            "Hola {name}: su teleconsulta del {when} fue cancelada.",
        ),
        MessageKind.NURSE_READY: (
            "Su enfermera le espera",
            "Hola {name}: su enfermera está lista. Entre ahora: {link}",
        ),
        MessageKind.SUMMARY_READY: (
            "Su resumen de la consulta está listo",
            "Hola {name}: su resumen de la consulta está listo: {link}",
        ),
    },
    "en": {
        MessageKind.CONFIRMATION: (
            "Teleconsultation booked",
            "Hello {name}: your teleconsultation is on {when}. Join from your phone: {link}",
        ),
        MessageKind.REMINDER_24H: (
            "Your teleconsultation is tomorrow",
            "Hello {name}: a reminder of your teleconsultation tomorrow, {when}. Link: {link}",
        ),
        MessageKind.REMINDER_1H: (
            "Your teleconsultation is in one hour",
            "Hello {name}: your teleconsultation starts in one hour ({when}). Link: {link}",
        ),
        MessageKind.RESCHEDULED: (
            "Your teleconsultation moved",
            "Hello {name}: your teleconsultation moved to {when}. New link: {link}",
        ),
        MessageKind.CANCELLED: (
            "Your teleconsultation was cancelled",
            "Hello {name}: your teleconsultation on {when} was cancelled.",
        ),
        MessageKind.NURSE_READY: (
            "Your nurse is ready",
            "Hello {name}: your nurse is ready. Join now: {link}",
        ),
        MessageKind.SUMMARY_READY: (
            "Your visit summary is ready",
            "Hello {name}: your visit summary is ready: {link}",
        ),
    },
}
_SHORT: dict[str, dict[MessageKind, str]] = {
    "es": {
        MessageKind.CONFIRMATION: "Hola {name}: su teleconsulta es el {when}. Entre: {link}",
        MessageKind.REMINDER_24H: "Hola {name}: mañana es su teleconsulta, {when}. Entre: {link}",
        MessageKind.REMINDER_1H: "Hola {name}: su teleconsulta es en 1 hora, {when}. Entre: {link}",
        MessageKind.RESCHEDULED: "Hola {name}: su teleconsulta cambió al {when}. Nuevo enlace: {link}",
        MessageKind.CANCELLED: "Hola {name}: su teleconsulta del {when} fue cancelada.",
        MessageKind.NURSE_READY: "Hola {name}: su enfermera está lista. Entre ahora: {link}",
        MessageKind.SUMMARY_READY: "Hola {name}: su resumen de la consulta está listo: {link}",
    },
    "en": {
        MessageKind.CONFIRMATION: "Hello {name}: your teleconsultation is on {when}. Join: {link}",
        MessageKind.REMINDER_24H: "Hello {name}: teleconsultation tomorrow, {when}. Join: {link}",
        MessageKind.REMINDER_1H: "Hello {name}: teleconsultation in 1 hour, {when}. Join: {link}",
        MessageKind.RESCHEDULED: "Hello {name}: teleconsultation moved to {when}. New link: {link}",
        MessageKind.CANCELLED: "Hello {name}: your teleconsultation on {when} was cancelled.",
        MessageKind.NURSE_READY: "Hello {name}: your nurse is ready. Join now: {link}",
        MessageKind.SUMMARY_READY: "Hello {name}: your visit summary is ready: {link}",
    },
}
_OPT_OUT = {"es": "Para no recibir más avisos: {link}", "en": "To stop these messages: {link}"}
_SHORT_OPT_OUT = {"es": "Baja: {link}", "en": "Opt out: {link}"}


@dataclass(frozen=True, slots=True)
class Text:
    subject: str
    body: str


def local_time(at: datetime, zone: str) -> str:
    """``dd/mm/yyyy HH:MM ZONE`` in the patient's zone (unambiguous in both languages)."""
    local = at.astimezone(resolve_zone(zone))
    return f"{local:%d/%m/%Y %H:%M} {local.tzname()}"


def render(
    kind: str,
    language: str,
    *,
    first_name: str,
    starts_at: datetime,
    zone: str,
    link: str,
    opt_out: str,
    short: bool = False,
) -> Text:
    """The message in the patient's language (Spanish when unknown), with its unsubscribe line;
    ``short``: the SMS and WhatsApp form."""
    language = language if language in _TEXTS else "es"
    subject, body = _TEXTS[language][MessageKind(kind)]
    if short:
        body = _SHORT[language][MessageKind(kind)]
    opt_out_line = (_SHORT_OPT_OUT if short else _OPT_OUT)[language].format(link=opt_out)
    text = body.format(name=first_name, when=local_time(starts_at, zone), link=link)
    return Text(subject, f"{text}\n{opt_out_line}")
