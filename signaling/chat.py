"""The chat over the socket: the handlers of ``chat:send``, ``chat:read`` and ``chat:history``, and
:class:`SocketChatDelivery`, which tells a consult's pages about messages and read marks.

The router (``server.py``) runs each event through its guard first (authenticated, rate, size,
schema, role table); here a message also passes a stricter per-person limit of its own
(:data:`CHAT_BURST` at once, then one every :data:`CHAT_SECONDS_PER_MESSAGE` s), so a flood is
refused with ``rate_limited`` before anything is stored. The rules are ``rooms/chat.py``'s; the
use cases ``services/chat.py``'s.
"""

from __future__ import annotations

import time

import socketio

from rooms.chat import ChatMessage
from rooms.consult import Consult
from services.chat import ChatService
from signaling.connections import Connection, consult_room, staff_room
from signaling.errors import ErrorCode, SignalingError
from signaling.messages import ChatHistoryRequest, ChatRead, ChatSend
from signaling.rate_limit import TokenBucket

CHAT_BURST = 8.0
"""Messages one person may send at once (a few quick lines)."""
CHAT_SECONDS_PER_MESSAGE = 1.0
"""Then one message a second, sustained: typing, not a script."""
_MAX_TRACKED = 10_000
"""People whose chat bucket this node remembers; idle (full) buckets are forgotten beyond that."""


class SocketChatDelivery:
    """:class:`services.chat.ChatDelivery` over socket.io: the consult's room, and while nobody
    hosts the consult its unit's staff (who answer a waiting patient from the console's list)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    @staticmethod
    def _audience(consult: Consult) -> list[str]:
        rooms = [consult_room(consult.consult_id)]
        if consult.host_id is None and consult.unit:
            rooms.append(staff_room(consult.unit))
        return rooms

    async def message(self, consult: Consult, message: ChatMessage) -> None:
        await self._sio.emit("chat:message", message.to_json(), room=self._audience(consult))

    async def read(self, consult: Consult, participant_id: str, seq: int) -> None:
        payload = {"consult_id": consult.consult_id, "participant_id": participant_id, "seq": seq}
        await self._sio.emit("chat:read", payload, room=self._audience(consult))


class ChatEvents:
    """What the router calls for each chat event, after its guard."""

    def __init__(self, chat: ChatService) -> None:
        self._chat = chat
        self._buckets: dict[str, TokenBucket] = {}

    def _take(self, participant_id: str) -> None:
        now = time.monotonic()
        bucket = self._buckets.get(participant_id)
        if bucket is None:
            if len(self._buckets) >= _MAX_TRACKED:
                self._forget_idle(now)
            bucket = TokenBucket.full(CHAT_BURST, 1.0 / CHAT_SECONDS_PER_MESSAGE, now)
            self._buckets[participant_id] = bucket
        if not bucket.take(now):
            raise SignalingError(
                ErrorCode.RATE_LIMITED,
                "Too many chat messages; wait a moment before sending more.",
                message_es="Demasiados mensajes; espere un momento antes de enviar más.",
            )

    def _forget_idle(self, now: float) -> None:
        refill = 1.0 / CHAT_SECONDS_PER_MESSAGE
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated_at) * refill >= bucket.capacity:
                del self._buckets[key]

    async def send(self, connection: Connection, payload: ChatSend) -> dict[str, object]:
        consult_id = _named(connection, payload.consult_id)
        self._take(connection.participant_id)
        message = await self._chat.send(connection.actor(), consult_id, connection.display_name, payload.text)
        return {"message": message.to_json()}

    async def read(self, connection: Connection, payload: ChatRead) -> dict[str, object]:
        seq = await self._chat.mark_read(
            connection.actor(), _named(connection, payload.consult_id), payload.seq
        )
        return {"seq": seq}

    async def history(self, connection: Connection, payload: ChatHistoryRequest) -> dict[str, object]:
        consult_id = _named(connection, payload.consult_id)
        history = await self._chat.history(connection.actor(), consult_id, payload.after)
        return history.to_json()


def _named(connection: Connection, consult_id: str) -> str:
    """A link opens one consult: naming another is ``not_your_consult``, whether it exists or not."""
    if connection.via_link and consult_id != connection.consult_id:
        raise SignalingError(
            ErrorCode.NOT_YOUR_CONSULT,
            "Your link is for another consult.",
            message_es="Su enlace es de otra consulta.",
        )
    return consult_id
