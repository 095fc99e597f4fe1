"""The consult's text chat: who may write and read it in which state, and what a message may be.

A waiting patient writes to the staff of their unit ("le atiendo en 5 minutos"); once admitted,
everyone in the call (the patient, the host, companions, interpreters, invited physicians and
sites) writes to everyone else in it. Messages are numbered per consult (``seq``, from 1) by the
store as it appends them, so every page shows them in one order, and a page that reconnects asks
for those after the last number it saw. The chat lives in the consult's session log, which is
bounded: after :data:`MAX_MESSAGES` messages it refuses more (``chat_full``).

Who may use the chat (the role table must allow :attr:`~rooms.roles.Action.CHAT` first):

- nobody once the consult has ended (``consult_ended``), nor someone the host denied (``denied``);
- the patient of the consult while waiting or in the call (``invalid_state`` before checking in);
- people invited by link while the call runs and after they were admitted (``invalid_state``);
- signed-in staff like any host decision: before admission staff of the consult's unit
  (``wrong_unit`` otherwise), afterwards only the host (``not_your_consult``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rooms.consult import Actor, Consult, ConsultState, RuleViolation, ViolationCode, find_invitee
from rooms.errors import DomainError
from rooms.roles import STAFF_ROLES, Action, may
from rooms.session_log import EventKind, SessionEvent

MAX_TEXT = 1000
"""Characters in one message: a few sentences, what a chat on a phone is for."""
MAX_MESSAGES = 500
"""Messages one consult keeps; the session log that holds them stays small."""
_KEPT_CONTROLS = frozenset("\n")
_MARKUP = re.compile(r"<\s*[A-Za-z/!?]")
"""The start of an HTML tag, comment or declaration (``<b``, ``</``, ``<!--``, ``<?``). Text such as
"5 < 7" or "<3" is not markup and goes through."""


class ChatEmpty(DomainError):
    """A message with nothing to read once trimmed; nothing was stored."""

    CODE = "chat_empty"

    def __init__(self) -> None:
        super().__init__(self.CODE, "El mensaje está vacío.", "The message is empty.")


class ChatTooLong(DomainError):
    CODE = "chat_too_long"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            f"El mensaje pasa de {MAX_TEXT} caracteres.",
            f"The message is longer than {MAX_TEXT} characters.",
        )


class ChatMarkup(DomainError):
    """A message carrying HTML markup (``<script>``, ``<img onerror=…>``): refused, nothing stored.
    Pages show every message as text anyway; refusing it says so to the sender at once, and keeps
    markup out of the session log and the record the transcript may go to."""

    CODE = "chat_markup"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "El mensaje no puede llevar etiquetas como <b> o <script>; escríbalo como texto.",
            "The message cannot carry tags such as <b> or <script>; write it as plain text.",
        )


class ChatFull(DomainError):
    CODE = "chat_full"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            f"El chat de esta consulta llegó a {MAX_MESSAGES} mensajes y no admite más.",
            f"This consult's chat reached {MAX_MESSAGES} messages and takes no more.",
        )


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message as pages and the record see it."""

    consult_id: str
    seq: int
    at: datetime
    sender_id: str
    sender_role: str
    sender_name: str
    text: str
    photo_id: str = ""
    """A photo the sender shared (``records/photos.py``); ``text`` then describes it."""

    def to_json(self) -> dict[str, object]:
        return {
            "consult_id": self.consult_id,
            "seq": self.seq,
            "at": self.at.isoformat(),
            "from": {"participant_id": self.sender_id, "role": self.sender_role, "name": self.sender_name},
            "text": self.text,
            "photo_id": self.photo_id or None,
        }


def require_chat(consult: Consult, actor: Actor) -> None:
    """Refuse (``RuleViolation``) anyone who may not write or read this consult's chat now."""
    if not may(actor.role, Action.CHAT, via_link=actor.via_link):
        raise RuleViolation(
            ViolationCode.FORBIDDEN,
            f"El rol «{actor.role}» no participa en el chat.",
            f"The role '{actor.role}' takes no part in the chat.",
        )
    if consult.state is ConsultState.ENDED:
        raise RuleViolation(
            ViolationCode.CONSULT_ENDED, "La consulta ya terminó.", "The consult has already ended."
        )
    if actor.participant_id in consult.denied:
        raise RuleViolation(
            ViolationCode.DENIED,
            "No se le dio entrada con este enlace.",
            "The host did not admit you with this link.",
        )
    if actor.via_link:
        _require_link_holder(consult, actor)
    else:
        _require_staff(consult, actor)


def _require_link_holder(consult: Consult, actor: Actor) -> None:
    if actor.participant_id == consult.patient_id:
        if consult.state is ConsultState.SCHEDULED:
            raise RuleViolation(
                ViolationCode.INVALID_STATE,
                "Entre primero a la sala de espera.",
                "Check in to the waiting room first.",
            )
        return
    if find_invitee(consult, actor.participant_id) is None:
        raise RuleViolation(
            ViolationCode.NOT_YOUR_CONSULT,
            "Usted no participa en esta consulta.",
            "You are not in this consult.",
        )
    if consult.state is not ConsultState.LIVE or actor.participant_id not in consult.admitted:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            "El chat se abre cuando entra a la llamada.",
            "The chat opens once you join the call.",
        )


def _require_staff(consult: Consult, actor: Actor) -> None:
    if consult.host_id is not None:
        if actor.participant_id != consult.host_id:
            raise RuleViolation(
                ViolationCode.NOT_YOUR_CONSULT,
                "Solo quien dirige la consulta escribe en su chat.",
                "Only the consult's host writes in its chat.",
            )
        return
    if actor.role not in STAFF_ROLES:
        raise RuleViolation(
            ViolationCode.FORBIDDEN, "Solo el personal de la consulta.", "Only the consult's staff."
        )
    if consult.unit and actor.unit != consult.unit:
        raise RuleViolation(
            ViolationCode.WRONG_UNIT,
            "Esta consulta pertenece a otra unidad.",
            "This consult belongs to another unit.",
        )


def clean_text(text: str) -> str:
    """The message as it is kept: trimmed, line breaks kept, other control and format characters
    (bidirectional overrides, zero-width) dropped; markup refused. It stays text: pages show it as
    text, never markup."""
    kept = "".join(
        ch for ch in text if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    ).strip()
    if not kept:
        raise ChatEmpty()
    if len(kept) > MAX_TEXT:
        raise ChatTooLong()
    if _MARKUP.search(kept):
        raise ChatMarkup()
    return kept


def message_event(
    consult: Consult, actor: Actor, name: str, text: str, at: datetime, *, photo_id: str = ""
) -> SessionEvent:
    """The log entry of a message, before the store numbers it (``detail["seq"]``)."""
    detail = {"text": clean_text(text), "name": name}
    if photo_id:
        detail["photo_id"] = photo_id
    return SessionEvent(
        consult.consult_id,
        EventKind.CHAT_MESSAGE,
        at,
        actor.participant_id,
        actor.role,
        actor.connection_id,
        detail,
    )


def read_event(consult: Consult, actor: Actor, seq: int, at: datetime) -> SessionEvent:
    return SessionEvent(
        consult.consult_id,
        EventKind.CHAT_READ,
        at,
        actor.participant_id,
        actor.role,
        actor.connection_id,
        {"seq": str(seq)},
    )


def messages(events: Iterable[SessionEvent], *, after: int = 0) -> list[ChatMessage]:
    """The chat's messages numbered above ``after``, in their order."""
    found = [
        ChatMessage(
            event.consult_id,
            int(event.detail["seq"]),
            event.at,
            event.actor_id,
            event.actor_role.value if event.actor_role else "",
            event.detail.get("name", ""),
            event.detail.get("text", ""),
            event.detail.get("photo_id", ""),
        )
        for event in events
        if event.kind is EventKind.CHAT_MESSAGE and "seq" in event.detail
    ]
    return sorted((m for m in found if m.seq > after), key=lambda m: m.seq)


def reads(events: Iterable[SessionEvent]) -> dict[str, int]:
    """Participant id -> the highest message number they have read."""
    marks: dict[str, int] = {}
    for event in events:
        if event.kind is EventKind.CHAT_READ:
            seq = int(event.detail.get("seq", "0"))
            marks[event.actor_id] = max(marks.get(event.actor_id, 0), seq)
    return marks


def last_seq(events: Sequence[SessionEvent]) -> int:
    return max((m.seq for m in messages(events)), default=0)


def advances_read(marks: Mapping[str, int], participant_id: str, seq: int, newest: int) -> int | None:
    """The read mark to record, or None when it would not move forward (a read beyond the newest
    message counts as the newest)."""
    target = min(seq, newest)
    return target if target > marks.get(participant_id, 0) else None
