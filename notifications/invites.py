"""The iCalendar (RFC 5545) invite attached to e-mails about an appointment.

One VEVENT per appointment: its UID is the appointment's, so a calendar updates the same event
when the appointment moves (``SEQUENCE``: the link generation) and removes it when it is cancelled
(``METHOD:CANCEL``). Times are in UTC; the calendar shows them in the reader's zone. The event says
"Teleconsulta" and carries the join link, nothing clinical.
"""

from __future__ import annotations

from datetime import UTC, datetime

_PRODID = "-//Teleconsulta//Avisos//ES"


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 §3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + (75 if not parts else 74), len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never split a UTF-8 character
            end -= 1
        parts.append(data[start:end].decode())
        start = end
    return "\r\n ".join(parts)


def invite(
    *,
    appointment_id: str,
    sequence: int,
    start: datetime,
    end: datetime,
    now: datetime,
    organizer: str,
    attendee: str,
    summary: str,
    link: str | None,
    cancelled: bool = False,
) -> str:
    """A ``METHOD:REQUEST`` (or ``CANCEL``) calendar with the appointment's one event."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{_PRODID}",
        f"METHOD:{'CANCEL' if cancelled else 'REQUEST'}",
        "BEGIN:VEVENT",
        f"UID:{appointment_id}@teleconsulta",
        f"SEQUENCE:{sequence}",
        f"DTSTAMP:{_utc(now)}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}",
        f"SUMMARY:{_escape(summary)}",
        f"ORGANIZER:mailto:{organizer}",
        f"ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=FALSE:mailto:{attendee}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
    ]
    if link:
        lines += [f"URL:{link}", f"DESCRIPTION:{_escape(link)}"]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(_fold(line) + "\r\n" for line in lines)
