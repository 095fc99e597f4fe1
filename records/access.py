"""Who is reading or writing the record, and from where: the audit context of every call.

Every repository call takes an :class:`AccessContext`; it decides what the caller may see (staff with a
role in the patient's care, or the patient themself for their own summary) and becomes the agent of
the ``AuditEvent`` the call leaves (who, from which network address).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from records.errors import AccessDenied
from records.identifiers import NSS_SYSTEM, STAFF_SYSTEM
from rooms.roles import STAFF_ROLES, Role


class AccessorKind(StrEnum):
    STAFF = "staff"
    PATIENT = "patient"


@dataclass(frozen=True, slots=True)
class AccessContext:
    kind: AccessorKind
    subject_id: str
    """The staff member's login id, or the patient's NSS (from their join token)."""
    display: str
    role: Role
    address: str
    """The client's network address as the server saw it (after trusted proxies)."""

    @classmethod
    def staff(cls, staff_id: str, full_name: str, role: Role, address: str) -> AccessContext:
        if role not in STAFF_ROLES:
            raise ValueError("staff access needs a staff role")
        return cls(AccessorKind.STAFF, staff_id, full_name, role, address)

    @classmethod
    def patient(cls, nss: str, address: str) -> AccessContext:
        return cls(AccessorKind.PATIENT, nss, "patient", Role.PATIENT, address)

    @property
    def is_staff(self) -> bool:
        return self.kind is AccessorKind.STAFF

    def agent(self, patient_id: str | None = None) -> dict[str, object]:
        """The ``AuditEvent.agent.who`` reference for this caller."""
        if self.is_staff:
            return {
                "type": "Practitioner",
                "identifier": {"system": STAFF_SYSTEM, "value": self.subject_id},
                "display": self.display,
            }
        if patient_id is not None:
            return {"reference": f"Patient/{patient_id}"}
        return {"type": "Patient", "identifier": {"system": NSS_SYSTEM, "value": self.subject_id}}


def require_staff(ctx: AccessContext) -> None:
    """Staff only: a patient link reads nothing but its own summary."""
    if not ctx.is_staff:
        raise AccessDenied()


def require_patient(ctx: AccessContext) -> None:
    """The patient themself only: staff read a patient's record through FHIR, with their care role."""
    if ctx.is_staff:
        raise AccessDenied()
