"""The chat's use cases: send a message, mark messages read, and catch up after a reconnection.

Each loads the consult, lets ``rooms.chat`` decide who may take part, stores the entry in the
consult's session log (numbered by the store, so one order for every node) and hands it to
:class:`ChatDelivery`, which the socket edge implements. A refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rooms import chat as rules
from rooms.chat import ChatFull, ChatMessage
from rooms.consult import Actor, Consult
from rooms.store.base import ConsultStore
from services.errors import NoSuchConsult


class ChatDelivery(Protocol):
    """Who hears a consult's chat: everyone in it, and its unit's staff while nobody hosts it."""

    async def message(self, consult: Consult, message: ChatMessage) -> None: ...

    async def read(self, consult: Consult, participant_id: str, seq: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ChatHistory:
    messages: list[ChatMessage]
    reads: dict[str, int]
    """Participant id -> the highest message number they have read."""
    full: bool
    """The chat reached :data:`rooms.chat.MAX_MESSAGES`: it takes no more."""

    def to_json(self) -> dict[str, object]:
        return {
            "messages": [m.to_json() for m in self.messages],
            "reads": dict(self.reads),
            "full": self.full,
            "max_text": rules.MAX_TEXT,
        }


class ChatService:
    def __init__(
        self, *, consults: ConsultStore, delivery: ChatDelivery, clock: Callable[[], datetime]
    ) -> None:
        self._consults = consults
        self._delivery = delivery
        self._clock = clock

    async def _allowed(self, actor: Actor, consult_id: str) -> Consult:
        consult = await self._consults.get(consult_id)
        if consult is None:
            raise NoSuchConsult()
        rules.require_chat(consult, actor)
        return consult

    async def send(self, actor: Actor, consult_id: str, name: str, text: str) -> ChatMessage:
        """Store one message and deliver it; ``chat_full`` once the consult holds its last one."""
        consult, message = await self.post(actor, consult_id, name, text)
        await self.deliver(consult, message)
        return message

    async def require_room(self, actor: Actor, consult_id: str) -> None:
        """Refuse now what :meth:`post` would refuse for who ``actor`` is, the consult's state or a
        full chat, so a caller with something costly to store first (a photo) need not undo it."""
        await self._allowed(actor, consult_id)
        if rules.last_seq(await self._consults.log(consult_id)) >= rules.MAX_MESSAGES:
            raise ChatFull()

    async def post(
        self, actor: Actor, consult_id: str, name: str, text: str, *, photo_id: str = ""
    ) -> tuple[Consult, ChatMessage]:
        """Store one message without delivering it: a caller that stored something the message
        names (a photo) undoes that if this refuses, and delivers only once both are stored."""
        consult = await self._allowed(actor, consult_id)
        event = rules.message_event(consult, actor, name, text, self._clock(), photo_id=photo_id)
        seq = await self._consults.append_numbered(consult_id, event, rules.MAX_MESSAGES)
        if seq is None:
            raise ChatFull()
        message = ChatMessage(
            consult_id,
            seq,
            event.at,
            actor.participant_id,
            actor.role.value,
            event.detail["name"],
            event.detail["text"],
            photo_id,
        )
        return consult, message

    async def deliver(self, consult: Consult, message: ChatMessage) -> None:
        """Tell the consult's pages about a message :meth:`post` stored."""
        await self._delivery.message(consult, message)

    async def mark_read(self, actor: Actor, consult_id: str, seq: int) -> int:
        """Record that ``actor`` read up to ``seq``; returns their read mark (unchanged if not ahead)."""
        consult = await self._allowed(actor, consult_id)
        events = await self._consults.log(consult_id)
        marks = rules.reads(events)
        target = rules.advances_read(marks, actor.participant_id, seq, rules.last_seq(events))
        if target is None:
            return marks.get(actor.participant_id, 0)
        await self._consults.append_log(consult_id, [rules.read_event(consult, actor, target, self._clock())])
        await self._delivery.read(consult, actor.participant_id, target)
        return target

    async def history(self, actor: Actor, consult_id: str, after: int = 0) -> ChatHistory:
        """The messages after ``after`` (what a reconnecting page missed) and everyone's read marks."""
        await self._allowed(actor, consult_id)
        events = await self._consults.log(consult_id)
        newest = rules.last_seq(events)
        return ChatHistory(
            rules.messages(events, after=after), rules.reads(events), newest >= rules.MAX_MESSAGES
        )
