"""Demo data for a first run: one nurse account and one appointment starting now.

It uses the same domain functions and stores as real data, so the demo is the product, not a
mock-up of it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from rooms import consult as rules
from rooms import tokens
from rooms.roles import Role
from rooms.staff import StaffMember
from web.app import Services

DEMO_USERNAME = "enfermera"
LINK_GRACE = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class DemoAccess:
    username: str
    password: str
    console_url: str
    patient_link: str
    consult_id: str


async def seed_demo(services: Services, base_url: str, password: str | None = None) -> DemoAccess:
    password = password or secrets.token_urlsafe(9)
    await services.stores.staff.add(
        StaffMember(
            staff_id="staff-" + secrets.token_hex(4),
            username=DEMO_USERNAME,
            full_name="Enf. Laura Gómez (demo)",
            role=Role.NURSE,
            unit="UMF-1",
            password_hash=services.auth.hash_password(password),
        )
    )
    consult_id, link = await create_appointment_link(services, base_url, "María Pérez (demo)")
    return DemoAccess(DEMO_USERNAME, password, f"{base_url}/consola", link, consult_id)


async def create_appointment_link(services: Services, base_url: str, patient_name: str) -> tuple[str, str]:
    """Book a 30-minute appointment starting now and return its consult id and patient link."""
    now = services.clock()
    start = now.replace(second=0, microsecond=0)
    end = start + timedelta(minutes=30)
    consult_id = "c-" + secrets.token_hex(6)
    patient_id = "p-" + secrets.token_hex(6)
    created = rules.create(
        consult_id=consult_id,
        patient_id=patient_id,
        patient_name=patient_name,
        appointment_start=start,
        appointment_end=end,
        created_by="demo",
        at=now,
    )
    await services.stores.consults.add(created)
    token = tokens.issue(
        services.settings.secret_key,
        tokens.JoinClaims(
            consult_id=consult_id,
            participant_id=patient_id,
            role=Role.PATIENT,
            not_before=int((now - timedelta(minutes=1)).timestamp()),
            expires_at=int((end + LINK_GRACE).timestamp()),
            token_id=tokens.new_token_id(),
        ),
    )
    return consult_id, f"{base_url}/paciente#t={token}"
