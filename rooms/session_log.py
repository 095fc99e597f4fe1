"""The append-only session log of a consult.

Every decision the domain takes emits one :class:`SessionEvent`; the log is what the clinical
record (``records/``) and metrics are later built from, so events carry who, what, when and from
which connection, but no clinical content outside the chat's own entries (``chat_message``),
which hold what people wrote to each other as plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from rooms.roles import Role


class EventKind(StrEnum):
    CREATED = "created"
    CHECKED_IN = "checked_in"
    ADMITTED = "admitted"
    INVITED = "invited"
    JOINED = "joined"
    LEFT = "left"
    ENDED = "ended"
    DROPPED = "dropped"
    RETURNED = "returned"
    MEDIA_QUALITY = "media_quality"
    """A window of a participant's 2-s quality samples (``rooms/quality_log.py``)."""
    DENIED = "denied"
    REINVITED = "reinvited"
    SENT_BACK = "sent_back"
    READMITTED = "readmitted"
    LOCKED = "locked"
    UNLOCKED = "unlocked"
    MUTE_REQUESTED = "mute_requested"
    INVITE_REVOKED = "invite_revoked"
    QUEUE_CLOSED = "queue_closed"
    """The service closed before a nurse took the waiting patient (services/scheduling.py's sweep)."""
    REFUSED = "refused"
    """Someone tried an action on this consult that their role, unit or relation to it does not
    allow; nothing changed. ``detail`` names the action (event or route) and the error code."""
    MEDIA_MOVED = "media_moved"
    """The consult's media node died and its media moved to another node (``detail``: ``from``
    and ``to`` node ids, the placement ``epoch``); the pages restarted their media there."""
    CHAT_MESSAGE = "chat_message"
    """A chat message (``rooms/chat.py``): ``detail`` holds its ``seq``, ``text`` and sender's
    ``name``. The one entry kind that carries words people wrote; it is stored as text and goes into
    the record only when the host keeps the transcript."""
    CHAT_READ = "chat_read"
    """A participant has read the chat up to ``detail["seq"]``."""
    CALL_SUMMARY = "call_summary"
    """The call's quality when the consult ended, computed from its ``media_quality`` windows
    (``rooms/call_summary.py``); appended once, after ``ended``."""


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One entry of a consult's session log.

    ``at`` is timezone-aware UTC. ``detail`` holds small non-clinical facts (e.g. the reason a
    consult ended); it is frozen so a logged event cannot be changed after the fact.
    """

    consult_id: str
    kind: EventKind
    at: datetime
    actor_id: str
    actor_role: Role | None
    connection_id: str | None = None
    detail: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("session events need timezone-aware times")
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))

    def to_json(self) -> dict[str, object]:
        return {
            "consult_id": self.consult_id,
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "actor_id": self.actor_id,
            "actor_role": self.actor_role.value if self.actor_role else None,
            "connection_id": self.connection_id,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> SessionEvent:
        role = data.get("actor_role")
        detail = data.get("detail") or {}
        if not isinstance(detail, Mapping):
            raise ValueError("detail must be an object")
        connection = data.get("connection_id")
        return cls(
            consult_id=str(data["consult_id"]),
            kind=EventKind(str(data["kind"])),
            at=datetime.fromisoformat(str(data["at"])),
            actor_id=str(data["actor_id"]),
            actor_role=Role(str(role)) if role else None,
            connection_id=str(connection) if connection else None,
            detail={str(k): str(v) for k, v in detail.items()},
        )
