"""What each message says, in Spanish or English: short enough for one or two SMS, and clinical-free.

A message names at most the patient's first name and the appointment's time, shown in the
patient's own zone with the zone's abbreviation (so "09:00 CST" is never read as the service's
time). The links (join, summary, unsubscribe) are added by the caller. Nothing else about the
patient or the consult is ever put in a message: SMS and e-mail pass through other hands.
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
_OPT_OUT = {"es": "Para no recibir más avisos: {link}", "en": "To stop these messages: {link}"}


@dataclass(frozen=True, slots=True)
class Text:
    subject: str
    body: str


def local_time(at: datetime, zone: str) -> str:
    """``dd/mm/yyyy HH:MM ZONE`` in the patient's zone (unambiguous in both languages)."""
    local = at.astimezone(resolve_zone(zone))
    return f"{local:%d/%m/%Y %H:%M} {local.tzname()}"


def render(
    kind: str, language: str, *, first_name: str, starts_at: datetime, zone: str, link: str, opt_out: str
) -> Text:
    """The message in the patient's language (Spanish when unknown), with its unsubscribe line."""
    texts = _TEXTS.get(language, _TEXTS["es"])
    subject, body = texts[MessageKind(kind)]
    opt_out_line = _OPT_OUT.get(language, _OPT_OUT["es"]).format(link=opt_out)
    text = body.format(name=first_name, when=local_time(starts_at, zone), link=link)
    return Text(subject, f"{text}\n{opt_out_line}")
