"""Who a new socket connection is: the holder of a join link, or a signed-in staff member.

A link opens only the consult it names, as the participant it names (docs/protocol.md, "Who may
act on a consult"); a staff session must be one the server issued and still valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from rooms import consult as rules
from rooms.consult import ConsultKind, ConsultState
from rooms.roles import Role
from rooms.store.base import Stores
from rooms.tokens import TokenError, verify
from signaling.connections import Connection, session_cookie
from signaling.errors import ErrorCode, SignalingError
from signaling.rate_limit import TokenBucket


class Authenticator:
    def __init__(
        self,
        stores: Stores,
        *,
        token_key: bytes,
        clock: Callable[[], datetime],
        event_burst: float,
        events_per_second: float,
    ) -> None:
        self._stores = stores
        self._token_key = token_key
        self._clock = clock
        self._burst = event_burst
        self._rate = events_per_second

    async def connection(self, sid: str, environ: Mapping[str, Any], auth: object) -> Connection:
        """The new connection's identity, or :class:`SignalingError` saying why it is refused."""
        bucket = TokenBucket.full(self._burst, self._rate, time.monotonic())
        if isinstance(auth, dict) and "token" in auth:
            return await self._by_link(sid, auth["token"], bucket)
        return await self._by_session(sid, environ, bucket)

    async def _by_link(self, sid: str, token: object, bucket: TokenBucket) -> Connection:
        if not isinstance(token, str):
            raise SignalingError(ErrorCode.AUTH_INVALID, "The link is not valid.")
        try:
            claims = verify(self._token_key, token, self._clock().timestamp())
        except TokenError as error:
            raise SignalingError(ErrorCode(error.code), error.message_en) from None
        if await self._stores.consults.is_token_revoked(claims.token_id):
            raise SignalingError(ErrorCode.AUTH_REVOKED, "This link has been revoked.")
        consult = await self._stores.consults.get(claims.consult_id)
        if consult is None:
            raise SignalingError(ErrorCode.AUTH_INVALID, "The link is not valid.")
        if consult.state is ConsultState.ENDED:
            raise SignalingError(ErrorCode.CONSULT_ENDED, "This consult has ended.")
        if claims.participant_id in consult.denied:
            raise SignalingError(ErrorCode.DENIED, "The host did not admit you with this link.")
        if claims.role is Role.PATIENT:
            if claims.participant_id != consult.patient_id or consult.kind is not ConsultKind.CONSULT:
                # Signed, but for someone who is not this consult's patient: never let it in.
                raise SignalingError(ErrorCode.AUTH_INVALID, "The link is not valid.")
            name = consult.patient_name
        else:
            invited = rules.find_invitee(consult, claims.participant_id)
            if invited is None or invited.role is not claims.role:
                raise SignalingError(ErrorCode.AUTH_REVOKED, "This invitation is no longer valid.")
            name = invited.name
        return Connection(
            sid, claims.participant_id, claims.role, name, consult.consult_id, claims.token_id, bucket
        )

    async def _by_session(self, sid: str, environ: Mapping[str, Any], bucket: TokenBucket) -> Connection:
        session_id = session_cookie(environ)
        if session_id is None:
            raise SignalingError(ErrorCode.AUTH_REQUIRED, "Sign in or open your consult link.")
        session = await self._stores.sessions.get(session_id)
        if session is None:  # forged, or signed out: never a session of ours
            raise SignalingError(ErrorCode.AUTH_INVALID, "This session is not valid; sign in again.")
        if session.expires_at <= self._clock():
            raise SignalingError(ErrorCode.AUTH_EXPIRED, "Your session has expired; sign in again.")
        member = await self._stores.staff.by_id(session.staff_id)
        if member is None:
            raise SignalingError(ErrorCode.AUTH_INVALID, "Unknown account.")
        return Connection(
            sid, member.staff_id, member.role, member.full_name, None, None, bucket, unit=member.unit
        )
