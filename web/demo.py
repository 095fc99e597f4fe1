"""Demo data for a first run: one unit, one nurse account and one appointment starting now.

It uses the same domain functions and stores as real data, so the demo is the product, not a
mock-up of it: the unit and the nurse are provisioned through the same path as the admin CLI's
(``web/admin_accounts.py``), so they are audited records in the database like any other; run again
on the same database, the nurse gets the new password and nothing else changes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from records.access import AccessContext
from records.facts import PatientFacts, Sex
from records.staff import Admin
from records.staff_facts import staff_facts, unit_facts
from rooms.appointments import AppointmentKind
from rooms.hours import ServiceHours
from rooms.nss import luhn_check_digit
from rooms.patients import register_patient
from rooms.roles import Role
from rooms.slots import slots_between
from services.scheduling import LINK_GRACE
from web.app import Services

DEMO_USERNAME = "enfermera"
DEMO_LICENCE = "1234567"
"""A well-formed (not issued) cédula profesional, so the demo nurse can sign notes."""
DEMO_CLUES = "DFIMS000652"
DEMO_UNIT = "UMF-1"


@dataclass(frozen=True, slots=True)
class DemoAccess:
    username: str
    password: str
    console_url: str
    patient_link: str
    consult_id: str
    link_works_until: datetime
    """When the patient link's check-in window closes."""


async def seed_demo(services: Services, base_url: str, password: str | None = None) -> DemoAccess:
    password = password or secrets.token_urlsafe(9)
    admin = Admin("demo", "demo", "demo")
    await services.accounts.put_unit(
        unit_facts(DEMO_UNIT, DEMO_CLUES, "Unidad de Medicina Familiar 1 (demo)", "America/Mexico_City"),
        admin,
    )
    provisioned = await services.accounts.provision(
        staff_facts(DEMO_USERNAME, "Enf. Laura Gómez (demo)", Role.NURSE.value, DEMO_UNIT, DEMO_LICENCE),
        admin,
        password_hash=await services.auth.passwords.hash(password),
    )
    nurse = provisioned.account
    consult_id, link = await create_appointment_link(services, base_url, "María Pérez (demo)")
    consult = await services.stores.consults.get(consult_id)
    assert consult is not None
    # The demo patient is registered in the clinical record, as a real patient would be before their visit.
    await services.records.ensure_patient(
        PatientFacts(consult.record_nss, "María Pérez (demo)", date(1980, 4, 12), sex=Sex.FEMALE),
        AccessContext.staff(nurse.staff_id, nurse.full_name, nurse.role, "demo"),
    )
    appointment = await services.scheduling.appointments.get(consult_id)
    assert appointment is not None
    until = appointment.check_in_window.not_after
    return DemoAccess(DEMO_USERNAME, password, f"{base_url}/consola", link, consult_id, until)


def demo_nss() -> str:
    """A random NSS that is well formed (Luhn check digit) but not an issued one."""
    payload = "99" + "".join(secrets.choice("0123456789") for _ in range(8))
    return payload + str(luhn_check_digit(payload))


async def create_appointment_link(services: Services, base_url: str, patient_name: str) -> tuple[str, str]:
    """Book a real appointment in the slot running now (or the next one) and return its consult id and link.

    The slot has usually begun, so it is booked as of just before it began (booking refuses slots in
    the past). Unless the operator configured service hours, the demo's hours are always open
    (``00:00-24:00``), so the link can be tried at any time of day; unless they configured the
    check-in grace, the link can be tried until its token expires (``LINK_GRACE`` after the slot),
    not only in the ten minutes after a slot that may be ending as the demo starts.
    """
    scheduling = services.scheduling
    if not services.settings.service_hours_configured:
        scheduling.rules = replace(scheduling.rules, hours=ServiceHours.always_open())
    if not services.settings.check_in_grace_configured:
        check_in = replace(scheduling.rules.check_in, grace=LINK_GRACE)
        scheduling.rules = replace(scheduling.rules, check_in=check_in)
    now = services.clock()
    hours, policy = scheduling.rules.hours, scheduling.rules.slots
    start = _current_slot(hours, policy.length, now)
    if start is None:
        start = next(iter(slots_between(hours, policy, now, now + timedelta(days=14)))).start
    patient = register_patient(
        nss=demo_nss(),  # a patient is identified by their NSS (rooms/patients.py)
        name=patient_name,
        birth_date=date(1980, 4, 12),
        time_zone=hours.zone_name,
        today=now.date(),
        email="paciente.demo@example.org",
    )
    booking = await scheduling.book(
        patient=patient,
        unit=DEMO_UNIT,
        kind=AppointmentKind.FIRST,
        start=start,
        created_by="demo",
        booked_at=min(now, start - timedelta(seconds=1)),
    )
    return booking.consult.consult_id, f"{base_url}/paciente#t={booking.token}"


def _current_slot(hours: ServiceHours, length: timedelta, now: datetime) -> datetime | None:
    """The start of the slot running at ``now``, if the service is open and a whole slot fits."""
    interval = hours.interval_at(now)
    if interval is None:
        return None
    start = interval.start + ((now - interval.start) // length) * length
    return start if start + length <= interval.end else None
