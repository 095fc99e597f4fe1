"""A signed note's Bundle as it was stored, and whether the note still matches its seal.

Both read the Bundle stored when the note was signed, so both are reads of the patient's record:
for the patient's care team only, and audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from records.access import AccessContext, require_staff
from records.audit import Attempt, Audit
from records.care import admit
from records.errors import NotFound
from records.note_rows import note_entity, note_in_care, to_note
from records.notes import Note
from records.seal import SealCheck, SealKeys, check
from records.store import Resource
from records.tables import BundleRow


def _provenance_seal(bundle: Mapping[str, Any]) -> str:
    """The seal a stored Bundle carries (``Provenance.signature[0].data``); empty if it has none."""
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Provenance":
            signatures = resource.get("signature") or [{}]
            return str(signatures[0].get("data", ""))
    return ""


async def _bundle_of(session: AsyncSession, note_id: str) -> BundleRow | None:
    return await session.scalar(select(BundleRow).where(BundleRow.note_id == note_id))


class SignedBundles:
    def __init__(self, audit: Audit, keys: SealKeys) -> None:
        self._audit = audit
        self._keys = keys

    async def stored(self, note_id: str, ctx: AccessContext) -> Resource:
        """The transaction Bundle exactly as it was validated and stored when the note was signed."""
        attempt = Attempt("read", "R", entities=[note_entity(note_id[:64])])

        async def work(session: AsyncSession) -> Resource:
            require_staff(ctx)
            row = await _bundle_of(session, note_id)
            if row is None:
                raise NotFound("Bundle")
            await admit(session, ctx, attempt, row.patient_id)
            return dict(row.content)

        return await self._audit.read(ctx, attempt, work)

    async def check_seal(self, note_id: str, ctx: AccessContext) -> SealCheck:
        """Whether a signed note is still exactly what was sealed, with the keys this server holds.

        Reads the note and the seal in its stored Bundle's ``Provenance`` (a note without a Bundle, a
        draft, is not found); like any read of the record, it is audited.
        """
        attempt = Attempt("read", "R", entities=[note_entity(note_id[:64])])

        async def work(session: AsyncSession) -> tuple[Note, str]:
            require_staff(ctx)
            row = await note_in_care(session, ctx, attempt, note_id)
            bundle = await _bundle_of(session, note_id)
            if bundle is None:
                raise NotFound("nota firmada / signed note")
            return to_note(row), _provenance_seal(bundle.content)

        note, sealed = await self._audit.read(ctx, attempt, work)
        return check(note, self._keys, sealed)
