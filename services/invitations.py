"""Invitations by link: a companion, an interpreter, a specialist or another site joins a call.

The same use case serves the socket event ``consult:invite``, the REST route and the inter-unit
sites, so a link made anywhere is the same thing; revoking one takes the invitee out of the call
and makes their link fail at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rooms import consult as rules
from rooms.consult import Actor, Consult, Invitee, Transition
from rooms.roles import Role
from rooms.store.base import ConsultStore
from rooms.tokens import JoinClaims, issue, new_token_id
from services.consults import ConsultService
from services.errors import NoSuchInvitation

INVITE_GRACE = timedelta(hours=2)
"""Invitation links stay valid this long after the appointment's planned end."""


def new_invitee(
    role: Role, name: str, *, unit_clues: str | None = None, unit_name: str | None = None
) -> Invitee:
    """A new invitee with a fresh identity and the id of the link about to be issued."""
    return Invitee("i-" + new_token_id(), role, name, new_token_id(), unit_clues, unit_name)


class Invitations:
    def __init__(
        self,
        *,
        consults: ConsultService,
        store: ConsultStore,
        token_key: bytes,
        clock: Callable[[], datetime],
    ) -> None:
        self._consults = consults
        self._store = store
        self._token_key = token_key
        self._clock = clock

    async def invite(self, actor: Actor, consult_id: str, role: Role, name: str) -> tuple[Invitee, str]:
        """The host (before admission: staff of the consult's unit) invites someone by link."""
        guest = new_invitee(role, name)
        now = self._clock()
        token = await self.issue(consult_id, guest, lambda c: rules.invite(c, actor, guest, now))
        return guest, token

    async def issue(self, consult_id: str, guest: Invitee, command: Callable[[Consult], Transition]) -> str:
        """Apply an inviting ``command`` for ``guest`` and sign their link (valid until 2 h after the end)."""
        now = self._clock()
        transition = await self._consults.execute(consult_id, command)
        assert guest.token_id is not None
        claims = JoinClaims(
            consult_id=consult_id,
            participant_id=guest.participant_id,
            role=guest.role,
            not_before=int(now.timestamp()) - 60,
            expires_at=int((transition.consult.appointment_end + INVITE_GRACE).timestamp()),
            token_id=guest.token_id,
        )
        await self._consults.publish(transition)
        return issue(self._token_key, claims)

    async def revoke(self, actor: Actor, consult_id: str, participant_id: str) -> Consult:
        """Withdraw an invitation: its link is revoked and the invitee leaves the call and the room."""
        now = self._clock()
        invitee = rules.find_invitee(await self._consults.get(consult_id), participant_id)
        transition = await self._consults.execute(
            consult_id, lambda c: rules.revoke_invite(c, actor, participant_id, now)
        )
        if invitee is not None and invitee.token_id is not None:
            await self._store.revoke_token(invitee.token_id)
        await self._consults.live.turned_away(consult_id, participant_id, "revoked")
        await self._consults.publish(transition)
        return transition.consult

    async def revoke_link(self, actor: Actor, token_id: str) -> tuple[Consult, Invitee]:
        """Withdraw the invitation whose link has id ``token_id`` (what the REST API names)."""
        consult = await self._store.invited_to(token_id)  # one index read, not the open consults
        invitee = next((i for i in consult.invitees if i.token_id == token_id), None) if consult else None
        if consult is None or invitee is None:
            raise NoSuchInvitation()
        return await self.revoke(actor, consult.consult_id, invitee.participant_id), invitee
