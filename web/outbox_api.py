"""The outbox for staff, and the unsubscribe link for patients.

* ``GET /api/units/{unit}/outbox``: the unit's newest messages to patients and every attempt to
  send each (sent, failed and why), for the unit's staff: how they know whether a patient was told.
* ``GET /api/unsubscribe``: what the patient's unsubscribe link (``/baja#t=<token>``: the page
  sends the token in ``Authorization: Bearer``, never in a URL) can stop: the message's kind on its
  channel, or the whole channel. ``POST /api/unsubscribe`` stops one or the other (``{"stop":
  "kind"}``: that kind, both reminders for a reminder; ``"channel"``, the default: everything on
  the channel). No sign-in: the signed token is the permission (:mod:`notifications.unsubscribe`). The
  choice is recorded in ``notification_choices`` (one row per kind stopped, or one for the channel)
  and as an audit line on ``teleconsulta.audit`` (``notifications_opt_out {"message_id", "channel",
  "kinds"}``: no address, no name).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from notifications import unsubscribe
from records.outbox import Choice, OutboxEntry, OutboxStore
from rooms.tokens import TokenError
from services.notifications import MessageKind, same_kind
from web.auth import Authenticator, require_unit
from web.errors import ApiError
from web.payloads import answer, read_body
from web.schemas.outbox import (
    OutboxMessageView,
    OutboxView,
    Unsubscribed,
    UnsubscribeOffer,
    UnsubscribeRequest,
)

audit_log = logging.getLogger("teleconsulta.audit")


class OutboxApi:
    def __init__(
        self,
        *,
        store: OutboxStore,
        auth: Authenticator,
        unsubscribe_key: bytes,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._auth = auth
        self._unsubscribe_key = unsubscribe_key
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/units/{unit}/outbox", self.outbox),
            web.get("/api/unsubscribe", self.offer),
            web.post("/api/unsubscribe", self.unsubscribe),
        ]

    async def outbox(self, request: web.Request) -> web.Response:
        member = await self._auth.require_staff(request)
        unit = request.match_info["unit"]
        require_unit(member, unit)
        messages = await self._store.of_unit(unit)
        return answer(OutboxView(unit=unit, messages=[OutboxMessageView.of(m) for m in messages]))

    async def _message(self, request: web.Request) -> tuple[str, OutboxEntry]:
        """The message whose unsubscribe token the request carries, with its id."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "auth_required", "Abra el enlace del aviso. / Open the link in the message.")
        try:
            message_id = unsubscribe.message_of(self._unsubscribe_key, token.strip())
        except TokenError as error:
            raise ApiError(401, error.code, "El enlace no es válido. / The link is not valid.") from None
        message = await self._store.message(message_id)
        if message is None:
            raise ApiError(404, "not_found", "Aviso no encontrado. / Message not found.")
        return message_id, message

    async def offer(self, request: web.Request) -> web.Response:
        _, message = await self._message(request)
        kinds = [kind.value for kind in same_kind(MessageKind(message.kind))]
        return answer(UnsubscribeOffer(channel=message.channel, kind=message.kind, kinds=kinds))

    async def unsubscribe(self, request: web.Request) -> web.Response:
        message_id, message = await self._message(request)
        stop = (await read_body(request, UnsubscribeRequest)).stop
        source = f"unsubscribe:{message_id}"
        kinds = [kind.value for kind in same_kind(MessageKind(message.kind))] if stop == "kind" else None
        per_kind: list[str | None] = list(kinds) if kinds is not None else [None]
        choices = [Choice(message.patient_nss, message.channel, False, source, kind) for kind in per_kind]
        await self._store.choose(choices, self._clock())
        audit = {"message_id": message_id, "channel": message.channel, "kinds": kinds}
        audit_log.info("notifications_opt_out %s", json.dumps(audit, sort_keys=True))
        return answer(Unsubscribed(channel=message.channel, kinds=kinds))
