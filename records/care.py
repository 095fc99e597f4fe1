"""Who may touch a patient's record: staff with a role in that patient's care.

A role is granted when a staff member takes or joins the patient's consult
(:meth:`CareRelations.grant`) and is what every read and write of the patient's record checks
(:func:`admit`). Admitting names the patient in the call's audit before checking, so a refused
attempt is audited against the patient it tried to reach.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext, require_staff
from records.audit import Attempt, Audit
from records.errors import AccessDenied
from records.patients import registered
from records.store import Store
from records.tables import CareRelationRow


async def admit(session: AsyncSession, ctx: AccessContext, attempt: Attempt, patient_id: str) -> None:
    """Let ``ctx`` at this patient's record only with a role in their care; audit names the patient."""
    attempt.patient_id = patient_id
    require_staff(ctx)
    found = await session.scalar(
        select(CareRelationRow.staff_id).where(
            CareRelationRow.patient_id == patient_id, CareRelationRow.staff_id == ctx.subject_id
        )
    )
    if found is None:
        raise AccessDenied()


class CareRelations:
    def __init__(self, store: Store, audit: Audit) -> None:
        self._store = store
        self._audit = audit

    async def grant(self, nss: str, staff_id: str, consult_id: str | None, ctx: AccessContext) -> None:
        """Give ``staff_id`` a role in the patient's care (call it when they take or join the consult)."""
        attempt = Attempt("operation", "E")

        async def work(session: AsyncSession) -> None:
            require_staff(ctx)
            patient_id = attempt.patient_id = await registered(session, nss)
            await self._store.insert_ignore(
                session,
                CareRelationRow.__table__,
                [
                    {
                        "patient_id": patient_id,
                        "staff_id": staff_id[:64],
                        "consult_id": consult_id,
                        "since": self._store.clock(),
                    }
                ],
            )

        await self._audit.write(ctx, attempt, work, desc="grant-care")
